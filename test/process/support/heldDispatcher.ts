// A program whose only work is a ResilientDispatcher towards an aggregator that is not there (argv[2]):
// it prints each retry as a JSON line and closes the dispatcher on SIGUSR2. An open dispatcher must hold
// the process (nothing else does: signal handlers and the standard streams do not); close() must let it end.
import { ResilientDispatcher } from '../../../src/engine/resilientDispatcher.ts';
import { WebSocketConnector } from '../../../src/transport/webSocketTransport.ts';

const dispatcher = new ResilientDispatcher({
  engineId: 'held',
  connector: new WebSocketConnector(process.argv[2]!),
  retry: { initialMs: 50, maxMs: 100 },
});
dispatcher.send({ kind: 'sample', tag: 'T', value: 1 });
dispatcher.on('retry', ({ attempt }) => process.stdout.write(`${JSON.stringify({ retry: attempt })}\n`));
process.once('SIGUSR2', () => {
  void dispatcher.close().then(() => process.stdout.write(`${JSON.stringify({ closed: true })}\n`));
});
