// gzip through the platform's DecompressionStream (Chrome 80+, Node 18+): no dependency, the
// same code in the page, the worker and Node. Inflating is incremental and bounded: the caller
// says how many bytes its format can hold (and may tighten that from the first bytes out, e.g.
// an IDX header's dimensions, or refuse a wrong magic number there), and the stream is
// cancelled as soon as the output passes the limit, so a gzip bomb (1 MB that inflates to
// 1 GiB) is refused after at most the format's maximum, never inflated whole first.
import { DatasetError } from './dataset.ts';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** What a decompressed file may hold, checked while inflating. */
export interface InflateLimit {
  /** The most bytes the format can hold; more is refused while inflating. */
  maxBytes: number;
  /** What that maximum is, for the message ("an IDX file", "CIFAR-10's six batch files in a tar"). */
  what: string;
  /** How many leading bytes `inspect` needs (it sees fewer only when the whole output is shorter). */
  headBytes?: number;
  /**
   * Sees the first `headBytes` bytes once they are out: may throw a DatasetError (a wrong magic
   * number stops a bomb after a few bytes) or return a tighter maximum (from a header's sizes).
   */
  inspect?: (head: Uint8Array) => number | void;
}

/** With no format-specific limit: 1 GiB (above any dataset file this project reads). */
export const DEFAULT_INFLATE_LIMIT: InflateLimit = { maxBytes: 1 << 30, what: 'a dataset file' };

/** Bytes fed to the inflater at a time (it pulls more only as its output is read). */
const FEED_CHUNK = 1 << 16;

function feed(bytes: Uint8Array): ReadableStream<BufferSource> {
  let at = 0;
  return new ReadableStream<BufferSource>({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      const end = Math.min(bytes.length, at + FEED_CHUNK);
      controller.enqueue(bytes.slice(at, end));
      at = end;
    },
  });
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === total) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Decompresses a gzip file, refusing it while inflating once the output passes `limit`; errors
 * (bad header, corrupt, truncated or too large data, or what `limit.inspect` refuses) name `file`.
 */
export async function gunzip(bytes: Uint8Array, file: string, limit: InflateLimit = DEFAULT_INFLATE_LIMIT): Promise<Uint8Array> {
  if (!isGzip(bytes)) {
    const got = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing';
    throw new DatasetError(file, `not a gzip file (expected the magic bytes 1f 8b, got ${got})`);
  }
  if (typeof DecompressionStream === 'undefined') {
    throw new DatasetError(file, 'this environment has no DecompressionStream (needs Node ≥ 18 or Chrome ≥ 80) to read .gz files');
  }
  let max = limit.maxBytes;
  const headBytes = limit.inspect ? Math.max(1, limit.headBytes ?? 1) : 0;
  let inspected = !limit.inspect;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const inspect = () => {
    inspected = true;
    const head = concat(chunks, total).subarray(0, headBytes);
    const tighter = limit.inspect!(head);
    if (typeof tighter === 'number') max = Math.min(max, tighter);
  };
  const reader = feed(bytes).pipeThrough(new DecompressionStream('gzip')).getReader();
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        // Chrome reports a bad stream as a network error ("Failed to fetch"), which would mislead.
        const said = String((e as Error)?.message ?? e);
        const detail = /fetch|network/i.test(said) ? '' : ` (${said})`;
        throw new DatasetError(file, `corrupt or truncated gzip data${detail}; download the file again`);
      }
      if (next.done) break;
      chunks.push(next.value);
      total += next.value.length;
      if (!inspected && total >= headBytes) inspect();
      if (total > max) {
        throw new DatasetError(file, `inflates to more than ${max} bytes, more than ${limit.what} can hold; refused while decompressing (a damaged file or a gzip bomb)`);
      }
    }
    if (!inspected) inspect();
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  return concat(chunks, total);
}

/** Decompresses when the bytes are gzip, else returns them unchanged (for `.gz` or raw files). */
export async function maybeGunzip(bytes: Uint8Array, file: string, limit: InflateLimit = DEFAULT_INFLATE_LIMIT): Promise<Uint8Array> {
  if (isGzip(bytes)) return gunzip(bytes, file, limit);
  if (/\.gz$/i.test(file)) return gunzip(bytes, file, limit); // named .gz but not gzip: say so
  return bytes;
}
