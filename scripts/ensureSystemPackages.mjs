#!/usr/bin/env node
// Run before `npm test` (the `pretest` script): makes sure the Debian packages the tests use are here.
//   chromium  - the dashboard's end-to-end tests drive a real headless Chromium (playwright-core)
//   iproute2  - the network fault tests shape traffic with `ip` and `tc`
//   nftables  - the network fault tests drop a share of packets with `nft` (random loss)
//   postgresql - the store tests run on PostgreSQL too: a throwaway cluster (initdb, pg_ctl) per test run
// Missing ones are installed with apt-get when running as root (as CI does on a fresh machine);
// otherwise this fails with the command to run. CHROMIUM_PATH points the tests at another Chromium.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const searchPath = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command) {
  return searchPath.some((dir) => dir && executable(join(dir, command)));
}

/** Debian's PostgreSQL server programs (/usr/lib/postgresql/N/bin), or PG_BIN's. */
function postgresServer() {
  if (process.env.PG_BIN) return executable(join(process.env.PG_BIN, 'initdb'));
  const root = '/usr/lib/postgresql';
  return (
    existsSync(root) && readdirSync(root).some((version) => executable(join(root, version, 'bin', 'initdb')))
  );
}

const packages = [
  { name: 'chromium', present: () => executable(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium') },
  { name: 'iproute2', present: () => onPath('ip') && onPath('tc') },
  { name: 'nftables', present: () => onPath('nft') },
  { name: 'postgresql', present: postgresServer },
];

const missing = packages.filter((p) => !p.present()).map((p) => p.name);
if (missing.length === 0) process.exit(0);

const install = `apt-get update && apt-get install -y ${missing.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || !onPath('apt-get')) {
  console.error(
    `npm test needs the Debian package${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}, which ${
      missing.length > 1 ? 'are' : 'is'
    } not installed.\n` +
      `Install ${missing.length > 1 ? 'them' : 'it'} with:  sudo sh -c '${install}'\n` +
      (onPath('apt-get')
        ? ''
        : '(no apt-get here: install them with your package manager; CHROMIUM_PATH may point at a Chromium)\n'),
  );
  process.exit(1);
}

console.log(`Installing ${missing.join(', ')} for the tests: ${install}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update'], ['install', '-y', ...missing]]) {
  const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (result.status !== 0) {
    console.error(
      `apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal}); the tests cannot run.`,
    );
    process.exit(1);
  }
}
const stillMissing = packages.filter((p) => !p.present()).map((p) => p.name);
if (stillMissing.length > 0) {
  console.error(`${stillMissing.join(', ')} still missing after apt-get install; the tests cannot run.`);
  process.exit(1);
}
