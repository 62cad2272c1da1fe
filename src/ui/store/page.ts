// The real page around the store: the URL (location, history.replaceState), downloads through a
// temporary link, WebGPU's presence, and frames from requestAnimationFrame. Tests pass their own.
import type { FrameScheduler, PageEnvironment } from './types.ts';

/** Applies gathered updates at the next animation frame, or within 500 ms in a hidden tab (where rAF does not fire). */
export const animationFrames: FrameScheduler = (flush) => {
  const frame = typeof requestAnimationFrame !== 'undefined' ? requestAnimationFrame(flush) : 0;
  const timer = setTimeout(flush, 500);
  return () => {
    if (frame && typeof cancelAnimationFrame !== 'undefined') cancelAnimationFrame(frame);
    clearTimeout(timer);
  };
};

export const browserPage: PageEnvironment = {
  readSearch: () => (typeof location === 'undefined' ? '' : location.search),

  replaceSearch(search) {
    if (typeof window === 'undefined') return;
    window.history.replaceState(null, '', `${location.pathname}${search}${location.hash}`);
  },

  download(fileName, mime, bytes) {
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
    const a = document.createElement('a');
    a.href = url;
    a.download = fileName;
    a.rel = 'noopener';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  },

  missingWebGpu() {
    if (typeof navigator !== 'undefined' && navigator.gpu) return null;
    if (typeof window !== 'undefined' && !window.isSecureContext) {
      return 'This page is not a secure context, so the browser hides WebGPU (navigator.gpu is missing). Open it over https or from http://localhost.';
    }
    return 'This browser has no WebGPU (navigator.gpu is missing).';
  },
};
