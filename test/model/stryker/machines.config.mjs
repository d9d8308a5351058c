import { passConfig } from './shared.mjs';

/**
 * Pass 1: every mutant of machines/ against the model tests (vitest.machines.config.ts). These mutants
 * are all static (a machine is built when its module loads), so each one reloads the model test files
 * that import its machine and runs all their tests: other test files would only make each mutant slower.
 */
export default { ...passConfig('machines'), mutate: ['machines/*.ts'] };
