// A small reader for ustar / GNU tar archives (what `tar czf` and the CIFAR-10 tarball use):
// 512-byte headers, octal sizes (or GNU base-256), header checksums verified, non-regular entries
// (directories, links, pax global headers) skipped, GNU long names and pax `path` honoured.
// Entries are views into the archive's bytes (no copies).
import { DatasetError } from './dataset.ts';

export interface TarEntry {
  /** Full path inside the archive (prefix/name), e.g. "cifar-10-batches-bin/data_batch_1.bin". */
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function cstring(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return decoder.decode(b.subarray(off, end));
}

function numberField(b: Uint8Array, off: number, len: number, archive: string, what: string, at: number): number {
  if (b[off]! & 0x80) {
    // GNU base-256: big-endian, high bit of the first byte set.
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const text = cstring(b, off, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new DatasetError(archive, `corrupt tar header at byte ${at}: ${what} "${text}" is not an octal number`);
  return parseInt(text, 8);
}

function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function paxPath(data: Uint8Array): string | null {
  // Records: "<len> <key>=<value>\n".
  const text = decoder.decode(data);
  let i = 0;
  let path: string | null = null;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

function checkHeaderChecksum(bytes: Uint8Array, off: number, archive: string): void {
  const stored = numberField(bytes, off + 148, 8, archive, 'checksum', off);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : bytes[off + i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new DatasetError(archive, `corrupt tar header at byte ${off}: checksum ${stored} does not match the header's ${unsigned} (damaged archive?)`);
  }
}

/**
 * Checks an archive's first 512-byte block while it is still being decompressed: a header whose
 * checksum holds, or else a DatasetError (an all-zero block is an empty archive). Lets a .tar.gz
 * of garbage, or a gzip bomb of zeros, be refused after its first block.
 */
export function checkTarStart(head: Uint8Array, archive: string): void {
  if (head.length < BLOCK) return; // too short: readTar says so with the whole (short) archive
  if (isZeroBlock(head, 0)) throw new DatasetError(archive, 'the tar archive is empty (its first header block is all zeros)');
  checkHeaderChecksum(head, 0, archive);
}

/** The size of one tar block (headers and data padding). */
export const TAR_BLOCK = BLOCK;

/** Lists the regular files of a tar archive. Throws a DatasetError naming `archive` on damage. */
export function readTar(bytes: Uint8Array, archive: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let off = 0;
  let longName: string | null = null;
  let sawEnd = false;
  while (off + BLOCK <= bytes.length) {
    if (isZeroBlock(bytes, off)) {
      sawEnd = true;
      break;
    }
    checkHeaderChecksum(bytes, off, archive);
    const size = numberField(bytes, off + 124, 12, archive, 'size', off);
    const type = String.fromCharCode(bytes[off + 156]!);
    const magic = cstring(bytes, off + 257, 6);
    const prefix = magic.startsWith('ustar') ? cstring(bytes, off + 345, 155) : '';
    let name = cstring(bytes, off, 100);
    if (prefix) name = `${prefix}/${name}`;
    const start = off + BLOCK;
    if (start + size > bytes.length) {
      throw new DatasetError(archive, `truncated tar archive: entry "${longName ?? name}" needs ${size} bytes at byte ${start}, but the archive ends at ${bytes.length}`);
    }
    const data = bytes.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = cstring(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === '0' || type === '\0' || type === '7') entries.push({ name: longName ?? name, data });
    longName = null;
  }
  if (!sawEnd && off < bytes.length) {
    throw new DatasetError(archive, `truncated tar archive: ${bytes.length - off} stray bytes at the end (not a whole 512-byte header)`);
  }
  if (entries.length === 0 && bytes.length > 0 && !sawEnd) throw new DatasetError(archive, 'not a tar archive (no header found)');
  return entries;
}
