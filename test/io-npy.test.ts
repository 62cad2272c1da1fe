// .npy reading and writing against files numpy wrote (test/fixtures/npy, made by
// scripts/fixtures/make_npy_fixtures.py): every supported dtype, v1/v2/v3 headers, scalars and
// empty arrays; byte-identical output to np.save; and a clear error for each thing refused.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeNpy, NpyError, parseNpy, type NpyDtype } from '../src/io/npy.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/npy/${name}`, import.meta.url)));

/** What the fixture script stored: element i is (3i − 7) in the dtype (bool: i % 3 == 0). */
function expectedValues(dtype: NpyDtype, n: number): (number | bigint)[] {
  return Array.from({ length: n }, (_, i) => {
    const v = 3 * i - 7;
    switch (dtype) {
      case 'uint8': return ((v % 256) + 256) % 256;
      case 'uint32': return v >>> 0;
      case 'int64': return BigInt(v);
      case 'bool': return i % 3 === 0 ? 1 : 0;
      default: return v;
    }
  });
}

const CASES: [string, NpyDtype, number[], string][] = [
  ['f4.npy', 'float32', [2, 3, 4], 'Float32Array'],
  ['f8.npy', 'float64', [5], 'Float64Array'],
  ['u1.npy', 'uint8', [10, 4, 4, 3], 'Uint8Array'],
  ['i4.npy', 'int32', [3, 7], 'Int32Array'],
  ['i8.npy', 'int64', [2, 2], 'BigInt64Array'],
  ['u4.npy', 'uint32', [6], 'Uint32Array'],
  ['b1.npy', 'bool', [7], 'Uint8Array'],
];

describe('parseNpy on numpy-written files', () => {
  test.each(CASES)('%s → %s %j', (file, dtype, shape, arrayType) => {
    const a = parseNpy(fixture(file), file);
    expect(a.dtype).toBe(dtype);
    expect(a.shape).toEqual(shape);
    expect(a.data.constructor.name).toBe(arrayType);
    expect(Array.from(a.data as ArrayLike<number | bigint>)).toEqual(expectedValues(dtype, a.data.length));
  });

  test('scalar (shape ()), empty (0×5), and v2.0 / v3.0 headers', () => {
    const scalar = parseNpy(fixture('f8_scalar.npy'));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data as Float64Array)).toEqual([2.5]);
    const empty = parseNpy(fixture('f4_empty.npy'));
    expect(empty.shape).toEqual([0, 5]);
    expect(empty.data.length).toBe(0);
    for (const v of ['f4_v2.npy', 'f4_v3.npy']) {
      const a = parseNpy(fixture(v), v);
      expect(a.shape).toEqual([3, 2]);
      expect(Array.from(a.data as Float32Array)).toEqual(expectedValues('float32', 6));
    }
  });

  test('data at an unaligned offset inside a larger buffer is still read correctly', () => {
    const bytes = fixture('f8.npy');
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(Array.from(parseNpy(padded.subarray(3)).data as Float64Array)).toEqual([-7, -4, -1, 2, 5]);
  });
});

describe('encodeNpy', () => {
  test.each(CASES)('%s: byte-identical to np.save, and round-trips', (file, dtype) => {
    const original = fixture(file);
    const a = parseNpy(original);
    const encoded = encodeNpy(a.data, a.shape, dtype);
    expect(Buffer.from(encoded).equals(Buffer.from(original))).toBe(true);
    expect(parseNpy(encoded)).toEqual(a);
  });

  test('scalar and empty arrays are byte-identical too', () => {
    for (const file of ['f8_scalar.npy', 'f4_empty.npy']) {
      const a = parseNpy(fixture(file));
      expect(Buffer.from(encodeNpy(a.data, a.shape)).equals(Buffer.from(fixture(file))), file).toBe(true);
    }
  });

  test('a header over 64 KiB switches to a v2.0 header (uint32 length), which reads back', () => {
    const shape = new Array<number>(30000).fill(1);
    const bytes = encodeNpy(Float32Array.of(4.5), shape);
    expect([bytes[6], bytes[7]]).toEqual([2, 0]);
    expect((12 + new DataView(bytes.buffer).getUint32(8, true)) % 64).toBe(0);
    // numpy's own header cap (10000 bytes) refuses it unless raised, as np.load's max_header_size.
    expect(() => parseNpy(bytes, 'wide.npy')).toThrow(/^wide\.npy: header of \d+ bytes exceeds the 10000-byte limit numpy itself applies/);
    const back = parseNpy(bytes, 'wide.npy', { maxHeaderSize: 1 << 20 });
    expect(back.shape.length).toBe(30000);
    expect(Array.from(back.data as Float32Array)).toEqual([4.5]);
  });

  test('a subarray view writes only its own elements', () => {
    const big = Float32Array.from([9, 1, 2, 3, 9]);
    expect(Array.from(parseNpy(encodeNpy(big.subarray(1, 4), [3])).data as Float32Array)).toEqual([1, 2, 3]);
  });

  test('refuses a shape that does not match the data, and bool from a non-byte array', () => {
    expect(() => encodeNpy(new Float32Array(6), [2, 4])).toThrow(/shape \[2,4\] holds 8 elements but the data has 6/);
    expect(() => encodeNpy(new Float32Array(2), [2], 'bool')).toThrow(/dtype bool does not match a Float32Array/);
  });
});

describe('parseNpy refuses, saying what was wrong and what was expected', () => {
  const valid = () => encodeNpy(new Uint8Array(10 * 32 * 32 * 3), [10, 32, 32, 3]);

  test('a truncated file', () => {
    const bytes = valid();
    const headerEnd = bytes.length - 30720;
    expect(() => parseNpy(bytes.subarray(0, headerEnd + 3000), 'images.npy')).toThrow(
      'images.npy: data holds 3000 bytes but shape [10,32,32,3] of uint8 needs 30720 (file truncated?)',
    );
  });

  test('extra bytes after the data', () => {
    const bytes = encodeNpy(new Float32Array(4), [4]);
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => parseNpy(longer, 'x.npy')).toThrow('x.npy: data holds 20 bytes but shape [4] of float32 needs 16 (header shape wrong, or extra bytes after the array?)');
  });

  test('bad magic, unknown version, header running past the end', () => {
    expect(() => parseNpy(new TextEncoder().encode('PK\x03\x04 this is a zip file'), 'a.npz')).toThrow(/a\.npz: not a \.npy file \(expected the magic bytes 93 4e 55 4d 50 59/);
    expect(() => parseNpy(new Uint8Array(0), 'empty.npy')).toThrow(/found an empty file/);
    const v9 = valid();
    v9[6] = 9;
    expect(() => parseNpy(v9, 'v9.npy')).toThrow(/unsupported \.npy format version 9\.0 \(expected 1\.0, 2\.0 or 3\.0\)/);
    expect(() => parseNpy(valid().subarray(0, 40), 'cut.npy')).toThrow(/header claims 118 bytes but the file has only 30 after the preamble \(file truncated\?\)/);
  });

  test('big-endian, Fortran order, object and unsupported dtypes (numpy-written files)', () => {
    expect(() => parseNpy(fixture('f4_bigendian.npy'), 'be.npy')).toThrow(/be\.npy: big-endian dtype '>f4' is not supported/);
    expect(() => parseNpy(fixture('f4_fortran.npy'), 'f.npy')).toThrow(/f\.npy: Fortran-order \(column-major\) arrays are not supported/);
    expect(() => parseNpy(fixture('object.npy'), 'o.npy')).toThrow(/o\.npy: object dtype '\|O' cannot be read/);
    expect(() => parseNpy(fixture('f2.npy'), 'h.npy')).toThrow(/h\.npy: unsupported dtype '<f2'; supported: <f4 <f8 \|u1 <i4 <i8 <u4 \|b1/);
  });

  test('malformed headers', () => {
    const withHeader = (header: string) => {
      const text = new TextEncoder().encode(header);
      const out = new Uint8Array(10 + text.length);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length, 0]);
      out.set(text, 10);
      return out;
    };
    expect(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, }"), 'm.npy')).toThrow(/m\.npy: malformed \.npy header/);
    expect(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }"), 'm.npy')).toThrow(/header shape \[2,-1\] is not a tuple of non-negative integers/);
    expect(() => parseNpy(withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,), }"), 'm.npy')).toThrow(/structured or missing dtype/);
    expect(parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }\n")).shape).toEqual([0]);
  });

  // Issue 16, items 7 and 8: the header parser recursed (≈5000 brackets overflowed the stack and a
  // RangeError leaked without the file's name); quotes in messages were unbounded.
  const withV2Header = (header: string) => {
    const text = new TextEncoder().encode(header);
    const out = new Uint8Array(12 + text.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
    new DataView(out.buffer).setUint32(8, text.length, true);
    out.set(text, 12);
    return out;
  };

  test('deep nesting is parsed without recursion: a clean NpyError naming the file, not a RangeError', () => {
    const depth = 50_000;
    const nested = `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(depth)}${')'.repeat(depth)}, }`;
    let err: unknown;
    try {
      parseNpy(withV2Header(nested), 'deep.npy', { maxHeaderSize: 1 << 20 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NpyError);
    expect((err as Error).message).toMatch(/^deep\.npy: header shape \[\[\[\[.*… is not a tuple of non-negative integers/);
    expect((err as Error).message.length).toBeLessThan(300);
    // Unclosed: still a clean error.
    expect(() => parseNpy(withV2Header(`{'shape': ${'['.repeat(depth)}`), 'open.npy', { maxHeaderSize: 1 << 20 })).toThrow(/^open\.npy: malformed \.npy header \(unexpected end at character \d+\)/);
    // Nested lists that do parse come back whole.
    expect(parseNpy(withV2Header("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), 'x': [[1, (2,)], {'y': None}], }"), 'n.npy').shape).toEqual([0, 3]);
  });

  test("numpy's header cap: over 10000 bytes is refused before parsing; messages stay short", () => {
    const long = `{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'pad': '${'x'.repeat(20_000)}', }`;
    expect(() => parseNpy(withV2Header(long), 'long.npy')).toThrow(/^long\.npy: header of 20\d{3} bytes exceeds the 10000-byte limit numpy itself applies/);
    let msg = '';
    try {
      parseNpy(withV2Header(`{'descr': '${'<f4'.repeat(3000)}', 'fortran_order': False, 'shape': (1,), }`), 'descr.npy');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/^descr\.npy: unsupported dtype '<f4<f4.*… \(9000 characters\)'/);
    expect(msg.length).toBeLessThan(300);
    expect(() => parseNpy(withV2Header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"), 'huge.npy')).toThrow(/^huge\.npy: header shape \[4294967296,4294967296,4294967296\] of float32 needs more than 2\^53 bytes/);
  });
});

test('a Node Buffer from the shared pool parses to exactly its own data', async () => {
  const { Buffer } = await import('node:buffer');
  const { encodeNpy: enc, parseNpy: parse } = await import('../src/io/npy.ts');
  const bytes = enc(Float32Array.from({ length: 5 }, (_, i) => i + 0.5), [5]);
  // Buffer.from(array) of a small size is carved out of Node's 8 KiB pool.
  const pooled = Buffer.from(bytes);
  const arr = parse(pooled, 'pooled.npy');
  expect(arr.data.length).toBe(5);
  expect(Array.from(arr.data as Float32Array)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5]);
});
