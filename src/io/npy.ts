// NumPy .npy files: read and write, in the browser and in Node (bytes in, bytes out; no fs).
//
// Format (numpy/lib/format.py): the magic "\x93NUMPY", a major and minor version byte, the
// header length (uint16 LE for v1.0, uint32 LE for v2.0 and v3.0), then the header: a Python
// dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (10, 32, 32, 3), }
// (latin-1 in v1/v2, UTF-8 in v3), padded with spaces and a final '\n', then the raw data.
//
// Only C-order, little-endian, plain numeric dtypes are accepted; everything else is refused
// with a message that names the file, what was found and what was expected. Data is copied
// into a fresh, aligned typed array (the file's data offset need not be a multiple of 8), and
// read as little-endian: every WebGPU host (x86-64, ARM64, wasm) is little-endian.
import { clip, quote } from './messages.ts';

export type NpyDtype = 'float32' | 'float64' | 'uint8' | 'int32' | 'int64' | 'uint32' | 'bool';

/** What parseNpy returns: arrays over their own ArrayBuffer (so they upload to a GPUBuffer as is). */
export type NpyData =
  | Float32Array<ArrayBuffer>
  | Float64Array<ArrayBuffer>
  | Uint8Array<ArrayBuffer>
  | Int32Array<ArrayBuffer>
  | BigInt64Array<ArrayBuffer>
  | Uint32Array<ArrayBuffer>;

/** What encodeNpy accepts: any such array, views included. */
export type NpyInput = Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array | Uint32Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** C-order elements; `bool` arrays come as 0/1 bytes in a Uint8Array. */
  data: NpyData;
}

interface DtypeInfo {
  dtype: NpyDtype;
  /** The descr numpy itself writes for this dtype. */
  descr: string;
  bytes: number;
  fromBuffer: (buffer: ArrayBuffer) => NpyData;
}

const DTYPES: DtypeInfo[] = [
  { dtype: 'float32', descr: '<f4', bytes: 4, fromBuffer: (b) => new Float32Array(b) },
  { dtype: 'float64', descr: '<f8', bytes: 8, fromBuffer: (b) => new Float64Array(b) },
  { dtype: 'uint8', descr: '|u1', bytes: 1, fromBuffer: (b) => new Uint8Array(b) },
  { dtype: 'int32', descr: '<i4', bytes: 4, fromBuffer: (b) => new Int32Array(b) },
  { dtype: 'int64', descr: '<i8', bytes: 8, fromBuffer: (b) => new BigInt64Array(b) },
  { dtype: 'uint32', descr: '<u4', bytes: 4, fromBuffer: (b) => new Uint32Array(b) },
  { dtype: 'bool', descr: '|b1', bytes: 1, fromBuffer: (b) => new Uint8Array(b) },
];

const SUPPORTED = DTYPES.map((d) => d.descr).join(' ');
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** numpy pads the header so the data starts on a 64-byte boundary. */
const ARRAY_ALIGN = 64;
/** numpy leaves room for the first axis to grow to this many digits (np.save since 1.22). */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** Finds the dtype for a descr, accepting '<', '|' and (for one-byte types) '=' or no prefix. */
function lookupDescr(descr: string, name: string): DtypeInfo {
  const order = descr[0];
  const code = '<>|=!'.includes(order ?? '') ? descr.slice(1) : descr;
  const oneByte = code === 'u1' || code === 'b1';
  if ((order === '>' || order === '!') && !oneByte) {
    throw new NpyError(name, `big-endian dtype '${clip(descr)}' is not supported; save it little-endian (e.g. arr.astype('<${code}')) — supported: ${SUPPORTED}`);
  }
  if (code.startsWith('O')) throw new NpyError(name, `object dtype '${clip(descr)}' cannot be read (it holds pickled Python objects); supported: ${SUPPORTED}`);
  const found = DTYPES.find((d) => d.descr.slice(1) === code);
  if (!found || (!oneByte && order !== '<' && order !== '=')) {
    throw new NpyError(name, `unsupported dtype '${clip(descr)}'; supported: ${SUPPORTED}`);
  }
  return found;
}

/** What parseNpy throws: the message starts with the file's name. */
export class NpyError extends Error {
  override name = 'NpyError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/**
 * numpy's own limit on the header (numpy/lib/format.py `_MAX_HEADER_SIZE`, numpy ≥ 1.24): longer
 * headers "may not be safe to load securely" and np.load refuses them unless `max_header_size`
 * is raised; parseNpy does the same (its `maxHeaderSize` option).
 */
export const NPY_MAX_HEADER_SIZE = 10000;

// ---------------------------------------------------------------------------------------------
// A parser for the small subset of Python literals an .npy header uses: dicts, tuples, lists,
// strings, integers, True / False / None. Iterative, with an explicit stack: nesting depth is
// bounded only by the header's length, never by the JavaScript call stack.

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

type Frame = { kind: 'dict'; value: { [k: string]: PyValue }; key: string | null } | { kind: 'seq'; value: PyValue[]; close: string };

function parsePythonLiteral(text: string, name: string): PyValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new NpyError(name, `malformed .npy header (${what} at character ${i}): ${clip(JSON.stringify(text.trim()))}`);
  };
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const scalar = (): PyValue => {
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const word = /^(-?\d+L?|True|False|None)/.exec(text.slice(i, i + 32));
    if (!word) return fail(c === undefined ? 'unexpected end' : 'unexpected character');
    i += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace('L', ''));
  };
  const stack: Frame[] = [];
  let result: PyValue | undefined;
  // Where a finished value goes: the enclosing container, or the result.
  const place = (v: PyValue) => {
    const top = stack[stack.length - 1];
    if (!top) {
      result = v;
      return;
    }
    if (top.kind === 'seq') top.value.push(v);
    else if (top.key === null) {
      if (typeof v !== 'string') fail('dict key is not a string');
      top.key = v as string;
      skipSpace();
      if (text[i] !== ':') fail("expected ':'");
      i++;
    } else {
      // defineProperty, so a key such as "__proto__" is stored as data, not as a prototype.
      Object.defineProperty(top.value, top.key, { value: v, enumerable: true, writable: true, configurable: true });
      top.key = null;
    }
  };
  // After a value inside a container: a separator or the container's end.
  const afterValue = (): void => {
    const top = stack[stack.length - 1];
    if (!top || (top.kind === 'dict' && top.key !== null)) return;
    skipSpace();
    const close = top.kind === 'dict' ? '}' : top.close;
    if (text[i] === ',') i++;
    else if (text[i] !== close) fail(`expected ',' or '${close}'`);
  };
  for (;;) {
    skipSpace();
    const top = stack[stack.length - 1];
    const c = text[i];
    if (top && c === (top.kind === 'dict' ? '}' : top.close) && (top.kind !== 'dict' || top.key === null)) {
      i++;
      stack.pop();
      place(top.value);
    } else if (c === '{') {
      i++;
      stack.push({ kind: 'dict', value: {}, key: null });
      continue;
    } else if (c === '(' || c === '[') {
      i++;
      stack.push({ kind: 'seq', value: [], close: c === '(' ? ')' : ']' });
      continue;
    } else place(scalar());
    if (stack.length === 0) break;
    afterValue();
  }
  skipSpace();
  if (i !== text.length) fail('trailing text');
  return result!;
}

function describeShape(shape: number[]): string {
  return `[${shape.join(',')}]`;
}

export interface NpyReadOptions {
  /** The longest header accepted (numpy's `max_header_size`); default NPY_MAX_HEADER_SIZE, numpy's. */
  maxHeaderSize?: number;
}

/** Reads a whole .npy file. Throws an NpyError naming `name` and the problem on anything unsupported. */
export function parseNpy(bytes: Uint8Array, name = 'array.npy', opts: NpyReadOptions = {}): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, k) => bytes[k] !== m)) {
    const head = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new NpyError(name, `not a .npy file (expected the magic bytes 93 4e 55 4d 50 59 "\\x93NUMPY", found ${head || 'an empty file'})`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) throw new NpyError(name, `unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new NpyError(name, `file ends inside the .npy preamble (${bytes.length} bytes)`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthBytes;
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    throw new NpyError(name, `header claims ${headerLength} bytes but the file has only ${bytes.length - headerStart} after the preamble (file truncated?)`);
  }
  const maxHeader = opts.maxHeaderSize ?? NPY_MAX_HEADER_SIZE;
  if (headerLength > maxHeader) {
    throw new NpyError(name, `header of ${headerLength} bytes exceeds the ${maxHeader}-byte limit numpy itself applies (np.load's max_header_size); a damaged or hostile file?`);
  }
  const headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const header = parsePythonLiteral(headerText, name);
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new NpyError(name, `.npy header is not a dict: ${clip(JSON.stringify(headerText.trim()))}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = header;
  if (typeof descr !== 'string') {
    throw new NpyError(name, `structured or missing dtype ${quote(descr)} is not supported; expected a plain dtype, one of ${SUPPORTED}`);
  }
  if (fortranOrder !== false) {
    throw new NpyError(name, `Fortran-order (column-major) arrays are not supported; expected fortran_order False — save np.ascontiguousarray(arr)`);
  }
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw new NpyError(name, `header shape ${quote(shape)} is not a tuple of non-negative integers`);
  }
  const dims = shape as number[];
  const info = lookupDescr(descr, name);
  const count = dims.reduce((a, b) => a * b, 1);
  const needed = count * info.bytes;
  const held = bytes.length - dataStart;
  if (!Number.isSafeInteger(needed)) throw new NpyError(name, `header shape ${clip(describeShape(dims))} of ${info.dtype} needs more than 2^53 bytes (a damaged header?)`);
  if (held !== needed) {
    const hint = held < needed ? ' (file truncated?)' : ' (header shape wrong, or extra bytes after the array?)';
    throw new NpyError(name, `data holds ${held} bytes but shape ${clip(describeShape(dims))} of ${info.dtype} needs ${needed}${hint}`);
  }
  // Copy into a fresh ArrayBuffer, so the typed array is aligned whatever the offset. Not
  // bytes.slice(): on a Node Buffer that is a view whose .buffer is Node's shared pool.
  const data = info.fromBuffer(new Uint8Array(bytes.subarray(dataStart, dataStart + needed)).buffer);
  return { dtype: info.dtype, shape: dims, data };
}

function dtypeOf(data: NpyInput): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint32Array) return 'uint32';
  throw new Error(`encodeNpy: unsupported array type ${(data as object).constructor?.name}; expected Float32Array, Float64Array, Uint8Array, Int32Array, BigInt64Array or Uint32Array`);
}

/** Python's repr of a shape tuple: (), (3,), (10, 32, 32, 3). */
function shapeRepr(shape: number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/**
 * Encodes a C-order array as .npy, byte-for-byte as numpy 1.24's np.save would (v1.0 header,
 * v2.0 when the header does not fit v1.0's 16-bit length). `dtype` defaults to the typed array's own type;
 * pass 'bool' to write a Uint8Array of 0/1 as numpy booleans.
 */
export function encodeNpy(data: NpyInput, shape: number[], dtype: NpyDtype = dtypeOf(data)): Uint8Array {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`encodeNpy: shape ${describeShape(shape)} must be non-negative integers`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeNpy: shape ${describeShape(shape)} holds ${count} elements but the data has ${data.length}`);
  const info = DTYPES.find((d) => d.dtype === dtype)!;
  if (dtype === 'bool' ? !(data instanceof Uint8Array) : dtypeOf(data) !== dtype) {
    throw new Error(`encodeNpy: dtype ${dtype} does not match a ${data.constructor.name}`);
  }
  let dict = `{'descr': '${info.descr}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const headerBytes = new TextEncoder().encode(dict); // ASCII, so latin-1 and UTF-8 agree
  const wrap = (lengthBytes: number) => {
    const preamble = 8 + lengthBytes;
    const withNewline = headerBytes.length + 1;
    const pad = ARRAY_ALIGN - ((preamble + withNewline) % ARRAY_ALIGN);
    return { preamble, total: withNewline + pad };
  };
  let major = 1;
  let { preamble, total } = wrap(2);
  if (total > 0xffff) {
    major = 2;
    ({ preamble, total } = wrap(4));
  }
  const payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(preamble + total + payload.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, total, true);
  else view.setUint32(8, total, true);
  out.fill(0x20, preamble, preamble + total - 1);
  out.set(headerBytes, preamble);
  out[preamble + total - 1] = 0x0a;
  out.set(payload, preamble + total);
  return out;
}
