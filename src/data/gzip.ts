// gzip through the platform's DecompressionStream (Chrome 80+, Node 18+): no dependency, the
// same code in the page, the worker and Node.
import { DatasetError } from './dataset.ts';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses a whole gzip file; errors (bad header, corrupt or truncated data) name `file`. */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) {
    const got = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing';
    throw new DatasetError(file, `not a gzip file (expected the magic bytes 1f 8b, got ${got})`);
  }
  if (typeof DecompressionStream === 'undefined') {
    throw new DatasetError(file, 'this environment has no DecompressionStream (needs Node ≥ 18 or Chrome ≥ 80) to read .gz files');
  }
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    // Chrome reports a bad stream as a network error ("Failed to fetch"), which would mislead.
    const said = (e as Error).message;
    const detail = /fetch|network/i.test(said) ? '' : ` (${said})`;
    throw new DatasetError(file, `corrupt or truncated gzip data${detail}; download the file again`);
  }
}

/** Decompresses when the bytes are gzip, else returns them unchanged (for `.gz` or raw files). */
export async function maybeGunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (isGzip(bytes)) return gunzip(bytes, file);
  if (/\.gz$/i.test(file)) return gunzip(bytes, file); // named .gz but not gzip: say so
  return bytes;
}
