// Checkpoints: PyTorch names and layouts; strict loading that lists every problem at once.
import { describe, expect, test } from 'vitest';
import { checkFinite, decodeCheckpoint, encodeCheckpoint, findNonFinite, initialState, CheckpointError } from '../src/nn/checkpoint.ts';
import { defaultModelConfig, validateModelConfig } from '../src/nn/config.ts';
import { modelParams } from '../src/nn/parameters.ts';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.ts';

const config = defaultModelConfig(3, { width: 1 / 16, prototypes: 10, projHidden: 16, projOut: 8 });

describe('checkpoint format', () => {
  test('keys and shapes are PyTorch’s: OIHW convs, [out,in] linears, int64 num_batches_tracked', () => {
    const bytes = encodeCheckpoint(initialState(config, 1));
    const file = parseSafetensors(bytes, 'model.safetensors');
    const conv1 = file.tensors.get('encoder.conv1.weight')!;
    expect(conv1.shape).toEqual([4, 3, 3, 3]);
    expect(file.tensors.get('encoder.layer2.0.downsample.0.weight')!.shape).toEqual([8, 4, 1, 1]);
    expect(file.tensors.get('encoder.layer2.0.downsample.1.running_var')!.shape).toEqual([8]);
    expect(file.tensors.get('projector.0.weight')!.shape).toEqual([16, 32]);
    expect(file.tensors.get('projector.6.bias')!.shape).toEqual([8]);
    expect(file.tensors.get('head.weight_v')!.shape).toEqual([10, 8]);
    expect(file.tensors.get('head.weight_g')!.shape).toEqual([10, 1]);
    const nbt = file.tensors.get('encoder.bn1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
    expect(file.tensors.has('ema.encoder.layer4.1.bn2.weight')).toBe(true);
    expect(file.tensors.has('ema.head.weight_v')).toBe(false);
    const meta = JSON.parse(file.metadata['mira.config']!);
    expect(meta).toMatchObject({ width: 1 / 16, in_channels: 3, image_size: 32, stem_padding: 1, proj_hidden: 16, proj_out: 8, prototypes: 10, step: 0 });
    expect(meta.mean).toHaveLength(3);
  });

  test('a round trip restores every tensor exactly, teacher included', () => {
    const state = initialState(config, 7);
    state.step = 123;
    state.student.get('encoder.bn1.running_mean')!.set([0.5, -1, 2, 3]);
    const back = decodeCheckpoint(encodeCheckpoint(state), 'rt.safetensors');
    expect(back.step).toBe(123);
    expect(back.config).toEqual(config);
    for (const [k, v] of state.student) expect(Array.from(back.student.get(k)!), k).toEqual(Array.from(v));
    for (const [k, v] of state.teacher!) expect(Array.from(back.teacher!.get(k)!), k).toEqual(Array.from(v));
  });

  test('initialisation: zero γ on each block’s last BN, unit g, deterministic per seed', () => {
    const a = initialState(config, 3);
    expect(Array.from(a.student.get('encoder.layer1.0.bn2.weight')!)).toEqual([0, 0, 0, 0]);
    expect(Array.from(a.student.get('encoder.layer1.0.bn1.weight')!)).toEqual([1, 1, 1, 1]);
    expect(a.student.get('head.weight_g')!.every((x) => x === 1)).toBe(true);
    const b = initialState(config, 3);
    const c = initialState(config, 4);
    expect(Array.from(b.student.get('encoder.conv1.weight')!)).toEqual(Array.from(a.student.get('encoder.conv1.weight')!));
    expect(Array.from(c.student.get('encoder.conv1.weight')!)).not.toEqual(Array.from(a.student.get('encoder.conv1.weight')!));
    // Kaiming-normal fan_out for a 3×3 conv with 8 outputs: std √(2/72) ≈ 0.167.
    const w = a.student.get('encoder.layer2.0.conv2.weight')!;
    const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
    expect(std).toBeGreaterThan(0.12);
    expect(std).toBeLessThan(0.22);
  });
});

describe('bad checkpoints fail with a message that lists the problems', () => {
  const good = encodeCheckpoint(initialState(config, 1));

  function rewrite(edit: (t: Map<string, { shape: number[]; data: Float32Array | BigInt64Array; dtype?: 'I64' }>) => void, meta?: Record<string, string>) {
    const f = parseSafetensors(good, 'x');
    const tensors = new Map([...f.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array | BigInt64Array, dtype: t.dtype === 'I64' ? ('I64' as const) : undefined }]));
    edit(tensors);
    return encodeSafetensors(tensors, meta ?? f.metadata);
  }

  test('missing and extra keys are all named', () => {
    const bytes = rewrite((t) => {
      t.delete('encoder.layer3.1.conv2.weight');
      t.delete('projector.6.bias');
      t.set('encoder.fc.weight', { shape: [2, 2], data: new Float32Array(4) });
    });
    const err = (() => {
      try {
        decodeCheckpoint(bytes, 'edited.safetensors');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err!.message).toMatch(/edited\.safetensors/);
    expect(err!.message).toMatch(/missing keys \(2\): encoder\.layer3\.1\.conv2\.weight, projector\.6\.bias/);
    expect(err!.message).toMatch(/unexpected keys \(1\): encoder\.fc\.weight/);
  });

  test('wrong shapes name the key, the shape found and the shape expected', () => {
    const bytes = rewrite((t) => t.set('head.weight_v', { shape: [11, 8], data: new Float32Array(88) }));
    expect(() => decodeCheckpoint(bytes, 'k.safetensors')).toThrow(/head\.weight_v: shape \[11, 8\], expected \[10, 8\]/);
  });

  test('a truncated file fails cleanly', () => {
    expect(() => decodeCheckpoint(good.slice(0, good.length - 100), 'cut.safetensors')).toThrow(CheckpointError);
    expect(() => decodeCheckpoint(good.slice(0, good.length - 100), 'cut.safetensors')).toThrow(/cut\.safetensors: not a readable safetensors file/);
  });

  test('a bad header fails cleanly', () => {
    const bad = good.slice();
    bad[8] = 0x5b; // '[' instead of '{'
    bad[0] = 0xff;
    expect(() => decodeCheckpoint(bad, 'bad.safetensors')).toThrow(/bad\.safetensors: not a readable safetensors file/);
    expect(() => decodeCheckpoint(new Uint8Array(3), 'tiny.safetensors')).toThrow(CheckpointError);
  });

  test('missing or incomplete metadata says what is needed', () => {
    expect(() => decodeCheckpoint(rewrite(() => {}, {}), 'nometa.safetensors')).toThrow(/no "mira\.config" metadata/);
    expect(() => decodeCheckpoint(rewrite(() => {}, { 'mira.config': '{"width": 0.0625}' }), 'partial.safetensors')).toThrow(/lacks in_channels, image_size/);
    expect(() => decodeCheckpoint(rewrite(() => {}, { 'mira.config': '{oops' }), 'json.safetensors')).toThrow(/not valid JSON/);
  });
});

describe('checkpoints that cannot lie (issue 16, items 2, 3 and 8)', () => {
  const good = encodeCheckpoint(initialState(config, 1));
  const storedConfig = JSON.parse(parseSafetensors(good).metadata['mira.config']!);
  const withConfig = (over: Record<string, unknown>) => {
    const f = parseSafetensors(good, 'x');
    return encodeSafetensors(new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }])), { 'mira.config': JSON.stringify({ ...storedConfig, ...over }) });
  };
  const messageOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(CheckpointError);
      return (e as Error).message;
    }
    throw new Error('expected a CheckpointError');
  };

  test('NaN or Inf in a student or teacher tensor is refused, naming the tensor and the file', () => {
    const state = initialState(config, 2);
    state.student.get('encoder.layer2.0.conv1.weight')![5] = NaN;
    state.student.get('encoder.layer2.0.conv1.weight')![9] = NaN;
    state.teacher!.get('encoder.layer4.1.bn2.weight')![0] = -Infinity;
    const msg = messageOf(() => decodeCheckpoint(encodeCheckpoint(state), 'runs/a/model.safetensors'));
    expect(msg).toMatch(/^runs\/a\/model\.safetensors: non-finite weights in 2 tensors: "encoder\.layer2\.0\.conv1\.weight" \(2 values, the first NaN at index \d+\); "ema\.encoder\.layer4\.1\.bn2\.weight" \(1 value, the first -Infinity at index 0\)/);
    expect(findNonFinite(state).map((f) => f.tensor)).toEqual(['encoder.layer2.0.conv1.weight', 'ema.encoder.layer4.1.bn2.weight']);
    expect(() => checkFinite(state, 'about-to-write.safetensors')).toThrow(/^about-to-write\.safetensors: non-finite weights/);
    expect(() => checkFinite(initialState(config, 2), 'fine.safetensors')).not.toThrow();
  });

  test('step must be a non-negative safe integer; the file and the field are named', () => {
    for (const step of ['x', -1, -1e308, 1.5, 2 ** 60, null, [3]]) {
      if (step === null) continue; // absent: 0, as before
      const msg = messageOf(() => decodeCheckpoint(withConfig({ step }), 'bad-step.safetensors'));
      expect(msg, String(step)).toMatch(/^bad-step\.safetensors: metadata mira\.config: field "step" must be a non-negative integer/);
    }
    expect(decodeCheckpoint(withConfig({ step: 41 }), 'ok.safetensors').step).toBe(41);
  });

  test('configuration fields of the wrong type name the file and the field (no JavaScript internals)', () => {
    const mean = messageOf(() => decodeCheckpoint(withConfig({ mean: 'abc' }), 'm.safetensors'));
    expect(mean).toMatch(/^m\.safetensors: metadata mira\.config: field "mean" must be an array of 1 or 3 finite numbers, got "abc"/);
    expect(mean).not.toMatch(/is not a function/);
    expect(messageOf(() => decodeCheckpoint(withConfig({ width: '1/8' }), 'w.safetensors'))).toMatch(/^w\.safetensors: metadata mira\.config: field "width" must be a finite number, got "1\/8"/);
    expect(messageOf(() => decodeCheckpoint(withConfig({ prototypes: 1 }), 'k.safetensors'))).toMatch(/^k\.safetensors: metadata mira\.config: invalid model configuration: prototypes \(K\) must be an integer ≥ 2/);
    const f = parseSafetensors(good, 'x');
    const tensors = new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }]));
    expect(messageOf(() => decodeCheckpoint(encodeSafetensors(tensors, { 'mira.config': '[1, 2]' }), 'arr.safetensors'))).toMatch(/^arr\.safetensors: metadata mira\.config must be a JSON object, got \[1,2\]/);
    // Own properties only: "constructor" and "__proto__" in the JSON supply nothing.
    const proto = messageOf(() => decodeCheckpoint(encodeSafetensors(tensors, { 'mira.config': '{"__proto__": {"width": 0.0625}, "constructor": 1}' }), 'p.safetensors'));
    expect(proto).toMatch(/^p\.safetensors: metadata mira\.config lacks width, in_channels/);
  });

  test('long key lists are capped: the first few, then "… and N more"', () => {
    const f = parseSafetensors(good, 'x');
    const tensors = new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }]));
    for (let i = 0; i < 2000; i++) tensors.set(`extra.${'x'.repeat(500)}.${i}`, { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    const msg = messageOf(() => decodeCheckpoint(encodeSafetensors(tensors, f.metadata), 'many.safetensors'));
    expect(msg).toMatch(/^many\.safetensors does not match .*unexpected keys \(2000\): .*… and 1995 more/);
    expect(msg.length).toBeLessThan(1500);
  });

  test('an optional "method" is decoded and written back; a non-string is refused', () => {
    const state = decodeCheckpoint(withConfig({ method: 'swav', seed: 3 }), 's.safetensors');
    expect(state.method).toBe('swav');
    expect(state.extra).toEqual({ seed: 3 });
    expect(decodeCheckpoint(encodeCheckpoint(state), 'again.safetensors').method).toBe('swav');
    expect(decodeCheckpoint(good, 'old.safetensors').method).toBeUndefined();
    expect(messageOf(() => decodeCheckpoint(withConfig({ method: 5 }), 'm5.safetensors'))).toMatch(/^m5\.safetensors: metadata mira\.config field "method" must be a method's id/);
  });
});

describe('impossible configurations are refused with the reason', () => {
  test('image size not divisible by 8, bad channels, K < 2', () => {
    expect(() => validateModelConfig({ ...config, imageSize: 30 })).toThrow(/image_size must be a multiple of 8/);
    expect(() => validateModelConfig({ ...config, inChannels: 2 as 1 })).toThrow(/in_channels must be 1 or 3/);
    expect(() => validateModelConfig({ ...config, prototypes: 1 })).toThrow(/prototypes \(K\) must be an integer ≥ 2/);
  });
  test('the parameter list matches PyTorch’s state_dict count for ResNet-18', () => {
    // torchvision resnet18 without fc: 20 convs and 20 BNs of 5 entries each.
    const names = modelParams(config).map((p) => p.name);
    const encoder = names.filter((n) => n.startsWith('encoder.'));
    expect(encoder.length).toBe(20 + 20 * 5);
    expect(new Set(names).size).toBe(names.length);
  });
});
