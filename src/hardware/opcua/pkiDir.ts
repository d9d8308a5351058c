import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where a certificate store lives when none is given: `$XDG_CONFIG_HOME/engine-link/opcua/<side>`
 * (`~/.config/...` without it). The client and the simulated server each get their own, as node-opcua
 * asks (two stores in one folder would share one private key).
 */
export function defaultPkiDir(side: 'client' | 'sim'): string {
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'engine-link', 'opcua', side);
}
