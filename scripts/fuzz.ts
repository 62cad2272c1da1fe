// The full fuzz run (issue 16): `npm run fuzz -- --cases 10000 [--seed N] [--reader npy,tar.gz] [--small-bombs]`.
// Runs every reader (test/fuzz/engine.ts) on N seeded cases — with 1 GiB gzip bombs (about 1 MB
// compressed) unless --small-bombs — and prints per reader: cases, leaked internal errors,
// messages without the file name, cases over 5 s, the slowest case, the peak memory growth of one
// case against its budget (2× the largest valid input, or a bomb's format maximum, + 32 MiB for
// the runtime), and the process's peak RSS. Exits 1 when any reader has a failure of any kind.
import { READERS, fuzzReader, type FuzzReport } from '../test/fuzz/engine.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const cases = Number(flag('cases') ?? 1000);
const seed = Number(flag('seed') ?? 1);
const only = flag('reader')?.split(',');
if (!Number.isSafeInteger(cases) || cases < 1) {
  console.error(`--cases must be a positive integer, got ${flag('cases')}`);
  process.exit(2);
}
const unknown = only?.filter((r) => !READERS.some((x) => x.id === r)) ?? [];
if (unknown.length) {
  console.error(`unknown reader(s) ${unknown.join(', ')}; the readers are ${READERS.map((r) => r.id).join(', ')}`);
  process.exit(2);
}
const big = !process.argv.includes('--small-bombs');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

console.log(`fuzz: ${cases} cases per reader, seed ${seed}, ${big ? '1 GiB' : '16 MiB'} gzip bombs${(globalThis as { gc?: unknown }).gc ? '' : ' (no --expose-gc: memory growth is sampled without collecting first)'}`);
const rows: string[][] = [['reader', 'cases', 'read', 'refused', 'leaked', 'unnamed', '>5 s', 'max ms', 'peak case', 'over budget', 'peak RSS', 'longest msg']];
const reports: FuzzReport[] = [];
for (const reader of READERS.filter((r) => !only || only.includes(r.id))) {
  const t0 = performance.now();
  const r = await fuzzReader(reader, { cases, seed, big });
  reports.push(r);
  const rss = process.resourceUsage().maxRSS * 1024;
  rows.push([r.reader, String(r.cases), String(r.accepted), String(r.refused), String(r.leaked.length), String(r.unnamed.length), String(r.overTime.length), r.maxMs.toFixed(0), mib(r.peakBytes), String(r.overMemory.length), mib(rss), String(r.longestMessage)]);
  console.log(`  ${r.reader}: ${r.cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s; slowest ${r.maxMs.toFixed(0)} ms (${r.maxMsLabel}); peak +${mib(r.peakBytes)} (${r.peakLabel})`);
  for (const l of r.leaked.slice(0, 5)) console.log(`    LEAKED ${l.label}: ${l.error}`);
  for (const u of r.unnamed.slice(0, 5)) console.log(`    UNNAMED ${u.label}: ${u.message}`);
  for (const o of r.overTime.slice(0, 5)) console.log(`    SLOW ${o.label}: ${o.ms.toFixed(0)} ms`);
  for (const o of r.overMemory.slice(0, 5)) console.log(`    MEMORY ${o.label}: ${mib(o.bytes)} over ${mib(o.budget)}`);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log('');
for (const r of rows) console.log(r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  '));
const failed = reports.some((r) => r.leaked.length || r.unnamed.length || r.overTime.length || r.overMemory.length);
process.exit(failed ? 1 : 0);
