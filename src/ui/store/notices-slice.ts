// Passing notices (an export that failed, a dataset that is not loaded, a resumed run): the four
// latest, each dismissable. Handles no engine events; other slices post through the context.
import type { Slice, StoreContext } from './types.ts';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

export interface NoticesSlice {
  notices: Notice[];
  dismissNotice(id: number): void;
}

/** At most this many notices are shown; a new one pushes the oldest out. */
export const MAX_NOTICES = 4;

export function createNoticesSlice(ctx: StoreContext): Slice<NoticesSlice> & { post(kind: Notice['kind'], text: string): void } {
  let nextNotice = 1;
  return {
    state: {
      notices: [],
      dismissNotice(id) {
        ctx.set({ notices: ctx.get().notices.filter((n) => n.id !== id) });
      },
    },
    on: {},
    post(kind, text) {
      ctx.set({ notices: [...ctx.get().notices.slice(-(MAX_NOTICES - 1)), { id: nextNotice++, kind, text }] });
    },
  };
}
