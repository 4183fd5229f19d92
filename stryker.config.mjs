// Mutation testing of the security paths: `npm run mutate` (not part of `npm test`).
// One folder: `npm run mutate -- --mutate 'src/identity/**/*.ts'`. Reports: reports/mutation/.
// Unit tests only (vitest.mutate.config.ts). Concurrency 2: the test machine has 2 cores.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  // src/apis holds the LLM request parsers (each provider API's profile and body readers).
  mutate: ['src/identity/**/*.ts', 'src/llm/**/*.ts', 'src/apis/**/*.ts', 'src/policy/**/*.ts', 'src/envoy/**/*.ts'],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level code, 14% of them) each re-run every related test file: with
  // them a run took over 5 hours on 2 shared cores. Ignored here, reported as "ignored";
  // `npm run mutate -- --ignoreStatic false` includes them.
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  // The sandbox is a copy of the repository: leave out the tools, build output and results.
  ignorePatterns: ['.tools', 'dist', 'test-results', 'reports', 'bench/results', 'bench/plots', '.stryker-tmp*'],
};
