import { defineConfig } from 'vitest/config';

// Unit tests run real WGSL on a real adapter in Node (Dawn over lavapipe or SwiftShader on
// CPU-only machines). Emulated GPUs are slow and single-device, so test files run one at a
// time and get generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
