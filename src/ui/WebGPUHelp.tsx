// The panel shown when there is no WebGPU: what is missing (WebGPUUnavailableError's message)
// and what to do about it (its hint), one step per line, with flags and URLs set as code.
import type { ReactNode } from 'react';

/** Sets `--flags` and `chrome://…` addresses in <code>. */
function withCode(text: string): ReactNode[] {
  return text.split(/(--[\w-]+(?:=[\w,-]+)?|chrome:\/\/[\w/-]+)/g).map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part));
}

/** "A (x; y); on Linux, B. C." → ["A (x; y)", "On Linux, B.", "C."]: splits at "; " and sentence ends outside parentheses. */
function steps(hint: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < hint.length; i++) {
    const ch = hint[i]!;
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    cur += ch;
    const next = hint[i + 1];
    if (depth === 0 && (ch === ';' || ch === '.') && (next === ' ' || next === undefined)) {
      out.push(cur.replace(/;$/, '.').trim());
      cur = '';
    }
  }
  if (cur.trim()) out.push(cur.trim());
  return out.filter(Boolean).map((s) => s[0]!.toUpperCase() + s.slice(1));
}

export function WebGPUHelp({ reason, hint }: { reason: string; hint: string }) {
  return (
    <section className="panel panel-warn" role="alert" data-testid="webgpu-unavailable">
      <h2>WebGPU is not available here</h2>
      <p className="reason">{withCode(reason)}</p>
      <p>Every number in the playground is computed by WebGPU compute shaders, so it needs a browser with WebGPU switched on:</p>
      <ol className="steps">
        {steps(hint).map((s, i) => (
          <li key={i}>{withCode(s)}</li>
        ))}
      </ol>
      <p className="muted">
        Then reload this page. Without a browser, the same engine runs in Node: <code>npm run cli -- --help</code>.
      </p>
    </section>
  );
}
