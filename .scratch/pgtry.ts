import { PostgresCluster } from '../src/faults/postgresCluster.ts';

const t0 = Date.now();
const c = await PostgresCluster.create();
console.log('started', c.url(), Date.now() - t0, 'ms', c.pid());
await c.kill();
const t1 = Date.now();
await c.start();
console.log('restarted', Date.now() - t1, 'ms');
c.destroy();
console.log('destroyed');
