import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // No test may load the real electron package (its binary cannot be downloaded here).
    alias: { electron: resolve(import.meta.dirname, 'tests/electron-stub.ts') },
  },
  test: {
    include: ['tests/unit/**/*.test.ts', 'tests/property/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // two files at a time: many wait on child processes and the Slurm test cluster rather than
    // compute (measured on the 2-core CI machine: 234 s against 359 s one at a time)
    maxWorkers: 2,
    // the JSON report feeds scripts/test-summary.ts (skipped tests, counted at the end of npm test)
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
