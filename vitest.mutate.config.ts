/**
 * The unit tests alone, as Stryker's test runner (`npm run mutate`, stryker.config.mjs): the e2e
 * tests start Envoy and Jaeger and run the built dist/, which Stryker does not mutate. Left out
 * as well: the tests of the npm package and of the container image, which read dist/ and the
 * hadolint binary under .tools/, neither of which is in Stryker's copy of the repository. The quota
 * tests start redis-server: scripts/mutate.sh installs it and points REDIS_SERVER_BIN at it.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/package.test.ts', 'test/unit/dockerfile.test.ts'],
    // Instrumented code on 2 shared cores: the 1,000-reload test took over 20 s in a mutation run.
    testTimeout: 60_000,
  },
});
