// Headless Chromium with WebGPU, for the browser tests (e2e/*.e2e.ts) and the browser bench
// (bench/run.ts --browser): build the app, serve the build with `vite preview`, launch Chromium.
//
// Debian's /usr/bin/chromium (or $CHROMIUM_PATH) needs only --enable-unsafe-webgpu for
// navigator.gpu.requestAdapter() to return an adapter in headless mode (SwiftShader's Vulkan,
// "google swiftshader"); no --use-angle / --use-webgpu-adapter / Vulkan feature flags are
// needed. WebGPU exists only in secure contexts, so pages must come from http://localhost or
// 127.0.0.1, never data: or a LAN address. Playwright cannot download browsers here.
import { existsSync, mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview } from 'vite';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Where the browser tests save their screenshots: .cache/screenshots by default, so a test run
 * leaves the tree clean; `npm run screenshots` points SCREENSHOTS_DIR at docs/screenshots to
 * refresh the ones the README shows.
 */
export function screenshotPath(name: string): string {
  const env = process.env.SCREENSHOTS_DIR;
  const dir = env ? (isAbsolute(env) ? env : join(ROOT, env)) : join(ROOT, '.cache', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** Chrome quantises WebGPU timestamps to 100 µs for privacy; the bench wants them exact. */
export const BENCH_ARGS = ['--disable-dawn-features=timestamp_quantization'];

export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}. Install Debian's chromium (bash scripts/install-system-deps.sh) or set CHROMIUM_PATH.`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs], headless: true });
}

/**
 * Where the tests and the bench build the app: their own folders under the git-ignored .cache/,
 * so they never overwrite `npm run build`'s dist/ or each other.
 */
/** A progress logger for a browser test: each line says how many seconds have passed since the logger was made. */
export function elapsedLog(): (msg: string) => void {
  const t0 = performance.now();
  return (msg) => console.log(`[e2e] ${((performance.now() - t0) / 1000).toFixed(0)} s: ${msg}`);
}

/** A dark-scheme page whose console errors, uncaught exceptions and worker console errors are pushed into `errors`
 *  (every browser test asserts it stays empty). */
export async function newWatchedPage(browser: Browser, errors: string[], viewport: { width: number; height: number }, opts: { acceptDownloads?: boolean } = {}): Promise<Page> {
  const page = await browser.newPage({ viewport, colorScheme: 'dark', ...opts });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && errors.push(`worker console.error: ${m.text()}`)));
  return page;
}

export const OUT_DIRS = { e2e: '.cache/e2e-dist', bench: '.cache/bench-dist' } as const;

/**
 * `vite build` (both pages: index.html and bench.html) into `outDir`, as a production build even
 * inside vitest, which sets NODE_ENV=test (Vite would then bundle React's development build).
 */
export async function buildApp(outDir: string): Promise<void> {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root: ROOT, mode: 'production', logLevel: 'warn', configFile: `${ROOT}vite.config.ts`, build: { outDir, emptyOutDir: true } });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
}

export interface Served {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:41234/ */
  url: string;
  close(): Promise<void>;
}

/** Serves a build (see buildApp) with `vite preview` on a free port of 127.0.0.1. */
export async function servePreview(outDir: string): Promise<Served> {
  const server = await preview({
    root: ROOT,
    logLevel: 'warn',
    configFile: `${ROOT}vite.config.ts`,
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false },
  });
  const address = server.httpServer.address() as AddressInfo | null;
  if (!address || typeof address === 'string') throw new Error('vite preview did not report a TCP port');
  return { url: `http://127.0.0.1:${address.port}/`, close: () => server.close() };
}
