// Exports: the metrics log (CSV, JSON), the pseudo-labels and the weights, built by the engine
// and saved by the page as a download; a failed export is a notice.
import type { ExportKind } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

export interface ExportsSlice {
  exportFile(what: ExportKind): void;
}

export function createExportsSlice(ctx: StoreContext): Slice<ExportsSlice, 'export' | 'export-error'> {
  return {
    state: {
      exportFile(what) {
        ctx.send({ type: 'export', id: ctx.nextId(), what });
      },
    },
    on: {
      export(ev) {
        ctx.page.download(ev.fileName, ev.mime, ev.bytes);
      },
      'export-error'(ev) {
        ctx.notice('error', `Export failed: ${ev.message}`);
      },
    },
  };
}
