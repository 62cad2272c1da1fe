// The cluster gallery: a sample of images per cluster of the latest assignments, with purity
// and NMI against the labels the method never saw; refreshed on request.
import type { GalleryResult } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

export interface GalleryState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  result: GalleryResult | null;
  error: string | null;
}

export interface GallerySlice {
  gallery: GalleryState;
  refreshGallery(clusters?: number, perCluster?: number): void;
}

export function createGallerySlice(ctx: StoreContext): Slice<GallerySlice, 'gallery'> {
  return {
    state: {
      gallery: { status: 'idle', result: null, error: null },

      refreshGallery(clusters = 6, perCluster = 16) {
        ctx.set({ gallery: { ...ctx.get().gallery, status: 'loading', error: null } });
        ctx.send({ type: 'gallery', id: ctx.nextId(), clusters, perCluster });
      },
    },

    on: {
      gallery(ev) {
        ctx.set({ gallery: ev.result ? { status: 'ready', result: ev.result, error: null } : { status: 'error', result: ctx.get().gallery.result, error: ev.error ?? 'no gallery' } });
      },
    },
  };
}
