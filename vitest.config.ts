import { defineConfig } from 'vitest/config';
import { ScanLastSequencer } from './test/e2e/sequencer.ts';

export default defineConfig({
  test: {
    reporters: ['default'],
    // The suite-wide secret scan (test/e2e/suite-secret-scan.test.ts) runs after the other e2e files.
    sequence: { sequencer: ScanLastSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          // Real Envoy and Jaeger processes: one file at a time on a 2-core machine.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
