/**
 * Model-based test tooling: paths through a machine that take every transition, and the coverage
 * they achieve, computed from the machine's own transition definitions.
 *
 * A model test drives the real runtime along each path:
 *
 * ```ts
 * const paths = transitionCoveringPaths(engineLinkMachine, engineLinkModelEvents, { inherited: 'perState' });
 * test('the paths cover every transition', () => {
 *   expect(coverageOf(engineLinkMachine, paths, { inherited: 'perState' }).uncovered).toEqual([]);
 * });
 * for (const path of paths) {
 *   test(path.name, async () => {
 *     const runtime = await start();                  // in-memory transport, simulated clock
 *     expect(runtime.state()).toBe(path.initial);
 *     for (const step of path.steps) {
 *       await drive(runtime, step.event);              // make the runtime see the event
 *       expect(runtime.state()).toBe(step.expected);   // dotted, as machines/stateName.ts names it
 *     }
 *   });
 * }
 * ```
 */
export * from './coverage.ts';
export * from './events.ts';
export * from './modelSuite.ts';
export * from './negativeSteps.ts';
export * from './paths.ts';
export * from './runtimeRecorder.ts';
export * from './transitions.ts';
