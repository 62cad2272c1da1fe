// Every training method, in the order the page and the CLI list them. Adding a method is its
// own module (src/methods/<id>.ts) and one line here; see docs/ARCHITECTURE.md, "How to add a
// method". The configuration table, the CLI flags, the page's picker and controls, the lab and
// the metric layout all read this list.
import { mio } from './mio.ts';
import { mira } from './mira.ts';
import { mveb } from './mveb.ts';
import { naive } from './naive.ts';
import { sela } from './sela.ts';
import { swav } from './swav.ts';
import type { MethodDef } from './types.ts';

export const METHODS = [mira, swav, naive, sela, mveb, mio] as const;

export type MethodId = (typeof METHODS)[number]['id'];
export type AnyMethod = (typeof METHODS)[number];

export const METHOD_IDS: readonly MethodId[] = METHODS.map((m) => m.id);

export function isMethodId(s: unknown): s is MethodId {
  return typeof s === 'string' && (METHOD_IDS as readonly string[]).includes(s);
}

/** The method with this id; an unknown id is an error that lists the known ones. */
export function methodById(id: string): MethodDef {
  const m = METHODS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown method "${id}"; known methods: ${METHOD_IDS.join(', ')}`);
  return m;
}
