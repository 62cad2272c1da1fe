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
/** Output chunk size of Node's inflater: large chunks keep the per-chunk overhead small. */
const NODE_CHUNK = 1 << 20;

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
  // One chunk: a plain Uint8Array view of it (Node hands out Buffers).
  if (chunks.length === 1 && chunks[0]!.length === total) return new Uint8Array(chunks[0]!.buffer, chunks[0]!.byteOffset, total);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Deflate's largest expansion (a run of one byte): about 1032 to 1. */
const DEFLATE_MAX_RATIO = 1032;

/**
 * The output size a gzip file's trailer states (ISIZE: its last 4 bytes, the size mod 2^32),
 * bounded by what its compressed length can inflate to: a hint for one allocation, never trusted
 * beyond that (a lying trailer costs at most ~1032× the file's own size, and a copy later).
 */
export function gzipSizeHint(bytes: Uint8Array): number {
  if (bytes.length < 18) return 0;
  const n = bytes.length;
  const isize = (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0;
  return Math.min(isize, DEFLATE_MAX_RATIO * n + 1024);
}

/**
 * Collects inflated chunks, running the limit's inspection and the size check as they arrive.
 * Once the head has passed inspection the output goes into one buffer of the trailer's stated
 * size (within the limit), chunk by chunk, so a valid file peaks near 1× its inflated size, not
 * 2× (a chunk list and then its concatenation); chunks are listed only until then, or when the
 * trailer was wrong (concatenated members, damage).
 */
class BoundedSink {
  private chunks: Uint8Array[] = [];
  private out: Uint8Array | null = null;
  total = 0;
  private max: number;
  private inspected: boolean;
  private readonly headBytes: number;

  constructor(
    private readonly limit: InflateLimit,
    private readonly file: string,
    /** The trailer's stated output size (gzipSizeHint), 0 when none. */
    private readonly sizeHint = 0,
  ) {
    this.max = limit.maxBytes;
    this.inspected = !limit.inspect;
    this.headBytes = limit.inspect ? Math.max(1, limit.headBytes ?? 1) : 0;
  }

  /** Adds a chunk; throws a DatasetError when the output passes the limit or the head is refused. */
  push(chunk: Uint8Array): void {
    if (this.out && this.total + chunk.length <= this.out.length) this.out.set(chunk, this.total);
    else {
      if (this.out) {
        // The trailer understated the size: back to a list, starting with what is in the buffer.
        this.chunks = [this.out.subarray(0, this.total)];
        this.out = null;
      }
      this.chunks.push(chunk);
    }
    this.total += chunk.length;
    if (!this.inspected && this.total >= this.headBytes) this.inspect();
    if (this.total > this.max) {
      throw new DatasetError(this.file, `inflates to more than ${this.max} bytes, more than ${this.limit.what} can hold; refused while decompressing (a damaged file or a gzip bomb)`);
    }
    // After the inspection, a plausible hint: move to one buffer of that size.
    if (this.inspected && !this.out && this.chunks.length && this.sizeHint > this.total && this.sizeHint <= this.max) {
      this.out = new Uint8Array(this.sizeHint);
      let o = 0;
      for (const c of this.chunks) {
        this.out.set(c, o);
        o += c.length;
      }
      this.chunks = [];
    }
  }

  /** The whole output (after the inspection, if the output was shorter than its head). */
  finish(): Uint8Array {
    if (!this.inspected) this.inspect();
    if (this.out) return this.total === this.out.length ? this.out : this.out.slice(0, this.total);
    return concat(this.chunks, this.total);
  }

  private inspect(): void {
    this.inspected = true;
    const head = (this.out ? this.out.subarray(0, this.total) : concat(this.chunks, this.total)).subarray(0, this.headBytes);
    const tighter = this.limit.inspect!(head);
    if (typeof tighter === 'number') this.max = Math.min(this.max, tighter);
  }
}

function corrupt(file: string, e: unknown): DatasetError {
  // Chrome reports a bad stream as a network error ("Failed to fetch"), which would mislead.
  const said = String((e as Error)?.message ?? e);
  const detail = /fetch|network/i.test(said) ? '' : ` (${said})`;
  return new DatasetError(file, `corrupt or truncated gzip data${detail}; download the file again`);
}

interface NodeZlib {
  createGunzip(opts: { chunkSize: number }): {
    on(event: 'data', f: (chunk: Uint8Array) => void): void;
    on(event: 'error', f: (e: Error) => void): void;
    on(event: 'end', f: () => void): void;
    end(bytes: Uint8Array): void;
    destroy(): void;
  };
}

/** node:zlib when running in Node (no import, so the page's bundle never sees it). */
function nodeZlib(): NodeZlib | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (proc?.getBuiltinModule?.('node:zlib') as NodeZlib | undefined) ?? null;
}

/** Node: a zlib stream with 1 MiB output chunks, destroyed as soon as the sink refuses. */
function inflateNode(zlib: NodeZlib, bytes: Uint8Array, sink: BoundedSink, file: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const z = zlib.createGunzip({ chunkSize: NODE_CHUNK });
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      z.destroy();
      reject(e);
    };
    z.on('data', (chunk) => {
      if (settled) return;
      try {
        sink.push(chunk);
      } catch (e) {
        fail(e);
      }
    });
    z.on('error', (e) => fail(corrupt(file, e)));
    z.on('end', () => {
      if (settled) return;
      try {
        const out = sink.finish();
        settled = true;
        resolve(out);
      } catch (e) {
        fail(e);
      }
    });
    z.end(bytes);
  });
}

/** Browsers and workers: DecompressionStream, read chunk by chunk and cancelled on refusal. */
async function inflateWeb(bytes: Uint8Array, sink: BoundedSink, file: string): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new DatasetError(file, 'this environment has no DecompressionStream (needs Node ≥ 18 or Chrome ≥ 80) to read .gz files');
  }
  const reader = feed(bytes).pipeThrough(new DecompressionStream('gzip')).getReader();
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        throw corrupt(file, e);
      }
      if (next.done) break;
      sink.push(next.value);
    }
    return sink.finish();
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
}

/**
 * Decompresses a gzip file, refusing it while inflating once the output passes `limit`; errors
 * (bad header, corrupt, truncated or too large data, or what `limit.inspect` refuses) name `file`.
 * In Node through node:zlib (large output chunks: inflating a 185 MB limit costs well under a
 * second), elsewhere through DecompressionStream; the same checks either way.
 */
export async function gunzip(bytes: Uint8Array, file: string, limit: InflateLimit = DEFAULT_INFLATE_LIMIT): Promise<Uint8Array> {
  if (!isGzip(bytes)) {
    const got = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing';
    throw new DatasetError(file, `not a gzip file (expected the magic bytes 1f 8b, got ${got})`);
  }
  const sink = new BoundedSink(limit, file, gzipSizeHint(bytes));
  const zlib = nodeZlib();
  return zlib ? inflateNode(zlib, bytes, sink, file) : inflateWeb(bytes, sink, file);
}

/** The DecompressionStream path on its own (what the page uses), for tests in Node. */
export function gunzipWeb(bytes: Uint8Array, file: string, limit: InflateLimit = DEFAULT_INFLATE_LIMIT): Promise<Uint8Array> {
  if (!isGzip(bytes)) return gunzip(bytes, file, limit);
  return inflateWeb(bytes, new BoundedSink(limit, file, gzipSizeHint(bytes)), file);
}

/** Decompresses when the bytes are gzip, else returns them unchanged (for `.gz` or raw files). */
export async function maybeGunzip(bytes: Uint8Array, file: string, limit: InflateLimit = DEFAULT_INFLATE_LIMIT): Promise<Uint8Array> {
  if (isGzip(bytes)) return gunzip(bytes, file, limit);
  if (/\.gz$/i.test(file)) return gunzip(bytes, file, limit); // named .gz but not gzip: say so
  return bytes;
}
