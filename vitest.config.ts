import { defineConfig } from 'vitest/config';

// Three projects: `npm test` runs unit + integration (Node and npm only);
// `npm run test:interop` runs suites that need Debian packages (apache2, litmus,
// rclone, redis-server, davfs2) and skip with a printed reason when one is missing.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'interop',
          include: ['test/interop/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
