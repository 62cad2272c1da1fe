// The fuzz suite in CI (issue 16): a few hundred seeded cases per reader — truncations, bit
// flips, hostile headers, huge declared sizes, deep nesting, 16 MiB gzip bombs — each of which
// must either read or be refused with the reader's own error class naming the file, within 5 s
// and the memory budget. `npm run fuzz -- --cases 10000` runs the full suite (test/fuzz/engine.ts).
import { describe, expect, test } from 'vitest';
import { READERS, fuzzReader } from './fuzz/engine.ts';

const CASES = 200;

describe('fuzz: every reader refuses bad input with its own error, naming the file', () => {
  test.each(READERS.map((r) => [r.id, r] as const))('%s', async (_, reader) => {
    const r = await fuzzReader(reader, { cases: CASES, seed: 16 });
    console.log(`${r.reader}: ${r.cases} cases, ${r.accepted} read, ${r.refused} refused, max ${r.maxMs.toFixed(0)} ms (${r.maxMsLabel}), peak +${(r.peakBytes / 2 ** 20).toFixed(1)} MiB, longest message ${r.longestMessage}`);
    expect(r.cases).toBe(CASES);
    expect(r.leaked, 'internal errors leaked').toEqual([]);
    expect(r.unnamed, 'messages without the file name').toEqual([]);
    expect(r.overTime, 'cases over 5 s').toEqual([]);
    expect(r.overMemory, 'cases over the memory budget').toEqual([]);
    expect(r.longestMessage).toBeLessThan(2000);
    // Most mutations must be refused (a generator that produced only valid files would test nothing).
    expect(r.refused).toBeGreaterThan(CASES / 2);
  });
});
