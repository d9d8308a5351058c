import { processAlive } from '../engine/outbox/durable/outboxLock.ts';
import { failure, LAB_PREFIX, run, type ShapeOptions, tbfArgs, tryRun } from './netnsCommands.ts';

export type { LabFeature, ShapeOptions } from './netnsCommands.ts';
export { netnsUnavailableReason } from './netnsCommands.ts';

/**
 * A small network of Linux network namespaces for fault tests on real sockets: the aggregator in one
 * namespace, each engine in its own, each engine joined to the aggregator by its own veth pair, and a
 * management veth from the caller's namespace to the aggregator's (so tests can reach its HTTP API).
 *
 * Faults are the kernel's, per engine link: `linkDown`/`linkUp` (both ends of the veth), `blackhole`
 * (blackhole routes on both sides: packets vanish, no FIN, no RST, so open connections go half-open and
 * new ones hang), `shape` (tbf: a slow link whose queue adds delay), `loss` (nftables: a random share of
 * packets dropped each way, which TCP retransmits). This kernel has no netem, so there is no fixed
 * delay, reordering or corruption here: the userland `FaultProxy` does those.
 *
 * Needs root and iproute2 (`ip`, `tc`), and nftables (`nft`) for `loss`. Traffic stays inside the
 * namespaces created here (private addresses, no default route); everything is removed by `destroy()`,
 * at process exit, and, for labs of processes that died, by the next lab created.
 */

export interface EngineHost {
  index: number;
  namespace: string;
  /** The engine's address on its link. */
  address: string;
  /** The aggregator's address on this engine's link (what the engine connects to). */
  aggregatorAddress: string;
  /** The veth ends: in the engine's namespace and in the aggregator's. */
  engineInterface: string;
  aggregatorInterface: string;
}

const live = new Set<NetnsLab>();
let exitHookInstalled = false;
let labCount = 0;

/** Kills whatever still runs in a namespace, then deletes it (its veth ends, and so their peers, go with it). */
function removeNamespace(ns: string): void {
  try {
    for (const pid of run('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean))
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
  } catch {
    // No such namespace.
  }
  tryRun('ip', ['netns', 'del', ns]);
}

/** Removes the namespaces of labs whose process is gone (a test run killed before it could clean up). */
function removeStaleLabs(): void {
  let names: string[];
  try {
    names = run('ip', ['netns', 'list'])
      .split('\n')
      .map((line) => line.split(' ')[0]!)
      .filter((name) => name.startsWith(`${LAB_PREFIX}-`));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.split('-')[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) removeNamespace(name);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of [...live]) lab.destroy();
  });
}

export class NetnsLab {
  readonly aggregatorNamespace: string;
  /** The aggregator's address on the management link, reachable from the caller's namespace. */
  readonly managementAddress: string;
  readonly engines: readonly EngineHost[];
  private readonly namespaces: string[] = [];
  private readonly managementInterface: string;
  private destroyed = false;

  private constructor(engineCount: number) {
    const n = ++labCount;
    const tag = (process.pid * 100 + (n % 100)).toString(36);
    this.aggregatorNamespace = `${LAB_PREFIX}-${process.pid}-${n}-agg`;
    this.managementInterface = `el${tag}m`;
    const block = (process.pid * 100 + n) % 16_384;
    this.managementAddress = freeManagementBlock(block);
    this.engines = Array.from({ length: engineCount }, (_, index) => ({
      index,
      namespace: `${LAB_PREFIX}-${process.pid}-${n}-e${index}`,
      address: `10.201.${index}.2`,
      aggregatorAddress: `10.201.${index}.1`,
      engineInterface: `el${tag}e${index}`,
      aggregatorInterface: `el${tag}a${index}`,
    }));
  }

  /** Builds the namespaces and links. Throws with the reason when this machine cannot. */
  static create(engineCount: number): NetnsLab {
    if (engineCount < 1 || engineCount > 250) throw new RangeError('a lab has 1 to 250 engines');
    removeStaleLabs();
    installExitHook();
    const lab = new NetnsLab(engineCount);
    live.add(lab);
    try {
      lab.build();
    } catch (error) {
      lab.destroy();
      throw new Error(`cannot build the network namespace lab: ${failure(error)}`);
    }
    return lab;
  }

  /** The command prefix that runs a program inside `namespace`. */
  exec(namespace: string): string[] {
    return ['ip', 'netns', 'exec', namespace];
  }

  engine(index: number): EngineHost {
    const host = this.engines[index];
    if (!host) throw new RangeError(`no engine ${index} in this lab`);
    return host;
  }

  /** Both ends of the engine's link go down (as if its cable were pulled). */
  linkDown(index: number): void {
    const host = this.engine(index);
    run('ip', ['-n', host.namespace, 'link', 'set', host.engineInterface, 'down']);
    run('ip', ['-n', this.aggregatorNamespace, 'link', 'set', host.aggregatorInterface, 'down']);
  }

  linkUp(index: number): void {
    const host = this.engine(index);
    run('ip', ['-n', this.aggregatorNamespace, 'link', 'set', host.aggregatorInterface, 'up']);
    run('ip', ['-n', host.namespace, 'link', 'set', host.engineInterface, 'up']);
  }

  /**
   * Packets between the engine and the aggregator vanish, each way (blackhole routes on both sides): no
   * FIN, no RST, no ICMP. Open connections are half-open; new ones hang in SYN.
   */
  blackhole(index: number): void {
    const host = this.engine(index);
    run('ip', ['-n', host.namespace, 'route', 'replace', 'blackhole', `${host.aggregatorAddress}/32`]);
    run('ip', ['-n', this.aggregatorNamespace, 'route', 'replace', 'blackhole', `${host.address}/32`]);
  }

  /** Removes the black hole: packets flow again, and connections that outlived it carry on. */
  unblackhole(index: number): void {
    const host = this.engine(index);
    tryRun('ip', ['-n', host.namespace, 'route', 'del', 'blackhole', `${host.aggregatorAddress}/32`]);
    tryRun('ip', ['-n', this.aggregatorNamespace, 'route', 'del', 'blackhole', `${host.address}/32`]);
  }

  /** A slow link each way (tbf): throughput capped, queueing delay up to `latencyMs`, drops past it. */
  shape(index: number, shape: ShapeOptions): void {
    const host = this.engine(index);
    const args = tbfArgs(shape);
    run('ip', [
      'netns',
      'exec',
      host.namespace,
      'tc',
      'qdisc',
      'replace',
      'dev',
      host.engineInterface,
      'root',
      ...args,
    ]);
    run('ip', [
      'netns',
      'exec',
      this.aggregatorNamespace,
      'tc',
      'qdisc',
      'replace',
      'dev',
      host.aggregatorInterface,
      'root',
      ...args,
    ]);
  }

  unshape(index: number): void {
    const host = this.engine(index);
    tryRun('ip', [
      'netns',
      'exec',
      host.namespace,
      'tc',
      'qdisc',
      'del',
      'dev',
      host.engineInterface,
      'root',
    ]);
    tryRun('ip', [
      'netns',
      'exec',
      this.aggregatorNamespace,
      'tc',
      'qdisc',
      'del',
      'dev',
      host.aggregatorInterface,
      'root',
    ]);
  }

  /** Drops `percent` % of the packets each way at random (nftables in the engine's namespace). */
  loss(index: number, percent: number): void {
    if (!(percent >= 0 && percent <= 100)) throw new RangeError('loss is a percentage');
    const host = this.engine(index);
    this.clearLoss(index);
    const nft = (command: string) => run('ip', ['netns', 'exec', host.namespace, 'nft', command]);
    nft('add table inet elabloss');
    for (const hook of ['input', 'output'])
      nft(`add chain inet elabloss ${hook} { type filter hook ${hook} priority 0; policy accept; }`);
    for (const hook of ['input', 'output'])
      nft(`add rule inet elabloss ${hook} numgen random mod 1000 < ${Math.round(percent * 10)} drop`);
  }

  clearLoss(index: number): void {
    const host = this.engine(index);
    tryRun('ip', ['netns', 'exec', host.namespace, 'nft', 'delete table inet elabloss']);
  }

  /** Every fault on the engine's link removed. */
  heal(index: number): void {
    this.unblackhole(index);
    this.unshape(index);
    this.clearLoss(index);
    this.linkUp(index);
  }

  /** Kills every process left in the lab's namespaces and removes them. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const ns of [...this.namespaces].reverse()) removeNamespace(ns);
    tryRun('ip', ['link', 'del', this.managementInterface]);
  }

  private build(): void {
    const agg = this.aggregatorNamespace;
    this.addNamespace(agg);
    // Management link: the caller's namespace ↔ the aggregator's.
    const mgmt = this.managementInterface;
    const [rootAddress] = managementPair(this.managementAddress);
    run('ip', ['link', 'add', mgmt, 'type', 'veth', 'peer', 'name', `${mgmt}x`, 'netns', agg]);
    run('ip', ['addr', 'add', `${rootAddress}/30`, 'dev', mgmt]);
    run('ip', ['link', 'set', mgmt, 'up']);
    run('ip', ['-n', agg, 'addr', 'add', `${this.managementAddress}/30`, 'dev', `${mgmt}x`]);
    run('ip', ['-n', agg, 'link', 'set', `${mgmt}x`, 'up']);
    for (const host of this.engines) {
      this.addNamespace(host.namespace);
      run('ip', [
        '-n',
        agg,
        'link',
        'add',
        host.aggregatorInterface,
        'type',
        'veth',
        'peer',
        'name',
        host.engineInterface,
        'netns',
        host.namespace,
      ]);
      run('ip', ['-n', agg, 'addr', 'add', `${host.aggregatorAddress}/30`, 'dev', host.aggregatorInterface]);
      run('ip', ['-n', host.namespace, 'addr', 'add', `${host.address}/30`, 'dev', host.engineInterface]);
      this.linkUp(host.index);
    }
  }

  private addNamespace(ns: string): void {
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

/** The caller's and the aggregator's addresses of a management /30 whose aggregator address is given. */
function managementPair(aggregatorAddress: string): [string, string] {
  const parts = aggregatorAddress.split('.').map(Number);
  return [`${parts[0]}.${parts[1]}.${parts[2]}.${parts[3]! - 1}`, aggregatorAddress];
}

/** A management /30 in 10.202.0.0/16 that no interface of the caller's namespace uses yet. */
function freeManagementBlock(start: number): string {
  let used = '';
  try {
    used = run('ip', ['-4', '-o', 'addr', 'show']);
  } catch {
    // Checked again when the address is added.
  }
  for (let i = 0; i < 16_384; i++) {
    const block = (start + i) % 16_384;
    const base = `10.202.${block >> 6}.${(block & 63) * 4}`;
    const parts = base.split('.').map(Number);
    const rootAddress = `${parts[0]}.${parts[1]}.${parts[2]}.${parts[3]! + 1}`;
    if (!used.includes(` ${rootAddress}/`)) return `${parts[0]}.${parts[1]}.${parts[2]}.${parts[3]! + 2}`;
  }
  throw new Error('no free management address block in 10.202.0.0/16');
}
