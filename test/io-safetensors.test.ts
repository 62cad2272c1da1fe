// safetensors reading and writing: exact bytes of a small file, round trips of every dtype,
// F16 / BF16 conversions (all 65536 half patterns), agreement with the independent Python
// writer of scripts/fixtures/make_resnet_fixture.py, and a clear error for each malformed file.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeSafetensors, parseSafetensors, SafetensorsError } from '../src/io/safetensors.ts';

/** A file from a literal header and raw data, for crafting malformed inputs. */
function craft(header: string, data: Uint8Array = new Uint8Array(0), declaredLength = header.length): Uint8Array {
  const text = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setUint32(0, declaredLength, true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

describe('encodeSafetensors', () => {
  test('exact bytes: __metadata__ first, tensors widest dtype first then by name, header padded with spaces to 8', () => {
    const bytes = encodeSafetensors(
      { b: { shape: [2], data: Float32Array.of(1, 2) }, a: { shape: [1], data: BigInt64Array.of(5n) }, c: { shape: [2], data: Float32Array.of(3, 4) } },
      { format: 'pt' },
    );
    const header =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"c":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}';
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(padded.length);
    expect(view.getUint32(4, true)).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded.length))).toBe(padded);
    const data = bytes.subarray(8 + padded.length);
    expect(Array.from(new BigInt64Array(data.slice(0, 8).buffer))).toEqual([5n]);
    expect(Array.from(new Float32Array(data.slice(8).buffer))).toEqual([1, 2, 3, 4]);
  });

  test('no __metadata__ entry when there is no metadata; integer-like names keep their sorted place', () => {
    const bytes = encodeSafetensors(new Map([['x', { shape: [1], data: Uint8Array.of(1) }], ['0', { shape: [1], data: Uint8Array.of(2) }]]));
    const text = new TextDecoder().decode(bytes.subarray(8));
    expect(text.startsWith('{"0":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":')).toBe(true);
  });

  test('round trip of every dtype, shapes including scalars and empty tensors, and metadata', () => {
    const tensors = new Map([
      ['f64', { shape: [2, 2], data: Float64Array.of(1.5, -2, Math.PI, 1e-300) }],
      ['f32', { shape: [3], data: Float32Array.of(0.25, -8, 3) }],
      ['i64', { shape: [], data: BigInt64Array.of(-(2n ** 62n)) }],
      ['i32', { shape: [1, 2], data: Int32Array.of(-7, 2 ** 31 - 1) }],
      ['u8', { shape: [0, 4], data: new Uint8Array(0) }],
      ['f16', { dtype: 'F16' as const, shape: [3], data: Float32Array.of(1, -2.5, 65504) }],
      ['bf16', { dtype: 'BF16' as const, shape: [2], data: Float32Array.of(1, -3.140625) }],
    ]);
    const meta = { 'mira.config': JSON.stringify({ width: 0.125, mean: [0.5] }), note: 'ünïcode ✓' };
    const back = parseSafetensors(encodeSafetensors(tensors, meta));
    expect(back.metadata).toEqual(meta);
    expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const got = back.tensors.get(name)!;
      expect(got.shape, name).toEqual(t.shape);
      expect(Array.from(got.data as ArrayLike<unknown>), name).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    expect(back.tensors.get('f16')!.dtype).toBe('F16');
    expect(back.tensors.get('f16')!.data).toBeInstanceOf(Float32Array);
  });

  test('refuses mismatched shapes, wrong array types and the reserved name', () => {
    expect(() => encodeSafetensors({ w: { shape: [2, 3], data: new Float32Array(5) } })).toThrow(/"w" shape \[2,3\] holds 6 elements but its data has 5/);
    expect(() => encodeSafetensors({ w: { dtype: 'F64', shape: [2], data: new Float32Array(2) } })).toThrow(/"w" of dtype F64 needs a Float64Array, got a Float32Array/);
    expect(() => encodeSafetensors({ __metadata__: { shape: [1], data: new Uint8Array(1) } })).toThrow(/reserved/);
  });
});

describe('half-precision conversions', () => {
  /** Every one of the 65536 binary16 / bfloat16 bit patterns as a raw file of dtype `dtype`. */
  function allPatterns(dtype: 'F16' | 'BF16'): Float32Array {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const header = `{"all":{"dtype":"${dtype}","shape":[65536],"data_offsets":[0,131072]}}`;
    return parseSafetensors(craft(header, new Uint8Array(bits.buffer))).tensors.get('all')!.data as Float32Array;
  }

  test('F16: known values, and every non-NaN pattern survives decode → encode unchanged', () => {
    const v = allPatterns('F16');
    const known: [number, number][] = [[0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14], [0x7c00, Infinity], [0xfc00, -Infinity], [0x3555, 0.333251953125]];
    for (const [bits, value] of known) expect(v[bits], bits.toString(16)).toBe(value);
    expect(Object.is(v[0x8000], -0)).toBe(true);
    expect(Number.isNaN(v[0x7e00])).toBe(true);
    const finite = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((b) => !Number.isNaN(v[b]));
    const encoded = encodeSafetensors({ h: { dtype: 'F16', shape: [finite.length], data: Float32Array.from(finite, (b) => v[b]!) } });
    const raw = new Uint16Array(encoded.slice(encoded.length - 2 * finite.length).buffer);
    expect(raw).toEqual(finite);
  });

  test('F16 encoding rounds to nearest even, overflows to Inf and underflows through subnormals', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // a tie: down to the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // a tie: up to the even mantissa
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65519, 0x7bff],
      [65520, 0x7c00], // the tie above the largest half rounds to Inf
      [2 ** -25, 0x0000], // half the smallest subnormal, a tie: to zero
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // 1.5 × the smallest subnormal: a tie, to even
      [-(2 ** -14) * (1 - 2 ** -11), 0x8400], // rounds up out of the subnormals
    ];
    const bytes = encodeSafetensors({ h: { dtype: 'F16', shape: [cases.length], data: Float32Array.from(cases, (c) => c[0]) } });
    const raw = new Uint16Array(bytes.slice(bytes.length - 2 * cases.length).buffer);
    expect(Array.from(raw).map((b) => b.toString(16))).toEqual(cases.map((c) => c[1].toString(16)));
  });

  test('BF16: known values, round trip of every non-NaN pattern, ties to even', () => {
    const v = allPatterns('BF16');
    expect(v[0x3f80]).toBe(1);
    expect(v[0x4049]).toBe(3.140625);
    expect(v[0xff80]).toBe(-Infinity);
    const finite = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((b) => !Number.isNaN(v[b]));
    const encoded = encodeSafetensors({ h: { dtype: 'BF16', shape: [finite.length], data: Float32Array.from(finite, (b) => v[b]!) } });
    expect(new Uint16Array(encoded.slice(encoded.length - 2 * finite.length).buffer)).toEqual(finite);
    const ties = encodeSafetensors({ h: { dtype: 'BF16', shape: [3], data: Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, Math.PI) } });
    expect(Array.from(new Uint16Array(ties.slice(ties.length - 6).buffer))).toEqual([0x3f80, 0x3f82, 0x4049]);
  });
});

describe('parseSafetensors', () => {
  test('reads the Python-written ResNet fixture, and re-encoding it gives the same bytes (two independent writers agree)', () => {
    const original = new Uint8Array(readFileSync(new URL('./fixtures/resnet18_w16_c1.safetensors', import.meta.url)));
    const file = parseSafetensors(original, 'fixture');
    expect(file.tensors.get('encoder.conv1.weight')!.shape).toEqual([4, 1, 3, 3]);
    const again = encodeSafetensors(new Map([...file.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }])), file.metadata);
    expect(Buffer.from(again).equals(Buffer.from(original))).toBe(true);
  });

  const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';

  test.each([
    ['a file shorter than the length field', new Uint8Array(5), /m\.st: file is 5 bytes, too short for the 8-byte safetensors header length \(file truncated\?\)/],
    ['a header length beyond the file', craft(ok, new Uint8Array(8), 5000), /header length 5000 runs past the end of the file \(\d+ bytes follow the length/],
    ['bad JSON', craft('{"a": [1, 2', new Uint8Array(0)), /header is not valid JSON/],
    ['a header that is not an object', craft('[1,2,3]'), /header must be a JSON object/],
    ['an unsupported dtype', craft('{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', new Uint8Array(2)), /tensor "a" has unsupported dtype "F8_E4M3"; supported: U8, F16, BF16, I32, F32, F64, I64/],
    ['a bad shape', craft('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', new Uint8Array(8)), /tensor "a" shape \[-2\] must be an array of non-negative integers/],
    ['shape and byte size disagreeing', craft('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)), /tensor "a" holds 8 bytes but shape \[3\] of F32 needs 12/],
    ['offsets beyond the data (truncated)', craft(ok, new Uint8Array(6)), /tensor "a" data_offsets \[0, 8\] run past the data area of 6 bytes \(file truncated\?\)/],
    ['offsets that end before they begin', craft('{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}', new Uint8Array(4)), /data_offsets \[4, 0\] end before they begin/],
    [
      'overlapping tensors',
      craft('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
      /tensor "b" bytes \[4, 8\) overlap tensor "a" which ends at 8/,
    ],
    ['a gap between tensors', craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)), /4 unused bytes before tensor "a" at offset 0/],
    ['bytes after the last tensor', craft(ok, new Uint8Array(12)), /the tensors cover 8 bytes of data but 12 follow the header/],
    ['non-string metadata', craft('{"__metadata__":{"step":3}}'), /__metadata__\["step"\] must be a string, got 3/],
  ])('refuses %s', (_, bytes, message) => {
    expect(() => parseSafetensors(bytes, 'm.st')).toThrow(message);
  });

  test('reads tensors at unaligned offsets, and a file inside a larger buffer', () => {
    const header = '{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"d":{"dtype":"F64","shape":[1],"data_offsets":[3,11]}}';
    const data = new Uint8Array(11);
    data.set([1, 2, 3]);
    data.set(new Uint8Array(Float64Array.of(-0.125).buffer), 3);
    const file = craft(header, data);
    const inside = new Uint8Array(file.length + 1);
    inside.set(file, 1);
    const parsed = parseSafetensors(inside.subarray(1));
    expect(Array.from(parsed.tensors.get('d')!.data as Float64Array)).toEqual([-0.125]);
    expect(Array.from(parsed.tensors.get('u')!.data as Uint8Array)).toEqual([1, 2, 3]);
    expect(parsed.metadata).toEqual({});
  });
});

// Issue 16, item 8: dtype lookups used `in` (so "constructor" and "__proto__" passed and failed
// later inside JavaScript), and quotes in messages were unbounded.
describe('hostile headers: own-property dtypes, bounded messages, the file named', () => {
  const messageOf = (bytes: Uint8Array, name: string): string => {
    try {
      parseSafetensors(bytes, name);
    } catch (e) {
      expect(e).toBeInstanceOf(SafetensorsError);
      return (e as Error).message;
    }
    throw new Error('expected a SafetensorsError');
  };

  test.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('dtype "%s" is unsupported, not an Object.prototype member', (dtype) => {
    const msg = messageOf(craft(`{"a":{"dtype":"${dtype}","shape":[2],"data_offsets":[0,8]}}`, new Uint8Array(8)), 'proto.safetensors');
    expect(msg).toBe(`proto.safetensors: tensor "a" has unsupported dtype "${dtype}"; supported: U8, F16, BF16, I32, F32, F64, I64`);
  });

  test('long keys, shapes and metadata are clipped; sizes past 2^53 are named, not "needs Infinity"', () => {
    const key = 'k'.repeat(100_000);
    const long = messageOf(craft(`{"${key}":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, new Uint8Array(8)), 'long.safetensors');
    expect(long).toMatch(/^long\.safetensors: tensor "k{80}… \(100000 characters\)" holds 8 bytes but shape \[3\] of F32 needs 12$/);
    const shape = messageOf(craft(`{"a":{"dtype":"F32","shape":[${new Array(50_000).fill(-1).join(',')}],"data_offsets":[0,8]}}`, new Uint8Array(8)), 'shape.safetensors');
    expect(shape.length).toBeLessThan(300);
    expect(shape).toMatch(/^shape\.safetensors: tensor "a" shape \[-1,-1,.*… must be an array of non-negative integers/);
    const huge = messageOf(craft('{"a":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}', new Uint8Array(8)), 'huge.safetensors');
    expect(huge).toBe('huge.safetensors: tensor "a" shape [4294967296,4294967296,4294967296] of F64 needs more than 2^53 bytes (a damaged header?)');
    const zero = messageOf(craft('{"a":{"dtype":"F64","shape":[0,1e300],"data_offsets":[0,8]}}', new Uint8Array(8)), 'zero.safetensors');
    expect(zero).toMatch(/^zero\.safetensors: tensor "a" holds 8 bytes but shape \[0,1e\+300\] of F64 needs 0$/);
    const meta = messageOf(craft(`{"__metadata__":{"m":[${new Array(10_000).fill(1).join(',')}]}}`), 'meta.safetensors');
    expect(meta.length).toBeLessThan(200);
  });
});

test('a Node Buffer parses to exactly its own tensors', async () => {
  const { Buffer } = await import('node:buffer');
  const { encodeSafetensors: enc, parseSafetensors: parse } = await import('../src/io/safetensors.ts');
  const bytes = enc({ x: { shape: [3], data: Float32Array.of(1, 2, 3) } });
  const t = parse(Buffer.from(bytes), 'pooled.safetensors').tensors.get('x')!;
  expect(Array.from(t.data as Float32Array)).toEqual([1, 2, 3]);
});
