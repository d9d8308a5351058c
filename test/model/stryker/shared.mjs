/**
 * What the two mutation passes (machines.config.mjs, runtimes.config.mjs) share. Run them with
 * `npm run mutation` (scripts/mutation.ts); results are summed up in test/model/MUTATION.md.
 *
 * - Each pass runs only its own test files: its vitest config (vitest.<pass>.config.ts) includes
 *   nothing else. (Not Stryker's `testFiles`: with it, Stryker 9.6 activates static mutants only once
 *   the modules are loaded, so a mutant in a machine definition is never seen.) Of those files only
 *   the ones that import the mutated file run (`vitest.related`), and of those only the tests that cover
 *   the mutant (`perTest`), except for static mutants, which reload and run them all.
 * - The HTML and JSON reports and the incremental files go to reports/mutation/ (not committed), named
 *   after the pass (`name`); `tests` names its vitest config.
 */
export function passConfig(name, tests = name) {
  return {
    testRunner: 'vitest',
    plugins: ['@stryker-mutator/vitest-runner'],
    vitest: { configFile: `test/model/stryker/vitest.${tests}.config.ts`, related: true },
    coverageAnalysis: 'perTest',
    concurrency: 2,
    timeoutMS: 10_000,
    incrementalFile: `reports/mutation/${name}.incremental.json`,
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
    reporters: ['clear-text', 'progress', 'html', 'json'],
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
    thresholds: { high: 95, low: 85, break: null },
  };
}
