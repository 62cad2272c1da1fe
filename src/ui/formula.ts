// KaTeX for the page's formulas (a method's objective): TeX → HTML, strict, so a formula that KaTeX
// would only render with warnings fails its unit test (test/method-formulas.test.ts) instead of
// drawing something else on the page. Loaded on demand by src/ui/Formula.tsx, so KaTeX (and its
// stylesheet and fonts) stay out of the page's first bundle.
import katex from 'katex';
import 'katex/dist/katex.min.css';

/** The options every formula on the page is rendered with (the unit test uses the same). */
export const KATEX_OPTIONS = { displayMode: true, throwOnError: true, strict: 'error', output: 'htmlAndMathml' } as const satisfies katex.KatexOptions;

/** HTML of one formula; throws (naming the formula) when KaTeX refuses it. */
export function renderFormula(tex: string, what = 'formula'): string {
  try {
    return katex.renderToString(tex, KATEX_OPTIONS);
  } catch (e) {
    throw new Error(`${what}: KaTeX cannot typeset it: ${e instanceof Error ? e.message : String(e)}`);
  }
}
