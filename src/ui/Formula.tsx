// A formula typeset by KaTeX (a method's objective on the page). KaTeX loads on first use
// (src/ui/formula.ts); until then, or if KaTeX refuses the TeX, the TeX itself is shown.
import { useEffect, useMemo, useState } from 'react';

type FormulaModule = typeof import('./formula.ts');

export function Formula({ tex, label, testId }: { tex: string; label: string; testId?: string }) {
  const [mod, setMod] = useState<FormulaModule | null>(null);
  useEffect(() => {
    let live = true;
    void import('./formula.ts').then((m) => live && setMod(m));
    return () => {
      live = false;
    };
  }, []);
  const html = useMemo(() => {
    if (!mod) return null;
    try {
      return mod.renderFormula(tex, label);
    } catch {
      return null;
    }
  }, [mod, tex, label]);
  if (!html)
    return (
      <code className={`formula ${mod ? 'formula-error' : 'formula-loading'}`} data-testid={testId}>
        {tex}
      </code>
    );
  return <div className="formula" role="math" aria-label={label} data-testid={testId} dangerouslySetInnerHTML={{ __html: html }} />;
}
