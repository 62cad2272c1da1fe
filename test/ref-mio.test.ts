// The float64 MIO reference (src/ref/mio.ts): its gradient into both views' projector outputs
// against central finite differences of its loss, the terms against a direct transcription of
// the definition, limiting cases, and the refusals (B = 1, τ₊, τ₋, μ out of range, naming the flags).
import { describe, expect, test } from 'vitest';
import { checkMioParams, mioObjective, MIO_DEFAULTS, sigmoid, softplus } from '../src/ref/mio.ts';
import { expectGradientsMatch, randomF64 } from './helpers/gradcheck.ts';

describe('MIO reference', () => {
  test.each([
    [2, 1, MIO_DEFAULTS],
    [2, 3, MIO_DEFAULTS],
    [5, 4, { tauPos: 0.3, tauNeg: 0.7, l2Weight: 2.5 }],
    [7, 3, { tauPos: 1, tauNeg: 0.2, l2Weight: 0 }],
    [6, 4, { tauPos: 0.5, tauNeg: 0.5, l2Weight: 1, negWeight: 0 }],
  ])('B=%i D=%i: ∂L/∂p by finite differences', (B, D, params) => {
    const p1 = randomF64(B * D, 11 * B + D, -2, 2);
    const p2 = randomF64(B * D, 13 * B + D, -2, 2);
    const r = mioObjective(p1, p2, B, D, params);
    const rep = expectGradientsMatch({ loss: () => mioObjective(p1, p2, B, D, params).loss, inputs: { p1, p2 }, grads: { p1: r.grads[0], p2: r.grads[1] } }, { h: 1e-6, atol: 1e-9, rtol: 1e-6 });
    console.log(`MIO ref B=${B} D=${D}: loss ${r.loss.toFixed(6)}, ${rep.message}`);
  });

  test('the negatives switched off (ν = 0): the negative term and its gradient vanish, the reported negative probability does not', () => {
    const B = 5;
    const D = 3;
    const p1 = randomF64(B * D, 21);
    const p2 = randomF64(B * D, 22);
    const on = mioObjective(p1, p2, B, D);
    const off = mioObjective(p1, p2, B, D, { ...MIO_DEFAULTS, negWeight: 0 });
    expect(on.terms.neg).toBeGreaterThan(0.1);
    expect(off.terms.neg).toBe(0);
    expect(off.terms.pos).toBe(on.terms.pos);
    expect(off.loss).toBeCloseTo(on.terms.pos + on.terms.l2, 12);
    expect(off.stats).toEqual(on.stats);
    expect(() => checkMioParams({ ...MIO_DEFAULTS, negWeight: -1 })).toThrow(/--mio-negatives/);
  });

  test('the terms equal a direct transcription of the definition', () => {
    const B = 4;
    const D = 5;
    const p1 = randomF64(B * D, 1);
    const p2 = randomF64(B * D, 2);
    const r = mioObjective(p1, p2, B, D);
    const unit = (p: Float64Array, i: number) => {
      const row = p.slice(i * D, i * D + D);
      const n = Math.hypot(...row);
      return row.map((v) => v / n);
    };
    const Z = [...Array.from({ length: B }, (_, i) => unit(p1, i)), ...Array.from({ length: B }, (_, i) => unit(p2, i))];
    const dotp = (a: Float64Array, b: Float64Array) => a.reduce((t, v, k) => t + v * b[k]!, 0);
    let pos = 0;
    let neg = 0;
    let npos = 0;
    let nneg = 0;
    for (let a = 0; a < 2 * B; a++) {
      for (let b = 0; b < 2 * B; b++) {
        if (a === b) continue;
        if (Math.abs(a - b) === B) {
          pos += Math.log(1 + Math.exp(-dotp(Z[a]!, Z[b]!) / 0.5));
          npos++;
        } else {
          neg += Math.log(1 + Math.exp(dotp(Z[a]!, Z[b]!) / 0.5));
          nneg++;
        }
      }
    }
    let l2 = 0;
    for (let i = 0; i < B; i++) for (let d = 0; d < D; d++) l2 += (Z[i]![d]! - Z[i + B]![d]!) ** 2;
    expect(npos).toBe(2 * B);
    expect(nneg).toBe(2 * B * (2 * B - 2));
    expect(r.terms.pos).toBeCloseTo(pos / npos, 13);
    expect(r.terms.neg).toBeCloseTo(neg / nneg, 13);
    expect(r.terms.l2).toBeCloseTo(l2 / (B * D), 13);
    expect(r.loss).toBeCloseTo(pos / npos + neg / nneg + l2 / (B * D), 13);
  });

  test('identical views: no L2 term, positive pairs at cosine 1; the gradient is orthogonal to each row of p', () => {
    const B = 6;
    const D = 8;
    const p = randomF64(B * D, 5, -1, 1);
    const r = mioObjective(p, p, B, D);
    expect(r.terms.l2).toBe(0);
    expect(r.terms.pos).toBeCloseTo(softplus(-2), 12);
    expect(r.stats[0]).toBeCloseTo(sigmoid(2), 12);
    for (const g of r.grads) {
      for (let i = 0; i < B; i++) {
        let t = 0;
        for (let d = 0; d < D; d++) t += g[i * D + d]! * p[i * D + d]!;
        expect(Math.abs(t)).toBeLessThan(1e-12);
      }
    }
  });

  test('softplus and sigmoid stay finite and exact at large |x|', () => {
    expect(softplus(800)).toBe(800);
    expect(softplus(-800)).toBe(0);
    expect(softplus(-30)).toBeCloseTo(Math.exp(-30), 25);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
    expect(sigmoid(0)).toBe(0.5);
  });

  test('refusals name the flag', () => {
    const p = randomF64(3, 1);
    expect(() => mioObjective(p, p, 1, 3)).toThrow(/B = 1.*no negative pairs.*--batch/);
    expect(() => checkMioParams({ ...MIO_DEFAULTS, tauPos: 0 })).toThrow(/--tau-pos.*> 0, got 0/);
    expect(() => checkMioParams({ ...MIO_DEFAULTS, tauNeg: -1 })).toThrow(/--tau-neg.*> 0, got -1/);
    expect(() => checkMioParams({ ...MIO_DEFAULTS, l2Weight: -0.1 })).toThrow(/--l2-weight.*≥ 0, got -0.1/);
    expect(() => checkMioParams({ ...MIO_DEFAULTS, tauPos: NaN })).toThrow(/--tau-pos/);
    expect(() => checkMioParams({ ...MIO_DEFAULTS, l2Weight: 0 })).not.toThrow();
  });
});
