import { execFileSync } from 'node:child_process';

/** Every namespace a lab makes is named `elab-<pid>-…`, so that labs of dead processes can be found. */
export const LAB_PREFIX = 'elab';

export interface ShapeOptions {
  /** Link rate each way, kbit/s. */
  rateKbit: number;
  /** Longest a packet may wait in the queue before it is dropped, ms. Default 1000. */
  latencyMs?: number;
  /** Bucket size, bytes. Default 4096. */
  burstBytes?: number;
}

/** Runs a command (iproute2, nftables) and returns its output; throws with its stderr when it fails. */
export function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryRun(command: string, args: string[]): boolean {
  try {
    run(command, args);
    return true;
  } catch {
    return false;
  }
}

export function failure(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(error)).trim();
}

/** The commands the lab's features need, by feature. */
export type LabFeature = 'namespaces' | 'shape' | 'loss';

/**
 * Why the lab cannot run here (undefined: it can). Checks by doing: root, iproute2, creating a namespace
 * and a veth pair, a tbf qdisc (`shape`), nftables with random drops (`loss`).
 */
export function netnsUnavailableReason(features: readonly LabFeature[] = ['namespaces']): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root)';
  for (const tool of ['ip', ...(features.includes('shape') ? ['tc'] : [])])
    if (!tryRun(tool, ['-V'])) return `\`${tool}\` (iproute2) is not installed: apt-get install iproute2`;
  if (features.includes('loss') && !tryRun('nft', ['--version']))
    return '`nft` is not installed: apt-get install nftables';
  const ns = `${LAB_PREFIX}-${process.pid}-probe`;
  const a = `elp${process.pid.toString(36)}a`;
  try {
    run('ip', ['netns', 'add', ns]);
  } catch (error) {
    return `cannot create a network namespace: ${failure(error)}`;
  }
  try {
    run('ip', ['-n', ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', `${a}b`]);
    if (features.includes('shape'))
      run('ip', [
        'netns',
        'exec',
        ns,
        'tc',
        'qdisc',
        'add',
        'dev',
        a,
        'root',
        ...tbfArgs({ rateKbit: 1000 }),
      ]);
    if (features.includes('loss')) {
      run('ip', ['netns', 'exec', ns, 'nft', 'add', 'table', 'inet', 'probe']);
      run('ip', [
        'netns',
        'exec',
        ns,
        'nft',
        'add chain inet probe out { type filter hook output priority 0; policy accept; }',
      ]);
      run('ip', ['netns', 'exec', ns, 'nft', 'add rule inet probe out numgen random mod 100 < 1 drop']);
    }
    return undefined;
  } catch (error) {
    return `the kernel or tools refused a step the lab needs: ${failure(error)}`;
  } finally {
    tryRun('ip', ['netns', 'del', ns]);
  }
}

export function tbfArgs(shape: ShapeOptions): string[] {
  return [
    'tbf',
    'rate',
    `${shape.rateKbit}kbit`,
    'burst',
    String(shape.burstBytes ?? 4096),
    'latency',
    `${shape.latencyMs ?? 1000}ms`,
  ];
}
