import { defineConfig } from 'vitest/config';

// Browser end-to-end tests: e2e/global-setup.ts builds the app and serves it; each test file
// drives headless Chromium (e2e/chromium.ts) against it. One file at a time: the emulated GPU
// (SwiftShader) is CPU-bound.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    globalSetup: ['e2e/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
