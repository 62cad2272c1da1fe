// safetensors files: read and write, in the browser and in Node (bytes in, bytes out; no fs).
//
// Format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"key": "value", …}, "name": {"dtype": "F32", "shape": [2, 3],
//    "data_offsets": [begin, end]}, …}
// then the tensors' bytes; offsets are relative to the end of the header. The reference
// implementation requires the tensors to tile the data area exactly (no gaps, no overlaps, no
// trailing bytes); this reader requires the same, so anything it accepts PyTorch accepts too.
//
// Writing follows the reference writer: tensors ordered by dtype (widest first, in the
// reference's enum order, so every tensor is aligned to its element size) and then by name,
// the header listed in that order with __metadata__ first (its keys sorted), and padded with
// spaces to a multiple of 8 bytes. (The reference keeps metadata in a hash map, so its key
// order varies; we sort it, so our output for given inputs is always the same bytes.)
//
// F16 and BF16 tensors are widened to Float32Array on reading (`dtype` still says what the
// file stored); on writing, Float32Array data is rounded to them, to nearest even.

import { f16BitsToF32, f32ToF16Bits } from './half.ts';
import { clip, quote } from './messages.ts';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

/** What parseSafetensors throws: the message starts with the file's name. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** What parseSafetensors returns: arrays over their own ArrayBuffer (they upload to a GPUBuffer as is). */
export type SafetensorsData = Float64Array<ArrayBuffer> | Float32Array<ArrayBuffer> | BigInt64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

/** What encodeSafetensors accepts: any such array, views included. */
export type SafetensorsInputData = Float64Array | Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface SafeTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: SafetensorsData;
}

/** A tensor to write; `dtype` defaults to the typed array's own (Float32Array → F32, …). */
export interface SafeTensorInput {
  dtype?: SafetensorsDtype;
  shape: number[];
  data: SafetensorsInputData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

interface DtypeInfo {
  bytes: number;
  /** Position in the reference's Dtype enum; the writer sorts descending on it. */
  rank: number;
  /** The typed array this dtype is read into. */
  array: string;
}

const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  U8: { bytes: 1, rank: 1, array: 'Uint8Array' },
  F16: { bytes: 2, rank: 7, array: 'Float32Array' },
  BF16: { bytes: 2, rank: 8, array: 'Float32Array' },
  I32: { bytes: 4, rank: 9, array: 'Int32Array' },
  F32: { bytes: 4, rank: 11, array: 'Float32Array' },
  F64: { bytes: 8, rank: 12, array: 'Float64Array' },
  I64: { bytes: 8, rank: 13, array: 'BigInt64Array' },
};

const SUPPORTED = Object.keys(DTYPES).join(', ');
/** The reference reader refuses headers over 100 MB; a bigger one is a corrupt length. */
const MAX_HEADER = 100_000_000;

// ---------------------------------------------------------------------------------------------
// bfloat16 ↔ float32 (IEEE binary16: src/io/half.ts).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16ToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

function floatToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------------------------------------

function shapeText(shape: number[]): string {
  return `[${shape.join(',')}]`;
}

/** Is `dtype` one of ours (an own key of DTYPES: "constructor" or "__proto__" are not)? */
function isDtype(dtype: unknown): dtype is SafetensorsDtype {
  return typeof dtype === 'string' && Object.hasOwn(DTYPES, dtype);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function decodeTensor(dtype: SafetensorsDtype, raw: Uint8Array): SafetensorsData {
  // Copy into a fresh, aligned ArrayBuffer (data offsets need not be aligned). Not raw.slice():
  // on a Node Buffer that is a view whose .buffer is Node's shared pool.
  const buf = new Uint8Array(raw).buffer;
  switch (dtype) {
    case 'F64': return new Float64Array(buf);
    case 'F32': return new Float32Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'U8': return new Uint8Array(buf);
    case 'F16':
    case 'BF16': {
      const halves = new Uint16Array(buf);
      const out = new Float32Array(halves.length);
      const widen = dtype === 'F16' ? f16BitsToF32 : bf16ToFloat;
      for (let i = 0; i < halves.length; i++) out[i] = widen(halves[i]!);
      return out;
    }
  }
}

/** Reads a whole safetensors file. Throws a SafetensorsError naming `name` and the problem on anything malformed. */
export function parseSafetensors(bytes: Uint8Array, name = 'model.safetensors'): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(name, `file is ${bytes.length} bytes, too short for the 8-byte safetensors header length (file truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLength > bytes.length - 8) {
    throw new SafetensorsError(name, `header length ${headerLength} runs past the end of the file (${bytes.length - 8} bytes follow the length; file truncated, or not a safetensors file?)`);
  }
  if (headerLength > MAX_HEADER) throw new SafetensorsError(name, `header length ${headerLength} exceeds the ${MAX_HEADER}-byte limit of the reference implementation`);
  const headerText = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(8, 8 + headerLength));
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    throw new SafetensorsError(name, `header is not valid JSON (${clip((e as Error).message)}); starts ${JSON.stringify(headerText.slice(0, 60))}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new SafetensorsError(name, `header must be a JSON object, got ${JSON.stringify(headerText.slice(0, 60))}`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { key: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];

  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SafetensorsError(name, `__metadata__ must be an object of strings`);
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw new SafetensorsError(name, `__metadata__["${clip(mk)}"] must be a string, got ${quote(mv)}`);
        // defineProperty, so a key such as "__proto__" is stored as data, not as a prototype.
        Object.defineProperty(metadata, mk, { value: mv, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const t = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (t === null || typeof t !== 'object') throw new SafetensorsError(name, `tensor "${clip(key)}" entry must be an object with dtype, shape and data_offsets`);
    if (!isDtype(t.dtype)) {
      throw new SafetensorsError(name, `tensor "${clip(key)}" has unsupported dtype ${quote(t.dtype)}; supported: ${SUPPORTED}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInt)) {
      throw new SafetensorsError(name, `tensor "${clip(key)}" shape ${quote(t.shape)} must be an array of non-negative integers`);
    }
    const offsets = t.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
      throw new SafetensorsError(name, `tensor "${clip(key)}" data_offsets ${quote(offsets)} must be [begin, end], non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    const dtype = t.dtype as SafetensorsDtype;
    const shape = t.shape as number[];
    if (end < begin) throw new SafetensorsError(name, `tensor "${clip(key)}" data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      throw new SafetensorsError(name, `tensor "${clip(key)}" data_offsets [${begin}, ${end}] run past the data area of ${dataLength} bytes (file truncated?)`);
    }
    const needed = shape.includes(0) ? 0 : shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].bytes;
    if (!Number.isSafeInteger(needed)) throw new SafetensorsError(name, `tensor "${clip(key)}" shape ${clip(shapeText(shape))} of ${dtype} needs more than 2^53 bytes (a damaged header?)`);
    if (end - begin !== needed) {
      throw new SafetensorsError(name, `tensor "${clip(key)}" holds ${end - begin} bytes but shape ${clip(shapeText(shape))} of ${dtype} needs ${needed}`);
    }
    entries.push({ key, dtype, shape, begin, end });
  }

  // The tensors must tile the data area: sorted by offset, each starts where the last ended.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '';
  for (const e of byOffset) {
    if (e.begin < cursor) throw new SafetensorsError(name, `tensor "${clip(e.key)}" bytes [${e.begin}, ${e.end}) overlap tensor "${clip(previous)}" which ends at ${cursor}`);
    if (e.begin > cursor) throw new SafetensorsError(name, `${e.begin - cursor} unused bytes before tensor "${clip(e.key)}" at offset ${cursor} (the format requires tensors to be contiguous)`);
    cursor = e.end;
    previous = e.key;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(name, `the tensors cover ${cursor} bytes of data but ${dataLength} follow the header (extra bytes at the end, or a missing tensor entry?)`);
  }

  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data: decodeTensor(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end)) });
  }
  return { tensors, metadata };
}

function defaultDtype(data: SafetensorsInputData): SafetensorsDtype {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint8Array) return 'U8';
  throw new Error(`encodeSafetensors: unsupported array type ${(data as object).constructor?.name}`);
}

function encodeTensor(key: string, dtype: SafetensorsDtype, data: SafetensorsInputData): Uint8Array {
  const wanted = DTYPES[dtype].array;
  if (Object.prototype.toString.call(data) !== `[object ${wanted}]`) {
    throw new Error(`encodeSafetensors: tensor "${key}" of dtype ${dtype} needs a ${wanted}, got a ${data.constructor.name}`);
  }
  if (dtype === 'F16' || dtype === 'BF16') {
    const narrow = dtype === 'F16' ? f32ToF16Bits : floatToBf16;
    const halves = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) halves[i] = narrow(data[i] as number);
    return new Uint8Array(halves.buffer);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Encodes tensors (and string metadata) as a safetensors file, laid out as the reference writer
 * lays it out (see the file header). Throws if a tensor's shape does not match its data or its dtype its array type.
 */
export function encodeSafetensors(
  tensors: Map<string, SafeTensorInput> | Record<string, SafeTensorInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].map(([key, t]) => {
    if (key === '__metadata__') throw new Error('encodeSafetensors: "__metadata__" is reserved and cannot name a tensor');
    const dtype = t.dtype ?? defaultDtype(t.data);
    if (!isDtype(dtype)) throw new Error(`encodeSafetensors: tensor "${key}" has unsupported dtype ${dtype}; supported: ${SUPPORTED}`);
    if (!t.shape.every(isNonNegativeInt)) throw new Error(`encodeSafetensors: tensor "${key}" shape ${shapeText(t.shape)} must be non-negative integers`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`encodeSafetensors: tensor "${key}" shape ${shapeText(t.shape)} holds ${count} elements but its data has ${t.data.length}`);
    return { key, dtype, shape: t.shape, bytes: encodeTensor(key, dtype, t.data) };
  });
  list.sort((a, b) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  // The JSON is assembled by hand: a JS object would move integer-like keys ("0") to the front.
  const parts: string[] = [];
  const metaKeys = Object.keys(metadata).sort();
  if (metaKeys.length) {
    const fields = metaKeys.map((k) => {
      if (typeof metadata[k] !== 'string') throw new Error(`encodeSafetensors: metadata "${k}" must be a string, got ${typeof metadata[k]}`);
      return `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`;
    });
    parts.push(`"__metadata__":{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const t of list) {
    parts.push(`${JSON.stringify(t.key)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + t.bytes.length}]}`);
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const t of list) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}
