// kill -9 during `train` at random moments, each kill followed by --resume (issue 16, item 5):
//   node scripts/kill-loop.mjs [--kills 20] [--steps 400] [--out DIR] [--seed 1]
// Runs the tiny configuration (bundled data, width 1/16, batch 8, K 8) with the default checkpoint
// interval (10 % of the steps) and --log-every 1, SIGKILLs the process group at a random moment —
// a quarter of the kills during start-up, the rest after a random number of steps (up to one and a
// half checkpoint intervals) plus a random fraction of a step — and restarts it with --resume whenever a checkpoint exists (from scratch otherwise). After
// the kills it lets the run finish and checks what a user relies on: every run after a kill
// started cleanly (exit 0 at the end), metrics.jsonl parses and holds every step once, in order,
// and summary.json says the run finished. Prints one JSON line of numbers. Not part of CI: it
// takes minutes (each restart compiles the kernels again).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const opts = { kills: 20, steps: 400, out: '', seed: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const name = argv[i]?.replace(/^--/, '');
  if (!(name in opts) || argv[i + 1] === undefined) {
    console.error(`usage: node scripts/kill-loop.mjs [--kills N] [--steps N] [--out DIR] [--seed N]; got ${argv[i]}`);
    process.exit(2);
  }
  opts[name] = name === 'out' ? argv[i + 1] : Number(argv[i + 1]);
}
const out = opts.out || mkdtempSync(join(tmpdir(), 'mira-kill-loop-'));
const model = join(out, 'model.safetensors');
const TINY = ['--dataset', 'bundled', '--width', '0.0625', '--batch', '8', '--prototypes', '8', '--proj-hidden', '16', '--proj-out', '8', '--knn-bank', '20', '--knn-queries', '20', '--log-every', '1', '--steps', String(opts.steps), '--json', '--out', out];

// A small seeded generator (mulberry32): the same --seed gives the same kill schedule.
let state = opts.seed >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const stepOf = (path) => {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const meta = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')).__metadata__;
  return JSON.parse(meta['mira.config']).step;
};

/** One run of the CLI; `killAfter(proc, onLine)` decides when to SIGKILL it (or never). */
function runOnce(kill) {
  const args = ['--script', 'cli/main.ts', '--', 'train', ...TINY, ...(existsSync(model) ? ['--resume', model] : [])];
  const child = spawn(join(ROOT, 'node_modules/.bin/vite-node'), args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  let killedAt = null;
  let timer = null;
  const doKill = () => {
    if (killedAt !== null || child.exitCode !== null) return;
    killedAt = Date.now() - started;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  if (kill?.mode === 'startup') timer = setTimeout(doKill, kill.delayMs);
  let logged = 0;
  let lastLineAt = 0;
  let gapMs = 0;
  child.stdout.on('data', (d) => {
    stdout += d;
    const now = Date.now();
    const n = (String(d).match(/"loss":/g) ?? []).length;
    if (!n) return;
    if (lastLineAt) gapMs = (now - lastLineAt) / n;
    lastLineAt = now;
    logged += n;
    // Past the chosen number of steps: kill at a random moment within the next step.
    if (kill?.mode === 'after-steps' && timer === null && logged > kill.steps) timer = setTimeout(doKill, Math.round(random() * gapMs));
  });
  child.stderr.on('data', (d) => void (stderr += d));
  return new Promise((res) => child.on('exit', (code, signal) => {
    clearTimeout(timer);
    res({ code, signal, killedAt, ms: Date.now() - started, stdout, stderr, resumed: args.includes('--resume') });
  }));
}

const t0 = Date.now();
const log = [];
let torn = 0;
let zeroMomentum = 0;
let fresh = 0;
let resumes = 0;
let finishedEarly = 0;
let failures = 0;
const interval = Math.max(1, Math.round(opts.steps * 0.1)); // the default --checkpoint-every
for (let k = 0; k < opts.kills; k++) {
  const before = existsSync(model) ? stepOf(model) : null;
  const kill = random() < 0.25 ? { mode: 'startup', delayMs: Math.round(random() * 8_000) } : { mode: 'after-steps', steps: Math.floor(random() * 1.5 * interval) };
  const r = await runOnce(kill);
  if (r.resumed) resumes++;
  else fresh++;
  if (/dropped its last line, torn/.test(r.stderr)) torn++;
  if (/resuming with zero optimizer momentum/.test(r.stderr)) zeroMomentum++;
  if (r.killedAt === null) {
    if (r.code === 0) finishedEarly++;
    else {
      failures++;
      console.error(`[kill-loop] run ${k + 1} exited ${r.code ?? r.signal} without being killed:\n${r.stderr.slice(-2000)}`);
    }
  }
  const after = existsSync(model) ? stepOf(model) : null;
  log.push({ kill: k + 1, ...kill, killed_at_ms: r.killedAt, from_step: before, checkpoint_step: after });
  console.error(`[kill-loop] ${k + 1}/${opts.kills}: ${kill.mode === 'startup' ? `at start-up +${kill.delayMs} ms` : `after ${kill.steps} steps`}, killed at ${r.killedAt ?? '–'} ms; checkpoint step ${before ?? '–'} → ${after ?? '–'}`);
  if (r.code === 0 && r.killedAt === null) break;
}
// Let it finish (unless a run outran its kill and finished already).
const finished = log.length > 0 && finishedEarly > 0;
const last = finished ? { code: 0, stderr: '', resumed: false } : await runOnce(null);
if (last.code !== 0) {
  failures++;
  console.error(`[kill-loop] the final run exited ${last.code ?? last.signal}:\n${last.stderr.slice(-3000)}`);
}
if (/dropped its last line, torn/.test(last.stderr)) torn++;
const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
const records = lines.map((l) => JSON.parse(l));
const steps = records.filter((m) => 'loss' in m).map((m) => m.step);
const everyStepOnce = steps.length === opts.steps && steps.every((s, i) => s === i + 1);
const summary = existsSync(join(out, 'summary.json')) ? JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) : null;
const result = {
  kills: log.filter((l) => l.killed_at_ms !== null).length,
  runs: log.length + (finished ? 0 : 1),
  resumes: resumes + (last.resumed ? 1 : 0),
  fresh_starts: fresh + (finished || last.resumed ? 0 : 1),
  checkpoint_steps: log.map((l) => l.checkpoint_step),
  torn_metrics_lines_dropped: torn,
  zero_momentum_fallbacks: zeroMomentum,
  unexpected_exits: failures,
  metrics_lines: lines.length,
  logged_steps: steps.length,
  every_step_once: everyStepOnce,
  summary_steps: summary?.steps ?? null,
  wall_s: Math.round((Date.now() - t0) / 1000),
  out,
};
console.log(JSON.stringify(result));
process.exit(failures === 0 && everyStepOnce && summary?.steps === opts.steps ? 0 : 1);
