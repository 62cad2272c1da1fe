// The float64 MVEB reference (src/ref/mveb.ts) on its own: finite differences of the surrogate
// (S held fixed) check ∂L/∂p through the normalisation; the Stein score checks against its
// definition (the solve's residual, τ as the median-like order statistic); and the whole
// objective against the PyTorch golden fixture of scripts/fixtures/make_mveb_fixture.py (float64
// on both sides: 1e-10 relative).
//
// Regenerate the fixture: /usr/bin/python3 scripts/fixtures/make_mveb_fixture.py
import { describe, expect, test } from 'vitest';
import { kthLargest, mvebReference, mvebSurrogate, normalizeRows, steinScore } from '../src/ref/mveb.ts';
import { loadMvebFixtures } from './fixtures/mveb/read.ts';
import { expectClose64, expectGradientsMatch, perturbGradient, gradientCheck, randomF64 } from './helpers/gradcheck.ts';

/** Rows sharing a direction (weight `common`) plus noise: cosines about common²/(common² + 1). */
function batch(B: number, D: number, seed: number, common = 0): Float64Array {
  const shared = randomF64(D, seed + 1000, -1, 1);
  const x = randomF64(B * D, seed, -1, 1);
  for (let i = 0; i < B * D; i++) x[i] = x[i]! + common * shared[i % D]!;
  return x;
}

describe('MVEB reference: gradients by finite differences (S held fixed)', () => {
  for (const [B, D, lambda, common] of [
    [2, 1, 0.01, 0],
    [7, 3, 0.01, 0],
    [6, 5, 0.5, 1],
    [12, 4, 2, 0.3],
  ] as const) {
    test(`B = ${B}, D = ${D}, λ = ${lambda}`, () => {
      const p1 = batch(B, D, 11, common);
      const p2 = batch(B, D, 12, common);
      const q1 = batch(B, D, 13, common);
      const q2 = batch(B, D, 14, common);
      const ref = mvebReference([p1, p2], [q1, q2], B, D, { entropyWeight: lambda });
      const loss = () => mvebSurrogate([p1, p2], [q1, q2], ref.S, B, D, lambda).loss;
      expect(loss()).toBeCloseTo(ref.loss, 14);
      const c = { loss, inputs: { p1, p2 }, grads: { p1: ref.gradP[0], p2: ref.gradP[1] } };
      const rep = expectGradientsMatch(c, { h: 1e-6, atol: 1e-9, rtol: 1e-6 });
      expect(rep.checked).toBe(2 * B * D);
      // The check can fail: one nudged element is found.
      expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'p2', B * D - 1, 1e-3) }, { h: 1e-6, atol: 1e-9, rtol: 1e-6 }).ok).toBe(false);
    });
  }

  test('∂L/∂z is (−t′ + λS)/(2B): the z-gradient of the surrogate written in z', () => {
    const [B, D, lambda] = [5, 3, 0.2];
    const p = [batch(B, D, 1), batch(B, D, 2)] as [Float64Array, Float64Array];
    const q = [batch(B, D, 3), batch(B, D, 4)] as [Float64Array, Float64Array];
    const ref = mvebReference(p, q, B, D, { entropyWeight: lambda });
    const t = q.map((x) => normalizeRows(x, B, D).z);
    // L as a function of unit z directly (normalising unit rows is the identity).
    const z = [Float64Array.from(ref.z[0]), Float64Array.from(ref.z[1])] as [Float64Array, Float64Array];
    const lossZ = () => {
      let a = 0;
      let u = 0;
      for (let v = 0; v < 2; v++) for (let k = 0; k < B * D; k++) {
        a += z[v]![k]! * t[1 - v]![k]!;
        u += ref.S[v]![k]! * z[v]![k]!;
      }
      return -a / (2 * B) + (lambda * u) / (2 * B);
    };
    expect(lossZ()).toBeCloseTo(ref.loss, 14);
    expectGradientsMatch({ loss: lossZ, inputs: { z1: z[0], z2: z[1] }, grads: { z1: ref.gradZ[0], z2: ref.gradZ[1] } }, { h: 1e-6, atol: 1e-9, rtol: 1e-7 });
  });
});

describe('MVEB reference: the Stein score', () => {
  test('S solves (K + ηI) S = −Ψ to float64 rounding, and τ is the ⌊N²/2⌋-th largest distance', () => {
    const [N, D, eta] = [9, 4, 0.01];
    const { z } = normalizeRows(batch(N, D, 5, 0.5), N, D);
    const { S, tau, pivotsFloored } = steinScore(z, N, D, eta);
    expect(pivotsFloored).toBe(0);
    const dist: number[] = [];
    const A = (i: number, j: number) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += z[i * D + d]! * z[j * D + d]!;
      return s;
    };
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) dist.push(1 - A(i, j));
    dist.sort((a, b) => b - a);
    expect(tau).toBe(Math.max(0.1, dist[Math.floor((N * N) / 2) - 1]!));
    let worst = 0;
    for (let i = 0; i < N; i++) {
      let r = 0;
      for (let j = 0; j < N; j++) r += Math.exp(A(i, j) / tau);
      for (let d = 0; d < D; d++) {
        let lhs = eta * S[i * D + d]!;
        for (let j = 0; j < N; j++) lhs += Math.exp(A(i, j) / tau) * S[j * D + d]!;
        worst = Math.max(worst, Math.abs(lhs + (r / tau) * z[i * D + d]!) / (r / tau));
      }
    }
    expect(worst).toBeLessThan(1e-11);
  });

  test('kthLargest counts ties', () => {
    expect(kthLargest([3, 1, 3, 2], 1)).toBe(3);
    expect(kthLargest([3, 1, 3, 2], 2)).toBe(3);
    expect(kthLargest([3, 1, 3, 2], 3)).toBe(2);
  });

  test('τ is clamped at 0.1, and an exactly collapsed batch floors its pivots instead of failing', () => {
    const [N, D] = [6, 3];
    const z = new Float64Array(N * D);
    for (let i = 0; i < N; i++) z.set([0.6, 0.8, 0], i * D);
    const r = steinScore(z, N, D, 0.01);
    expect(r.tau).toBe(0.1);
    expect(r.S.every(Number.isFinite)).toBe(true);
    // K = c·11ᵀ with c = e^10: (K + ηI)⁻¹1 = 1/(Nc + η), so S_i = −u·Nc/(τ(Nc + η)) for every row.
    const c = Math.exp(10);
    const want = (N * c) / (0.1 * (N * c + 0.01));
    expectClose64('S', r.S, Array.from(z, (u) => -u * want), 1e-9, 1e-9);
    expect(r.pivotsFloored).toBeLessThan(N);
  });
});

describe('MVEB reference against PyTorch (float64 fixture)', () => {
  const fixtures = loadMvebFixtures();
  test('the fixture holds the cases the script writes', () => {
    expect(fixtures.map((f) => f.name)).toEqual(['b12_d5_c4', 'b32_d8_c16', 'b64_d32_corr', 'b8_d16']);
  });
  for (const f of fixtures) {
    test(`${f.name}: B = ${f.B}, D = ${f.D}, chunk ${f.steinChunk}, λ = ${f.entropyWeight}, η = ${f.steinEta}`, () => {
      const ref = mvebReference(f.p, f.q, f.B, f.D, { entropyWeight: f.entropyWeight, steinEta: f.steinEta, steinChunk: f.steinChunk });
      expectClose64('loss', [ref.loss], [f.loss], 0, 1e-10);
      expectClose64('align', [ref.align], [f.align], 0, 1e-10);
      expectClose64('unif', [ref.unif], [f.unif], 0, 1e-10);
      expectClose64('tau', [ref.tau], [f.tau], 0, 1e-12);
      expectClose64('taus', ref.taus, f.taus, 0, 1e-12);
      for (let v = 0; v < 2; v++) {
        expectClose64(`S${v + 1}`, ref.S[v]!, f.S[v]!, 1e-9, 1e-9);
        expectClose64(`grad${v + 1}`, ref.gradP[v]!, f.grad[v]!, 1e-13, 1e-9);
      }
      expect(ref.pivotsFloored).toBe(0);
    });
  }
});
