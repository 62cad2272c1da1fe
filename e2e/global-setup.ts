// Once per `vitest run -c vitest.e2e.config.ts`: build the app, serve it on a free port,
// hand its URL to the tests (inject('baseUrl')), and stop the server at the end.
import type { TestProject } from 'vitest/node';
import { buildApp, OUT_DIRS, servePreview } from './chromium.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  await buildApp(OUT_DIRS.e2e);
  const server = await servePreview(OUT_DIRS.e2e);
  console.log(`[e2e] built into ${OUT_DIRS.e2e}/ and serving it at ${server.url} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  project.provide('baseUrl', server.url);
  return () => server.close();
}
