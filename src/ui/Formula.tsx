// A formula typeset by KaTeX (a method's objective on the page): TeX → HTML once per string,
// strict, so a formula that KaTeX would only render with warnings fails its unit test
// (test/method-formulas.test.ts) instead of drawing something else on the page.
import katex from 'katex';
import 'katex/dist/katex.min.css';
import { useMemo } from 'react';

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

export function Formula({ tex, label, testId }: { tex: string; label: string; testId?: string }) {
  const html = useMemo(() => {
    try {
      return { ok: true as const, html: renderFormula(tex, label) };
    } catch (e) {
      return { ok: false as const, message: e instanceof Error ? e.message : String(e) };
    }
  }, [tex, label]);
  if (!html.ok) return <code className="formula formula-error">{tex}</code>;
  return <div className="formula" role="math" aria-label={label} data-testid={testId} dangerouslySetInnerHTML={{ __html: html.html }} />;
}
