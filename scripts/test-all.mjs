#!/usr/bin/env node
// `npm test` (what CI's .ci/run runs): the static checks, the unit tests, the browser tests, then one closing line
// "N passed, N failed" over all of them, alone on its line (CI reads it). Exits non-zero if anything failed.
//   1. `npm run typecheck` (tsc --noEmit) and `npm run lint` (ESLint with the layer rule), side by side. Either failing
//      stops here: a type or layer error is cheaper to read than the test failures it would cause.
//   2. The unit tests (vitest, real WGSL on the Node adapter), then 3. the browser end-to-end tests (scripts/e2e.mjs,
//      headless Chromium); each is streamed as it runs for humans, and counted from vitest's JSON report (the json
//      reporter beside the default one), not from its coloured text.
// `--unit-only` skips the browser tests; arguments after `--` go to the unit run (`npm test -- --unit-only -- test/gemm.test.ts`).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { relative } from 'node:path';

const REPORT_DIR = '.cache/test-results';
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const seconds = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** Run a command; stream its output when `stream`, else keep it to print later. Resolves its exit code and output. */
function run(cmd, args, { stream }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let text = '';
    const take = (out) => (d) => {
      if (stream) out.write(d);
      text += d;
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    child.on('error', (err) => resolve({ code: 1, text: `${text}\ncould not start ${cmd}: ${err.message}\n` }));
    child.on('close', (code) => resolve({ code: code ?? 1, text }));
  });
}

/** The static checks side by side; each prints its output when it fails, one line when it passes. */
async function staticChecks() {
  const checks = [
    { label: 'typecheck', script: 'typecheck' },
    { label: 'lint', script: 'lint' },
  ];
  console.log(`\n=== static checks: ${checks.map((c) => `npm run ${c.script}`).join(', ')}`);
  const t0 = performance.now();
  const results = await Promise.all(checks.map(async (c) => ({ ...c, ...(await run('npm', ['run', '--silent', c.script], { stream: false })), time: seconds(t0) })));
  for (const r of results) {
    if (r.code === 0) console.log(`${r.label}: ok (${r.time})`);
    else console.log(`${r.text.trimEnd()}\n${r.label} FAILED (npm run ${r.script}, exit ${r.code}): the errors above.`);
  }
  return results;
}

/**
 * Pass/fail counts from a vitest JSON report, or why there are none. A test file that failed outside any test (an
 * import error, a failing hook) has no failed test to count, so it counts as one failure.
 */
function countsFromReport(path) {
  if (!existsSync(path)) return { problem: `no JSON report at ${path}: the runner stopped before reporting (see its output above)` };
  let report;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { problem: `the JSON report ${path} is not JSON (${err.message})` };
  }
  if (typeof report.numPassedTests !== 'number' || typeof report.numFailedTests !== 'number' || !Array.isArray(report.testResults)) {
    return { problem: `the JSON report ${path} lacks numPassedTests/numFailedTests/testResults (a vitest json reporter changed its format?)` };
  }
  const brokenFiles = report.testResults.filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'));
  return {
    passed: report.numPassedTests,
    failed: report.numFailedTests + brokenFiles.length,
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    brokenFiles: brokenFiles.map((f) => `${relative(process.cwd(), f.name)}: ${(f.message || 'failed outside any test').split('\n')[0]}`),
  };
}

/** One vitest run (unit or browser): streamed output, counts from its JSON report, the adapters the tests printed. */
async function vitestRun(label, cmd, args, reportName) {
  const reportPath = `${REPORT_DIR}/${reportName}.json`;
  rmSync(reportPath, { force: true });
  const fullArgs = [...args, '--reporter=default', '--reporter=json', `--outputFile.json=${reportPath}`];
  console.log(`\n=== ${label}: ${cmd} ${fullArgs.join(' ')}`);
  const t0 = performance.now();
  const { code, text } = await run(cmd, fullArgs, { stream: true });
  const counts = countsFromReport(reportPath);
  const adapters = [...new Set([...stripAnsi(text).matchAll(/\[gpu\] adapter: ([^\n]+)/g)].map((m) => m[1].trim()))];
  const notes = [];
  let { passed = 0, failed = 0 } = counts;
  if (counts.problem) {
    failed = 1;
    notes.push(counts.problem);
  } else if (code !== 0 && failed === 0) {
    // e.g. an unhandled error after the tests, which vitest reports and fails the run for.
    failed = 1;
    notes.push(`exit ${code} with no failed test: see the errors above`);
  } else if (code === 0 && failed > 0) {
    notes.push(`exit 0 although the report counts ${failed} failed`);
  }
  for (const f of counts.brokenFiles ?? []) notes.push(`failed outside any test: ${f}`);
  return { label, code, passed, failed, skipped: counts.skipped ?? 0, adapters, notes, time: seconds(t0) };
}

const dashDash = process.argv.indexOf('--', 2);
const ownArgs = dashDash < 0 ? process.argv.slice(2) : process.argv.slice(2, dashDash);
const unitArgs = dashDash < 0 ? [] : process.argv.slice(dashDash + 1);
const unknown = ownArgs.filter((a) => a !== '--unit-only');
if (unknown.length) {
  console.error(`test-all: unknown argument(s) ${unknown.join(' ')}; the only flag is --unit-only, and test files or vitest flags go after --`);
  process.exit(2);
}
mkdirSync(REPORT_DIR, { recursive: true });
const checks = await staticChecks();
const results = [];
if (checks.every((c) => c.code === 0)) {
  results.push(await vitestRun('unit tests (Node, WGSL on the Node adapter)', 'npx', ['vitest', 'run', ...unitArgs], 'unit'));
  if (!ownArgs.includes('--unit-only')) results.push(await vitestRun('browser tests (headless Chromium)', 'node', ['scripts/e2e.mjs'], 'e2e'));
} else {
  console.log('\nStopped before the tests: fix the static check(s) above first (each names its npm script).');
}

console.log('\n=== summary');
for (const c of checks) console.log(`${c.label}: ${c.code === 0 ? 'ok' : `FAILED (exit ${c.code})`} (${c.time})`);
let passed = 0;
let failed = checks.filter((c) => c.code !== 0).length;
for (const r of results) {
  passed += r.passed;
  failed += r.failed;
  const adapters = r.adapters.length ? ` — adapter: ${r.adapters.join('; ')}` : '';
  console.log(`${r.label}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (exit ${r.code}, ${r.time})${adapters}`);
  for (const n of r.notes) console.log(`  ${n}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && results.every((r) => r.code === 0) ? 0 : 1);
