import { type StatusCode, StatusCodes } from 'node-opcua';
import { HardwareConfigurationError, HardwareError } from '../errors.ts';

/**
 * What an OPC UA status code means for the hardware layer:
 *
 * - `good`: Good and Uncertain codes; the value is used.
 * - `configuration`: the setup is wrong (a node id the server does not know, a node that cannot be read
 *   or written, a type the node refuses, credentials or a certificate the server rejects). Trying again
 *   cannot help: `HardwareConfigurationError`, reported at once, never masked.
 * - `fault`: every other Bad code (the link, the session, the server or the device failing, timeouts):
 *   `OpcUaHardwareError`, a `HardwareError` that `HardwareRecovery` masks and recovers from.
 */
export type StatusCodeKind = 'good' | 'configuration' | 'fault';

const CONFIGURATION_CODES = new Set<string>([
  // Addressing: the node, attribute or range does not exist.
  'BadNodeIdUnknown',
  'BadNodeIdInvalid',
  'BadNodeClassInvalid',
  'BadAttributeIdInvalid',
  'BadIndexRangeInvalid',
  'BadIndexRangeNoData',
  'BadDataEncodingInvalid',
  'BadDataEncodingUnsupported',
  'BadDataTypeIdUnknown',
  // The node exists but refuses what is asked of it.
  'BadTypeMismatch',
  'BadOutOfRange',
  'BadNotReadable',
  'BadNotWritable',
  'BadWriteNotSupported',
  'BadNotSupported',
  'BadNotImplemented',
  'BadServiceUnsupported',
  'BadConfigurationError',
  // Who we are: credentials, security settings, certificates.
  'BadUserAccessDenied',
  'BadIdentityTokenInvalid',
  'BadIdentityTokenRejected',
  'BadUserSignatureInvalid',
  'BadSecurityPolicyRejected',
  'BadSecurityModeRejected',
  'BadSecurityChecksFailed',
  'BadApplicationSignatureInvalid',
  'BadNoValidCertificates',
  'BadTcpEndpointUrlInvalid',
  'BadRequestNotAllowed',
  'BadLicenseExpired',
]);

/**
 * Whether an OPC UA status code is good, a configuration error (never masked) or a fault (recovered from).
 */
export function classifyStatusCode(code: StatusCode): StatusCodeKind {
  if (!code.isBad()) return 'good';
  const name = code.name;
  if (CONFIGURATION_CODES.has(name) || name.startsWith('BadCertificate')) return 'configuration';
  return 'fault';
}

/** A fault of the OPC UA link, session, server or device; `statusCode` names the code when there was one. */
export class OpcUaHardwareError extends HardwareError {
  constructor(
    message: string,
    readonly statusCode?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The status code a node-opcua error carries: a service fault's result, or a code named in the message
 * (node-opcua rejects a refused session with an Error whose message is the code, such as
 * `BadUserAccessDenied (0x801f0000)`). Undefined for transport errors (refused, reset, timed out).
 */
export function statusCodeOf(error: unknown): StatusCode | undefined {
  const response = (error as { response?: { responseHeader?: { serviceResult?: StatusCode } } } | null)
    ?.response;
  const result = response?.responseHeader?.serviceResult;
  if (result && typeof result.isBad === 'function') return result;
  const message = error instanceof Error ? error.message : String(error);
  for (const match of message.matchAll(/\b(Bad[A-Za-z]+)\b/g)) {
    const code = (StatusCodes as unknown as Record<string, StatusCode | undefined>)[match[1]!];
    if (code && typeof code.isBad === 'function') return code;
  }
  return undefined;
}

/**
 * The layer's error for a failed OPC UA call: `HardwareConfigurationError` when the status code says the
 * setup is wrong, otherwise `OpcUaHardwareError` (a fault). Errors that are already one of them pass.
 */
export function toLayerError(
  error: unknown,
  what: string,
  registers: readonly string[] = [],
): HardwareError | HardwareConfigurationError {
  if (error instanceof HardwareError || error instanceof HardwareConfigurationError) return error;
  const code = statusCodeOf(error);
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (code && classifyStatusCode(code) === 'configuration')
    return new HardwareConfigurationError(`${what}: ${code.name} (${describe(code)})`, registers, code.name);
  return new OpcUaHardwareError(`${what}: ${reason}`, code?.name, { cause: error });
}

/** The layer's error for a Bad status code of one operation (a read or write of some registers). */
export function statusError(
  code: StatusCode,
  what: string,
  registers: readonly string[],
): HardwareError | HardwareConfigurationError {
  const message = `${what}: ${code.name} (${describe(code)})`;
  return classifyStatusCode(code) === 'configuration'
    ? new HardwareConfigurationError(message, registers, code.name)
    : new OpcUaHardwareError(message, code.name);
}

function describe(code: StatusCode): string {
  return code.description.replace(/\.$/, '');
}
