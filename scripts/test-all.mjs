#!/usr/bin/env node
// `npm test`: the unit tests (vitest, real WGSL on the Node adapter) and then the browser
// end-to-end tests (headless Chromium), each streamed as it runs, then one closing line
// "N passed, N failed" over both. Exits non-zero if either fails.
import { spawn } from 'node:child_process';

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function run(label, cmd, args) {
  return new Promise((resolve) => {
    console.log(`\n=== ${label}: ${cmd} ${args.join(' ')}`);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let text = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      text += d;
    });
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      text += d;
    });
    child.on('close', (code) => {
      const plain = stripAnsi(text);
      // vitest's summary: "Tests  2 failed | 40 passed (42)"
      const line = plain.split('\n').reverse().find((l) => /^\s*Tests\s+/.test(l)) ?? '';
      const failed = Number(/(\d+) failed/.exec(line)?.[1] ?? 0);
      const passed = Number(/(\d+) passed/.exec(line)?.[1] ?? 0);
      const adapters = [...new Set([...plain.matchAll(/\[gpu\] adapter: ([^\n]+)/g)].map((m) => m[1].trim()))];
      resolve({ label, code: code ?? 1, passed, failed, adapters });
    });
  });
}

const onlyUnit = process.argv.includes('--unit-only');
const results = [await run('unit tests (Node, WGSL on the Node adapter)', 'npx', ['vitest', 'run'])];
if (!onlyUnit) results.push(await run('browser tests (headless Chromium)', 'node', ['scripts/e2e.mjs']));

console.log('\n=== summary');
let passed = 0;
let failed = 0;
for (const r of results) {
  passed += r.passed;
  // A runner that crashed without a summary counts as one failure.
  const f = r.failed || (r.code !== 0 && r.failed === 0 ? 1 : 0);
  failed += f;
  console.log(`${r.label}: ${r.passed} passed, ${f} failed (exit ${r.code})${r.adapters.length ? ` — adapter: ${r.adapters.join('; ')}` : ''}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
