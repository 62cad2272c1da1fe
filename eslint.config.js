// ESLint for `npm run lint` (and the first step of `npm test`): typescript-eslint's recommended rules (syntax only, not
// the type-aware preset, so the whole tree lints in seconds), the rules of React hooks, and the layer rule. The layers
// (docs/ARCHITECTURE.md, the layers): imports point down only, ui → worker → train → methods → mira → nn → data → gpu,
// with io and shaders as leaves any of them may use; src/ref (the float64 references) is a leaf that only tests,
// benchmarks, scripts, "verify on CPU", the self-test and the CLI's `--backend cpu` import; nothing in src imports the
// top-level bench/ (the Node benchmark suites). The rule is written as a table below and turned into
// `no-restricted-imports` (static imports and re-exports) and `no-restricted-syntax` (`import()` and `import('…').T`)
// patterns on the relative paths as written, one set per folder and depth, so a wrong-way import fails with a message
// that names the layer rule it breaks.
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

/** The layers from top to bottom: a layer may import the ones after it, never the ones before it. */
const LAYERS = ['ui', 'worker', 'train', 'methods', 'mira', 'nn', 'data', 'gpu'];
const LAYER_ORDER = LAYERS.join(' → ');

/** The files that may import src/ref besides test/, bench/, scripts/, e2e/ and src/ref itself. */
const REF_IMPORTERS = ['src/worker/explorer-cpu.ts', 'src/worker/selftest.ts', 'cli/commands/assign.ts'];

const WHY = {
  down: (from, to) => `Layer rule: src/${from} must not import src/${to}; imports point down only (${LAYER_ORDER}; io and shaders are leaves). See docs/ARCHITECTURE.md, the layers.`,
  leaf: (from, to) => `Layer rule: src/${from} is a leaf (used by the layers, using none of them) and must not import src/${to}. See docs/ARCHITECTURE.md, the layers.`,
  ref: (from) =>
    `Layer rule: src/ref (the float64 references) is a leaf that ${from} must not import; only test/, bench/, scripts/, e2e/, ${REF_IMPORTERS.join(', ')} may. ` +
    'Move the shared type or converter next to the code that owns it. See docs/ARCHITECTURE.md, the layers.',
  topBench: (from) =>
    `Layer rule: ${from} must not import the top-level bench/ (the Node benchmark suites); types shared with the bench page live under src/bench. See docs/ARCHITECTURE.md, the layers.`,
  benchPage: (from) => `Layer rule: src/${from} must not import src/bench (the benchmark page sits beside the UI, above every layer). See docs/ARCHITECTURE.md, the layers.`,
};

/**
 * What each folder of src must not import: [target folder under src (or '../bench' for the top-level bench/), message].
 * The layers below a folder and the leaves are allowed; everything else in src is a target here.
 */
function forbiddenFor(folder) {
  const out = [];
  const i = LAYERS.indexOf(folder);
  if (i >= 0) {
    for (const above of LAYERS.slice(0, i)) out.push([above, WHY.down(folder, above)]);
    if (folder !== 'ui') out.push(['bench', WHY.benchPage(folder)]);
  } else if (folder === 'io') {
    for (const layer of LAYERS) out.push([layer, WHY.leaf(folder, layer)]);
    out.push(['bench', WHY.leaf(folder, 'bench')]);
  } else if (folder === 'ref') {
    for (const above of ['ui', 'worker', 'bench']) out.push([above, WHY.down('ref', above)]);
  }
  if (folder !== 'ref') out.push(['ref', WHY.ref(`src/${folder}`)]);
  out.push(['../bench', WHY.topBench(`src/${folder}`)]);
  return out;
}

const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A regex on the import path as written by a file `depth` folders below src/ (src/nn/x.ts has depth 1) that reaches src/<target>. */
function targetRegex(target, depth) {
  const climb = target === '../bench' ? depth + 1 : depth;
  const name = target === '../bench' ? 'bench' : target;
  // Relative (../../ui/x.ts), or through the root (../../src/ui/x.ts) which only the real src can be.
  const viaRoot = target === '../bench' ? [] : [`(^|/)src/${escapeRegex(name)}(/|$)`];
  return [`^(\\.\\./){${climb}}${escapeRegex(name)}(/|$)`, ...viaRoot].join('|');
}

/** esquery's regex literal cannot hold a '/', so slashes become \x2f there. */
const esqueryRegex = (regex) => regex.replaceAll('/', '\\x2f');

/** The two rules that enforce a list of [regex, message] on every import form. */
function restrictImports(rules) {
  return {
    'no-restricted-imports': ['error', { patterns: rules.map(([regex, message]) => ({ regex, message })) }],
    'no-restricted-syntax': ['error', ...rules.map(([regex, message]) => ({ selector: `:matches(ImportExpression, TSImportType)[source.value=/${esqueryRegex(regex)}/]`, message }))],
  };
}

const SRC_FOLDERS = ['ui', 'worker', 'train', 'methods', 'mira', 'nn', 'data', 'gpu', 'io', 'ref', 'bench'];
const CODE = '{ts,tsx,js,mjs}';

/** One config block per folder of src and depth below it (the relative paths differ by depth); later blocks win. */
const layerBlocks = SRC_FOLDERS.flatMap((folder) =>
  [1, 2, 3].map((depth) => ({
    name: `layers/src/${folder}/depth-${depth}`,
    files: [`src/${folder}/${'*/'.repeat(depth - 1)}*.${CODE}`],
    rules: restrictImports(forbiddenFor(folder).map(([target, message]) => [targetRegex(target, depth), message])),
  })),
);

/** The allowed importers of src/ref inside src keep the rest of their folder's rule. */
const refExceptionBlocks = REF_IMPORTERS.filter((f) => f.startsWith('src/')).map((file) => {
  const folder = file.split('/')[1];
  return {
    name: `layers/${file}`,
    files: [file],
    rules: restrictImports(
      forbiddenFor(folder)
        .filter(([target]) => target !== 'ref')
        .map(([target, message]) => [targetRegex(target, 1), message]),
    ),
  };
});

/** The CLI may use src/ref only for `--backend cpu` (the assign command). */
const cliBlocks = [
  { name: 'layers/cli', files: [`cli/**/*.${CODE}`], rules: restrictImports([['(^|/)src/ref(/|$)', WHY.ref('cli/')]]) },
  { name: 'layers/cli-ref-importers', files: REF_IMPORTERS.filter((f) => f.startsWith('cli/')), rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' } },
];

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', '.cache/', 'out/', 'runs/', 'test-results/', 'public/', 'docs/', 'node_modules/'] },
  {
    name: 'project/files',
    files: [`**/*.${CODE}`],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
  },
  ...tseslint.configs.recommended,
  {
    name: 'project/globals',
    files: [`**/*.${CODE}`],
    languageOptions: { globals: { ...globals.browser, ...globals.worker, ...globals.node } },
  },
  {
    name: 'project/react-hooks',
    files: ['src/ui/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  {
    name: 'project/house-style',
    rules: {
      // `let [name, value] = …` where only one is reassigned reads better than splitting the destructuring in two.
      'prefer-const': ['error', { destructuring: 'all' }],
      // `const self = this` lets an object literal's getters and methods reach the class that made it (the pass objects).
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
      // As tsc's noUnusedLocals: a leading underscore marks a name left unused on purpose (`const { weight: _w, ...rest } = o`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  ...layerBlocks,
  ...refExceptionBlocks,
  ...cliBlocks,
);
