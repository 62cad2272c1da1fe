// The embedding map of the current run: computed on request (the "Compute map" button) by the
// worker — PCA on the GPU or UMAP in the worker — over the test images kNN classifies; the page
// picks the projection and the colouring (true class, or the method's cluster where it has a head).
import type { EmbeddingMapResult, MapProjection } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

export type MapColouring = 'class' | 'cluster';

export interface EmbeddingMapState {
  status: 'idle' | 'computing' | 'ready' | 'error';
  projection: MapProjection;
  colouring: MapColouring;
  result: EmbeddingMapResult | null;
  error: string | null;
  /** The request being answered (a late answer to an older request is dropped). */
  requestId: number | null;
}

export interface EmbeddingMapSlice {
  embeddingMap: EmbeddingMapState;
  computeEmbeddingMap(projection?: MapProjection): void;
  setMapProjection(projection: MapProjection): void;
  setMapColouring(colouring: MapColouring): void;
}

const IDLE: EmbeddingMapState = { status: 'idle', projection: 'pca', colouring: 'class', result: null, error: null, requestId: null };

export function createEmbeddingMapSlice(ctx: StoreContext): Slice<EmbeddingMapSlice, 'embedding-map'> {
  const patch = (p: Partial<EmbeddingMapState>) => ctx.set({ embeddingMap: { ...ctx.get().embeddingMap, ...p } });
  return {
    state: {
      embeddingMap: IDLE,

      computeEmbeddingMap(projection) {
        const p = projection ?? ctx.get().embeddingMap.projection;
        const id = ctx.nextId();
        patch({ status: 'computing', projection: p, error: null, requestId: id });
        ctx.send({ type: 'embedding-map', id, projection: p });
      },

      setMapProjection(projection) {
        patch({ projection });
      },

      setMapColouring(colouring) {
        patch({ colouring });
      },
    },

    on: {
      'embedding-map'(ev) {
        const s = ctx.get().embeddingMap;
        if (s.requestId !== null && ev.id !== s.requestId) return;
        if (ev.result) patch({ status: 'ready', result: ev.result, error: null, requestId: null, colouring: ev.result.clusters ? s.colouring : 'class' });
        else patch({ status: 'error', error: ev.error ?? 'The embedding map could not be computed.', requestId: null });
      },
    },

    restart: () => ({ embeddingMap: { ...IDLE } }),
  };
}
