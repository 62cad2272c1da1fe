#!/usr/bin/env node
// `npm run bench`: the bench suites (bench/*.bench.ts) in Node (Dawn) and then in headless
// Chromium, both through bench/run.ts. Prints both tables, or with --json one JSON document
// { node: BenchReport, browser: BenchReport } on stdout (progress on stderr).
//   npm run bench -- [--quick] [--json] [--filter s] [--suite a,b] [--node-only | --browser-only]
//   npm run bench -- --vs-torch [--width 0.125 --batch 32 --prototypes 3000 …]   (the step beside PyTorch, Node only: bench/vs-torch.ts)
// For JSON in a file use `npm run --silent bench -- --json > bench.json` (npm prints a banner).
import { spawn } from 'node:child_process';

const argv = process.argv.slice(2).filter((a) => a !== '--');
const json = argv.includes('--json');
const vsTorch = argv.includes('--vs-torch');
const nodeOnly = argv.includes('--node-only') || vsTorch;
const browserOnly = argv.includes('--browser-only');
if (nodeOnly && browserOnly) {
  console.error(`error: ${vsTorch ? '--vs-torch runs in Node only and' : '--node-only and'} --browser-only exclude each other`);
  process.exit(2);
}
const passThrough = argv.filter((a) => !['--json', '--node-only', '--browser-only'].includes(a));

/** Runs bench/run.ts; with --json resolves with its parsed stdout, else streams its table. */
function harness(extra) {
  const args = ['vite-node', 'bench/run.ts', '--', ...passThrough, ...extra, ...(json ? ['--json'] : [])];
  return new Promise((resolve) => {
    const child = spawn('npx', args, { stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.on('close', (code) => {
      let report = null;
      if (json) {
        try {
          report = JSON.parse(out);
        } catch {
          process.stderr.write(`[bench] ${extra.includes('--browser') ? 'browser' : 'node'} harness printed no JSON:\n${out}\n`);
        }
      }
      resolve({ code: code ?? 1, report });
    });
  });
}

const runs = [];
if (!browserOnly) {
  if (!json) console.log('=== Node');
  runs.push(['node', await harness([])]);
}
if (!nodeOnly) {
  if (!json) console.log('\n=== Chromium (headless)');
  runs.push(['browser', await harness(['--browser'])]);
}

if (json && vsTorch) process.stdout.write(JSON.stringify(runs[0][1].report, null, 2) + '\n');
else if (json) process.stdout.write(JSON.stringify(Object.fromEntries(runs.map(([k, r]) => [k, r.report])), null, 2) + '\n');
process.exit(runs.some(([, r]) => r.code !== 0) ? 1 : 0);
