// The layer rule of eslint.config.js (docs/ARCHITECTURE.md, the layers) on planted imports: each wrong-way import fails
// with a message naming the rule, in every import form (static, re-export, `import()`, `import('…').T`), at every depth
// below src, while the allowed directions and the named importers of src/ref pass. Lints source text under the file
// name it would have, so no file of the tree is touched.
import { ESLint } from 'eslint';
import { describe, expect, test } from 'vitest';

const eslint = new ESLint({ overrideConfig: { rules: { '@typescript-eslint/no-unused-vars': 'off' } } });

/** The layer-rule messages ESLint reports for `code` as the file `filePath` (relative to the repository root). */
async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  if (!result) throw new Error(`ESLint returned no result for ${filePath}`);
  const fatal = result.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`${filePath}: ESLint could not parse the planted code: ${fatal.map((m) => m.message).join('; ')}`);
  return result.messages.filter((m) => m.message.includes('Layer rule:')).map((m) => m.message);
}

const WRONG_WAY: [file: string, code: string, rule: RegExp][] = [
  ['src/nn/pool.ts', "import '../ui/format.ts';", /src\/nn must not import src\/ui; imports point down only/],
  ['src/nn/pool.ts', "export * from '../worker/client.ts';", /src\/nn must not import src\/worker/],
  ['src/nn/pool.ts', "export async function f() { return import('../ui/format.ts'); }", /src\/nn must not import src\/ui/],
  ['src/nn/pool.ts', "export let k: import('../ui/format.ts').Colour | undefined;", /src\/nn must not import src\/ui/],
  ['src/gpu/kernel.ts', "import { x } from '../nn/pool.ts';", /src\/gpu must not import src\/nn/],
  ['src/gpu/kernel.ts', "import '../data/rng.ts';", /src\/gpu must not import src\/data/],
  ['src/data/rng.ts', "import '../../src/ui/format.ts';", /src\/data must not import src\/ui/],
  ['src/mira/loss.ts', "import type { T } from '../train/trainer.ts';", /src\/mira must not import src\/train/],
  ['src/methods/sub/objective.ts', "import '../../train/trainer.ts';", /src\/methods must not import src\/train/],
  ['src/train/trainer.ts', "import '../ref/mira.ts';", /src\/ref \(the float64 references\) is a leaf that src\/train must not import/],
  ['src/worker/session.ts', "import '../ref/mira.ts';", /src\/ref .* src\/worker must not import/],
  ['src/worker/explorer-cpu.ts', "import '../ui/format.ts';", /src\/worker must not import src\/ui/],
  ['src/ui/App.tsx', "import '../../bench/types.ts';", /src\/ui must not import the top-level bench\//],
  ['src/bench/report.ts', "import '../../bench/types.ts';", /src\/bench must not import the top-level bench\//],
  ['src/nn/pool.ts', "import '../bench/report.ts';", /src\/nn must not import src\/bench/],
  ['src/io/npy.ts', "import '../gpu/kernel.ts';", /src\/io is a leaf/],
  ['cli/commands/train.ts', "import '../../src/ref/mira.ts';", /src\/ref .* cli\/ must not import/],
];

const ALLOWED: [file: string, code: string][] = [
  ['src/ui/App.tsx', "import '../worker/client.ts'; import '../bench/page.ts'; import '../mira/loss.ts';"],
  ['src/train/trainer.ts', "import '../methods/registry.ts'; import '../mira/loss.ts'; import '../gpu/kernel.ts';"],
  ['src/methods/sub/objective.ts', "import '../../mira/loss.ts'; import '../../nn/pool.ts';"],
  ['src/nn/pool.ts', "import '../io/npy.ts'; import '../data/rng.ts'; import '../gpu/kernel.ts'; import './conv2d.ts';"],
  ['src/worker/explorer-cpu.ts', "import '../ref/mira.ts';"],
  ['src/worker/selftest.ts', "import '../ref/mira.ts';"],
  ['src/ref/conv2d.ts', "import '../nn/conv2d.ts'; import './layout.ts';"],
  ['cli/commands/assign.ts', "export async function f() { return import('../../src/ref/mira.ts'); }"],
  ['test/ref-mira.test.ts', "import '../src/ref/mira.ts'; import '../src/ui/format.ts';"],
  ['bench/mira.bench.ts', "import '../src/ref/mira.ts';"],
  ['scripts/figure2.ts', "import '../src/ref/mira.ts';"],
];

describe('the layer rule', () => {
  test.each(WRONG_WAY)('%s: %s fails', async (file, code, rule) => {
    const errors = await layerErrors(file, code);
    expect(errors.length, `${file}: ${code} should break a layer rule`).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(rule);
  });

  test.each(ALLOWED)('%s: %s passes', async (file, code) => {
    expect(await layerErrors(file, code)).toEqual([]);
  });
});
