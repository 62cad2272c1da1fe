#!/usr/bin/env node
// `npm run bench`: the bench suites (bench/*.bench.ts) in Node (Dawn) and then in headless
// Chromium, both through bench/run.ts. Prints both tables, or with --json one JSON document
// { node: BenchReport, browser: BenchReport } on stdout (progress on stderr).
//   npm run bench -- [--quick] [--json] [--filter s] [--suite a,b] [--node-only | --browser-only]
//   npm run bench -- --swiftshader [--quick --suite train-step]   (Node on Chromium's SwiftShader Vulkan driver, then the page on the same
//                                                   SwiftShader: both tables and the page/Node speed ratio per case)
//   npm run bench -- --vs-torch [--width 0.125 --batch 32 --prototypes 3000 …]   (the step beside PyTorch, Node only: bench/vs-torch.ts)
// For JSON in a file use `npm run --silent bench -- --json > bench.json` (npm prints a banner).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const argv = process.argv.slice(2).filter((a) => a !== '--');
const json = argv.includes('--json');
const vsTorch = argv.includes('--vs-torch');
const nodeOnly = argv.includes('--node-only') || vsTorch;
const browserOnly = argv.includes('--browser-only');
if (nodeOnly && browserOnly) {
  console.error(`error: ${vsTorch ? '--vs-torch runs in Node only and' : '--node-only and'} --browser-only exclude each other`);
  process.exit(2);
}
// Issue 15 item 6: the page's overhead over Node on the same adapter. Chromium renders WebGPU on its bundled SwiftShader
// here; Node's Dawn is pointed at that same Vulkan driver through VK_ICD_FILENAMES (src/gpu/node.ts honours it).
const swiftshader = argv.includes('--swiftshader');
const SWIFTSHADER_ICD = process.env.SWIFTSHADER_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json';
if (swiftshader && (nodeOnly || browserOnly)) {
  console.error('error: --swiftshader runs both Node and the page; drop --node-only / --browser-only / --vs-torch');
  process.exit(2);
}
if (swiftshader && !existsSync(SWIFTSHADER_ICD)) {
  console.error(`error: --swiftshader: no ${SWIFTSHADER_ICD} (Chromium's SwiftShader Vulkan ICD); install Debian's chromium or set SWIFTSHADER_ICD to its vk_swiftshader_icd.json`);
  process.exit(2);
}
const passThrough = argv.filter((a) => !['--json', '--node-only', '--browser-only', '--swiftshader'].includes(a));

/** Runs bench/run.ts; with --json resolves with its parsed stdout, else streams its table. */
function harness(extra, env = process.env) {
  const wantJson = json || swiftshader;
  const args = ['vite-node', 'bench/run.ts', '--', ...passThrough, ...extra, ...(wantJson ? ['--json'] : [])];
  return new Promise((resolve) => {
    const child = spawn('npx', args, { stdio: ['ignore', wantJson ? 'pipe' : 'inherit', 'inherit'], env });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.on('close', (code) => {
      let report = null;
      if (wantJson) {
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
  runs.push(['node', await harness([], swiftshader ? { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD } : process.env)]);
}
if (!nodeOnly) {
  if (!json) console.log('\n=== Chromium (headless)');
  runs.push(['browser', await harness(['--browser'])]);
}

/** Per case measured on both sides: the page's speed as a fraction of Node's (Node ms / page ms; 1 = no overhead). */
function pageVsNode(node, browser) {
  const page = new Map(browser.results.map((r) => [`${r.suite} ${r.name}`, r]));
  return node.results.filter((r) => page.has(`${r.suite} ${r.name}`)).map((r) => {
    const p = page.get(`${r.suite} ${r.name}`);
    return { case: `${r.suite} ${r.name}`, node_ms: r.ms, page_ms: p.ms, page_over_node_speed: r.ms / p.ms };
  });
}

if (swiftshader) {
  const [node, browser] = runs.map(([, r]) => r.report);
  if (!node || !browser) process.exit(1);
  const ratios = pageVsNode(node, browser);
  const summary = { node_adapter: node.adapter, node_driver: node.driver, page_adapter: browser.adapter, ratios };
  if (json) process.stdout.write(JSON.stringify({ node, browser, page_vs_node: summary }, null, 2) + '\n');
  else {
    console.log(`Node: ${node.adapter} via ${node.driver}\nPage: ${browser.adapter}`);
    for (const r of ratios) console.log(`${r.case}: Node ${r.node_ms.toFixed(1)} ms, page ${r.page_ms.toFixed(1)} ms, page speed / Node speed ${r.page_over_node_speed.toFixed(2)}`);
  }
} else if (json && vsTorch) process.stdout.write(JSON.stringify(runs[0][1].report, null, 2) + '\n');
else if (json) process.stdout.write(JSON.stringify(Object.fromEntries(runs.map(([k, r]) => [k, r.report])), null, 2) + '\n');
process.exit(runs.some(([, r]) => r.code !== 0) ? 1 : 0);
