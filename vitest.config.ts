import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    restoreMocks: true,
    // One temporary folder per test run, checked empty at its end (test/support/temp-leftovers.ts).
    globalSetup: ['test/support/temp-leftovers.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Fast tests first; the integration project runs after, with its own worker limit.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          // The run folder of library calls made in the test's own process (run-folder-cleanup.ts).
          setupFiles: ['test/support/run-folder-cleanup.ts'],
          sequence: { groupOrder: 1 },
          // Each file starts its own MariaDB server; two at a time fits a 2-core CI machine.
          maxWorkers: 2,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
