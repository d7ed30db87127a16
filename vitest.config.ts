import {defineConfig} from 'vitest/config'

// Two projects: unit tests of pure logic (fast, no Docker) and the end-to-end suite against a real
// engine, real etcd, HAProxy and dnsmasq. The e2e files share one Docker engine and one set of
// highway containers, so they run one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          fileParallelism: false,
          // Fails the run when the suite leaves a container, volume or network behind.
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
