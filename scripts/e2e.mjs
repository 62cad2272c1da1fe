#!/usr/bin/env node
// `npm run test:e2e`: the browser end-to-end tests. vitest.e2e.config.ts's global setup
// (e2e/global-setup.ts) builds the app with `vite build` into .cache/e2e-dist/ and serves it
// with `vite preview` on a free localhost port; the tests in e2e/*.e2e.ts drive headless
// Chromium against it; the server stops when they end. Extra arguments go to vitest.
import { spawn } from 'node:child_process';

const child = spawn('npx', ['vitest', 'run', '-c', 'vitest.e2e.config.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
