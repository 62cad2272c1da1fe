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

/** JSON of a value, cut to `max` characters (never throws: BigInts and cycles are described). */
export function quote(value: unknown, max = QUOTE_MAX): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return clip(text, max);
}

/** The first `max` items (each clipped), joined, then "… and N more" when there are more. */
export function listFirst(items: readonly string[], max = LIST_MAX, sep = ', '): string {
  const shown = items.slice(0, max).map((s) => clip(s));
  return items.length > max ? `${shown.join(sep)}${sep}… and ${items.length - max} more` : shown.join(sep);
}
