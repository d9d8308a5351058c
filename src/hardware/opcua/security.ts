import { MessageSecurityMode, SecurityPolicy, type UserIdentityInfo, UserTokenType } from 'node-opcua';
import { HardwareConfigurationError } from '../errors.ts';

/** How messages on the secure channel are protected. */
export type OpcUaSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';
/** The OPC UA message security modes. */
export const OPCUA_SECURITY_MODES: readonly OpcUaSecurityMode[] = ['None', 'Sign', 'SignAndEncrypt'];

/** An OPC UA security policy. */
export type OpcUaSecurityPolicy =
  | 'None'
  | 'Basic256Sha256'
  | 'Aes128_Sha256_RsaOaep'
  | 'Aes256_Sha256_RsaPss';
/** The OPC UA security policies engine-link offers. */
export const OPCUA_SECURITY_POLICIES: readonly OpcUaSecurityPolicy[] = [
  'None',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
];

/** Who the session signs in as. */
export type OpcUaIdentity = { type: 'anonymous' } | { type: 'userName'; userName: string; password: string };

/** How an OPC UA connection is secured: mode, policy, identity and the PKI directory. */
export interface OpcUaSecurityOptions {
  /** Default 'None'. Sign and SignAndEncrypt use the client's application certificate (see `pkiDir`). */
  mode?: OpcUaSecurityMode;
  /** Default: 'None' with mode None, 'Basic256Sha256' otherwise. */
  policy?: OpcUaSecurityPolicy;
  /** Default anonymous. */
  identity?: OpcUaIdentity;
}

export interface ResolvedSecurity {
  securityMode: MessageSecurityMode;
  securityPolicy: SecurityPolicy;
  identity: UserIdentityInfo;
  /** For messages: `SignAndEncrypt/Basic256Sha256 as user alice`. */
  summary: string;
}

/** Checks the security options and turns them into node-opcua's; a bad combination is a configuration error. */
export function resolveSecurity(options: OpcUaSecurityOptions = {}): ResolvedSecurity {
  const mode = options.mode ?? 'None';
  if (!OPCUA_SECURITY_MODES.includes(mode))
    throw new HardwareConfigurationError(
      `OPC UA security mode '${mode}' is not one of ${OPCUA_SECURITY_MODES.join(', ')}`,
    );
  const policy = options.policy ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
  if (!OPCUA_SECURITY_POLICIES.includes(policy))
    throw new HardwareConfigurationError(
      `OPC UA security policy '${policy}' is not one of ${OPCUA_SECURITY_POLICIES.join(', ')}`,
    );
  if ((mode === 'None') !== (policy === 'None'))
    throw new HardwareConfigurationError(
      `OPC UA security mode ${mode} cannot go with policy ${policy}: None goes with None only`,
    );
  const identity = options.identity ?? { type: 'anonymous' };
  return {
    securityMode: MessageSecurityMode[mode],
    securityPolicy: SecurityPolicy[policy],
    identity: userIdentity(identity),
    summary: `${mode}/${policy} as ${identity.type === 'userName' ? `user ${identity.userName}` : 'anonymous'}`,
  };
}

function userIdentity(identity: OpcUaIdentity): UserIdentityInfo {
  if (identity.type === 'anonymous') return { type: UserTokenType.Anonymous };
  if (identity.type === 'userName') {
    if (!identity.userName)
      throw new HardwareConfigurationError('OPC UA user name sign-in needs a user name');
    return { type: UserTokenType.UserName, userName: identity.userName, password: identity.password };
  }
  throw new HardwareConfigurationError(`OPC UA identity '${(identity as { type: string }).type}' is unknown`);
}
