// Every registered method’s objective typesets with KaTeX in strict mode (the options the page
// uses, src/ui/formula.ts), and names the symbols of its reference; its "watch" line is one sentence.
import { describe, expect, test } from 'vitest';
import katex from 'katex';
import { METHODS } from '../src/methods/registry.ts';
import { KATEX_OPTIONS, renderFormula } from '../src/ui/formula.ts';

/** TeX fragments each method's formula must contain: the terms of its float64 reference (src/ref). */
const TERMS: Record<string, readonly string[]> = {
  mira: [String.raw`\mathrm{KL}(w_i`, String.raw`\beta`, String.raw`H(\bar w)`, String.raw`\tau_t`, String.raw`\tau_s`, String.raw`\mathrm{CE}(w^{(1)}, q^{(2)})`],
  swav: [String.raw`\varepsilon`, String.raw`\frac{B}{K}`, String.raw`\mathrm{CE}(w^{(1)}, q^{(2)})`],
  naive: [String.raw`\mathrm{softmax}(\ell_i/\tau_t)`, String.raw`\mathrm{CE}(w^{(2)}, q^{(1)})`],
  sela: [String.raw`^{\lambda}`, String.raw`\frac{N}{K}`, String.raw`_{y_i}`],
  mveb: [String.raw`t^{(2)}_i`, String.raw`\lambda`, String.raw`(K + \eta I)^{-1}\Psi`, String.raw`\mathrm{sg}(S_i)`],
  mio: [String.raw`\tau_+`, String.raw`\tau_-`, String.raw`\frac{\mu}{BD}`, String.raw`\frac{\nu}{2B(2B-2)}`],
};

describe('method objectives typeset', () => {
  test.each(METHODS.map((m) => [m.id, m] as const))('%s: its formula renders in strict mode and holds its reference terms', (id, m) => {
    const html = katex.renderToString(m.formula, KATEX_OPTIONS);
    expect(html).toContain('class="katex');
    expect(html).not.toContain('katex-error');
    expect(renderFormula(m.formula, id)).toBe(html);
    const terms = TERMS[id];
    expect(terms, `${id}: add its reference terms to TERMS in test/method-formulas.test.ts`).toBeDefined();
    for (const t of terms!) expect(m.formula, `${id} formula should contain ${t}`).toContain(t);
    expect(m.watch, id).toMatch(/^[A-Z]/);
    expect(m.watch, id).toMatch(/\bwatch\b/i);
    expect(m.watch, id).toMatch(/\.$/);
    expect(m.watch.split(/\.\s/).length, `${id}: watch is one sentence`).toBe(1);
  });

  test('a formula KaTeX refuses is reported with its name', () => {
    expect(() => renderFormula(String.raw`\frac{1}{`, 'broken objective')).toThrow(/broken objective: KaTeX cannot typeset it/);
    expect(() => renderFormula('é = 1', 'unicode objective')).toThrow(/unicode objective/);
  });
});
