// Bounded error messages. Readers quote what they found (a key, a header, a shape) so the user
// can see what was wrong, but a hostile or damaged file can make that text megabytes long (one
// fuzz case produced a 1.69-million-character message): these helpers cut quotes and lists to a
// readable length and say how much was left out.

/** Longest quoted value in a message. */
export const QUOTE_MAX = 80;
/** Items listed before "… and N more". */
export const LIST_MAX = 5;

/** `text` cut to `max` characters, with an ellipsis and the full length when cut. */
export function clip(text: string, max = QUOTE_MAX): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/**
 * JSON of a value, cut to `max` characters. Written iteratively and stopped at the limit, so a
 * huge or deeply nested value (a hostile header) costs neither the stack nor memory; never throws.
 */
export function quote(value: unknown, max = QUOTE_MAX): string {
  let out = '';
  // Strings on the stack are literal output (brackets, commas); values are wrapped in a box.
  const box = (v: unknown) => ({ v });
  const stack: unknown[] = [box(value)];
  while (stack.length && out.length <= max) {
    const item = stack.pop();
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    const v = (item as { v: unknown }).v;
    if (Array.isArray(v)) {
      stack.push(']');
      if (v.length > max) stack.push(',…');
      for (let i = Math.min(v.length, max) - 1; i >= 0; i--) stack.push(box(v[i]), ...(i > 0 ? [','] : []));
      out += '[';
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v).slice(0, max);
      stack.push('}');
      for (let i = keys.length - 1; i >= 0; i--) stack.push(box((v as Record<string, unknown>)[keys[i]!]), `${JSON.stringify(keys[i])}:`, ...(i > 0 ? [','] : []));
      out += '{';
    } else if (typeof v === 'bigint') out += `${v}`;
    else if (v === undefined) out += 'undefined';
    else out += JSON.stringify(v) ?? String(v);
  }
  if (out.length > max || stack.length) return `${out.slice(0, max)}…`;
  return out;
}

/** The first `max` items (each clipped), joined, then "… and N more" when there are more. */
export function listFirst(items: readonly string[], max = LIST_MAX, sep = ', '): string {
  const shown = items.slice(0, max).map((s) => clip(s));
  return items.length > max ? `${shown.join(sep)}${sep}… and ${items.length - max} more` : shown.join(sep);
}
