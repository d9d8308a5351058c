/** Error codes carried by `error` frames and by `ProtocolError`. */
export const ErrorCode = {
  MalformedFrame: 'malformed-frame',
  InvalidMessage: 'invalid-message',
  /**
   * A frame whose checksum is missing or does not match its text: corrupted on the way (or not built by
   * the codec). Nothing of it was used; the link stays open and the sender sends it again.
   */
  BadChecksum: 'bad-checksum',
  UnknownType: 'unknown-type',
  FrameTooLarge: 'frame-too-large',
  /** A records frame holds more items than the aggregator accepts in one frame. */
  TooManyRecords: 'too-many-records',
  UnsupportedVersion: 'unsupported-version',
  Unauthorized: 'unauthorized',
  UnknownEngine: 'unknown-engine',
  EngineMismatch: 'engine-mismatch',
  NotReady: 'not-ready',
  SequenceGap: 'sequence-gap',
  Replaced: 'replaced',
  Busy: 'busy',
  Internal: 'internal-error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes used by the protocol (RFC 6455 section 7.4 and the private range). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  /** The peer stopped answering heartbeats (never sent on the wire, used locally). */
  HeartbeatTimeout: 4000,
  /** Another connection for the same engine took over. */
  Replaced: 4001,
} as const;

/** The close code that goes with an error the peer cannot recover from on the same connection. */
export function closeCodeFor(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.FrameTooLarge:
      return CloseCode.MessageTooBig;
    case ErrorCode.TooManyRecords:
    case ErrorCode.Unauthorized:
    case ErrorCode.UnknownEngine:
    case ErrorCode.EngineMismatch:
      return CloseCode.PolicyViolation;
    case ErrorCode.Busy:
      return CloseCode.TryAgainLater;
    case ErrorCode.Replaced:
      return CloseCode.Replaced;
    case ErrorCode.Internal:
      return CloseCode.InternalError;
    // One bad frame (malformed, invalid, unknown type, corrupted: bad-checksum): the link stays open and
    // the error frame is the answer; this code is only used by a peer that closes the link over it.
    default:
      return CloseCode.ProtocolError;
  }
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
