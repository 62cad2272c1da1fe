// The playground (index.html) and the browser bench page (bench.html), built together.
// WGSL comes in with `?raw` and TSX goes through Vite's own Oxc transform (tsconfig's
// "jsx": "react-jsx"), so no plugins are needed. The engine worker is an ES module worker.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // Single-page shell plus the bench page; `rolldownOptions` is Vite 8's name for rollupOptions.
    rolldownOptions: {
      input: {
        main: resolve(root, 'index.html'),
        bench: resolve(root, 'bench.html'),
      },
    },
  },
});
