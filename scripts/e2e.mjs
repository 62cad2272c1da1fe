#!/usr/bin/env node
// `npm run test:e2e`: the browser end-to-end tests. vitest.e2e.config.ts's global setup
// (e2e/global-setup.ts) builds the app with `vite build` into .cache/e2e-dist/ and serves it
// with `vite preview` on a free localhost port; the tests in e2e/*.e2e.ts drive headless
// Chromium against it; the server stops when they end. Extra arguments go to vitest.
import { spawn } from 'node:child_process';

// scripts/test-all.mjs adds the json reporter here and counts the results from its report, so this script only has to
// pass vitest's exit status through faithfully: a vitest that could not start or was killed is a failure, never a pass.
const child = spawn('npx', ['vitest', 'run', '-c', 'vitest.e2e.config.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('error', (err) => {
  console.error(`e2e: could not start vitest through npx: ${err.message}`);
  process.exit(1);
});
child.on('close', (code, signal) => {
  if (signal) console.error(`e2e: vitest was stopped by ${signal}`);
  process.exit(code ?? 1);
});
