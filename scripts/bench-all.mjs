#!/usr/bin/env node
// `npm run bench`: the bench suites (bench/*.bench.ts) in Node (Dawn) and then in headless
// Chromium, both through bench/run.ts. Prints both tables, or with --json one JSON document
// { node: BenchReport, browser: BenchReport } on stdout (progress on stderr).
//   npm run bench -- [--quick] [--json] [--filter s] [--suite a,b] [--node-only | --browser-only]
//   npm run bench -- --swiftshader [--quick --suite train-step]   (Node on Chromium's SwiftShader Vulkan driver, then the page on the same
//                                                   SwiftShader: both tables and the page/Node speed ratio per case)
//   npm run bench -- --swiftshader --repeat 3 …     (that pair 3 times, Node then page each time, with the 1-minute load average
//                                                   before each side; prints every pair and the medians: a shared machine is noisy)
//   npm run bench -- --vs-torch [--width 0.125 --batch 32 --prototypes 3000 …]   (the step beside PyTorch, Node only: bench/vs-torch.ts)
// For JSON in a file use `npm run --silent bench -- --json > bench.json` (npm prints a banner).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

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
// --repeat N (with --swiftshader): N alternating Node/page pairs and their medians.
const repeatAt = argv.indexOf('--repeat');
const repeat = repeatAt < 0 ? 1 : Number(argv[repeatAt + 1]);
if (repeatAt >= 0 && (!swiftshader || !Number.isInteger(repeat) || repeat < 1)) {
  console.error(`error: --repeat needs a whole number of pairs ≥ 1 and goes with --swiftshader (got ${argv[repeatAt + 1] ?? 'nothing'}${swiftshader ? '' : ' without --swiftshader'})`);
  process.exit(2);
}
const passThrough = argv.filter((a, i) => !['--json', '--node-only', '--browser-only', '--swiftshader', '--repeat'].includes(a) && !(repeatAt >= 0 && i === repeatAt + 1));

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

/** The 1-minute load average: the machine's other work, which the timings share the cores with. */
function load1() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Per case measured on both sides: the page's speed as a fraction of Node's (Node ms / page ms; 1 = no overhead). */
function pageVsNode(node, browser) {
  const page = new Map(browser.results.map((r) => [`${r.suite} ${r.name}`, r]));
  return node.results.filter((r) => page.has(`${r.suite} ${r.name}`)).map((r) => {
    const p = page.get(`${r.suite} ${r.name}`);
    return { case: `${r.suite} ${r.name}`, node_ms: r.ms, page_ms: p.ms, page_over_node_speed: r.ms / p.ms };
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (swiftshader) {
  // Node on Chromium's SwiftShader, then the page on it, `repeat` times; one machine, one side at a time.
  const pairs = [];
  let failed = false;
  for (let i = 0; i < repeat; i++) {
    if (repeat > 1) process.stderr.write(`[bench] pair ${i + 1} of ${repeat}\n`);
    const nodeLoad = load1();
    const node = await harness([], { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD });
    const pageLoad = load1();
    const browser = await harness(['--browser']);
    failed ||= node.code !== 0 || browser.code !== 0;
    if (!node.report || !browser.report) process.exit(1);
    pairs.push({ node: node.report, browser: browser.report, node_load1: nodeLoad, page_load1: pageLoad, ratios: pageVsNode(node.report, browser.report) });
  }
  const [first] = pairs;
  const cases = first.ratios.map((r) => r.case);
  const medians = cases.map((c) => {
    const of = (k) => median(pairs.map((p) => p.ratios.find((r) => r.case === c)[k]));
    const best = (k) => Math.min(...pairs.map((p) => p.ratios.find((r) => r.case === c)[k]));
    // The best of each side is what the machine's other work disturbed least; their ratio, beside the median one.
    return { case: c, node_ms: of('node_ms'), page_ms: of('page_ms'), page_over_node_speed: of('page_over_node_speed'), best_node_ms: best('node_ms'), best_page_ms: best('page_ms'), best_page_over_node_speed: best('node_ms') / best('page_ms') };
  });
  // How Node waited for the GPU (src/gpu/node.ts): napping between dawn.node's polls, or its spin (MIRA_NODE_SPIN_WAIT=1).
  const nodeWait = process.env.MIRA_NODE_SPIN_WAIT === '1' ? 'spin (MIRA_NODE_SPIN_WAIT=1)' : 'nap between polls';
  const summary = { node_adapter: first.node.adapter, node_driver: first.node.driver, node_wait: nodeWait, page_adapter: first.browser.adapter, ratios: medians, pairs: pairs.map(({ node_load1, page_load1, ratios }) => ({ node_load1, page_load1, ratios })) };
  if (json) process.stdout.write(JSON.stringify({ ...(repeat === 1 ? { node: first.node, browser: first.browser } : { runs: pairs.map(({ node, browser }) => ({ node, browser })) }), page_vs_node: summary }, null, 2) + '\n');
  else {
    console.log(`Node: ${first.node.adapter} via ${first.node.driver}, waiting for the GPU by ${nodeWait}\nPage: ${first.browser.adapter}\nBoth time the same suite code (bench/*.bench.ts) on the same driver; Node ms ÷ page ms = page speed / Node speed (1 = no browser overhead).`);
    for (const [i, p] of pairs.entries()) for (const r of p.ratios) console.log(`pair ${i + 1} ${r.case}: Node ${r.node_ms.toFixed(1)} ms (load ${p.node_load1}), page ${r.page_ms.toFixed(1)} ms (load ${p.page_load1}), page speed / Node speed ${r.page_over_node_speed.toFixed(2)}`);
    if (repeat > 1) {
      for (const r of medians) {
        console.log(`median of ${repeat} ${r.case}: Node ${r.node_ms.toFixed(1)} ms, page ${r.page_ms.toFixed(1)} ms, page speed / Node speed ${r.page_over_node_speed.toFixed(2)}`);
        console.log(`best of ${repeat} ${r.case}: Node ${r.best_node_ms.toFixed(1)} ms, page ${r.best_page_ms.toFixed(1)} ms, page speed / Node speed ${r.best_page_over_node_speed.toFixed(2)}`);
      }
    }
  }
  process.exit(failed ? 1 : 0);
}

const runs = [];
if (!browserOnly) {
  if (!json) console.log('=== Node');
  runs.push(['node', await harness([], process.env)]);
}
if (!nodeOnly) {
  if (!json) console.log('\n=== Chromium (headless)');
  runs.push(['browser', await harness(['--browser'])]);
}

if (json && vsTorch) process.stdout.write(JSON.stringify(runs[0][1].report, null, 2) + '\n');
else if (json) process.stdout.write(JSON.stringify(Object.fromEntries(runs.map(([k, r]) => [k, r.report])), null, 2) + '\n');
process.exit(runs.some(([, r]) => r.code !== 0) ? 1 : 0);
