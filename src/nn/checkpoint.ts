// Checkpoints: safetensors with PyTorch's names and layouts, so `torch` loads the student with
// strict=True (docs/ARCHITECTURE.md, the checkpoint format). Our tensors are kept in our layouts in memory and converted only
// here. Loading is strict too: every missing, unexpected or misshapen key is listed at once (the
// first few of each, then how many more), every tensor must be finite, and every problem names
// the file (and the field or tensor). A checkpoint that loads is one training can resume from.
import { clip, listFirst, quote } from '../io/messages.ts';
import { encodeSafetensors, parseSafetensors, type SafeTensorInput } from '../io/safetensors.ts';
import { hwioToOihw, oihwToHwio } from './layout.ts';
import { fromStoredConfig, STORED_CONFIG_KEYS, toStoredConfig, validateModelConfig, type ModelConfig } from './config.ts';
import { initialValues, modelParams, type ParamSpec } from './parameters.ts';

export const CONFIG_KEY = 'mira.config';
export const TEACHER_PREFIX = 'ema.';

/** Model tensors by checkpoint name (without `ema.`), in our layouts. */
export type TensorMap = Map<string, Float32Array>;

export interface ModelState {
  config: ModelConfig;
  step: number;
  student: TensorMap;
  /** The EMA teacher's encoder and projector; null when a checkpoint has none. */
  teacher: TensorMap | null;
  /** The training method that produced it (mira.config's optional "method", e.g. "mira", "swav"); absent in older files. */
  method?: string;
  /** Extra JSON stored beside the model config (training config, seed, …). */
  extra?: Record<string, unknown>;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Where a tensor holds NaN or ±Infinity: its name, how many, and the first index and value. */
export interface NonFinite {
  tensor: string;
  count: number;
  index: number;
  value: number;
}

/** The non-finite entries of each tensor, student and teacher (`ema.`-prefixed), in order. */
export function findNonFinite(state: Pick<ModelState, 'student' | 'teacher'>): NonFinite[] {
  const found: NonFinite[] = [];
  const scan = (prefix: string, tensors: TensorMap) => {
    for (const [name, data] of tensors) {
      let count = 0;
      let index = -1;
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) {
          if (count++ === 0) index = i;
        }
      }
      if (count) found.push({ tensor: prefix + name, count, index, value: data[index]! });
    }
  };
  scan('', state.student);
  if (state.teacher) scan(TEACHER_PREFIX, state.teacher);
  return found;
}

function describeNonFinite(found: NonFinite[]): string {
  return listFirst(found.map((f) => `"${f.tensor}" (${f.count} value${f.count > 1 ? 's' : ''}, the first ${f.value} at index ${f.index})`), 3, '; ');
}

/**
 * Throws a CheckpointError naming `file` and the tensors holding NaN or ±Infinity. The trainer
 * calls it before writing a checkpoint that a run may resume from; decodeCheckpoint on reading.
 */
export function checkFinite(state: Pick<ModelState, 'student' | 'teacher'>, file: string): void {
  const found = findNonFinite(state);
  if (found.length) {
    throw new CheckpointError(`${file}: non-finite weights in ${found.length} tensor${found.length > 1 ? 's' : ''}: ${describeNonFinite(found)}; the run diverged — resume from an earlier checkpoint, or lower the learning rate`);
  }
}

function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

function toTorch(p: ParamSpec, data: Float32Array): SafeTensorInput {
  switch (p.kind) {
    case 'conv':
      return { shape: p.torchShape, data: hwioToOihw(data, p.shape as [number, number, number, number]) };
    case 'linear':
      return { shape: p.torchShape, data: transpose(data, p.shape[0]!, p.shape[1]!) };
    case 'num_batches_tracked':
      return { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(Math.round(data[0]!))) };
    default:
      return { shape: p.torchShape, data };
  }
}

function fromTorch(p: ParamSpec, data: ArrayLike<number | bigint>): Float32Array {
  const f = Float32Array.from(data as ArrayLike<number>, (x) => Number(x));
  switch (p.kind) {
    case 'conv':
      return oihwToHwio(f, p.torchShape as [number, number, number, number]);
    case 'linear':
      return transpose(f, p.torchShape[0]!, p.torchShape[1]!);
    default:
      return f;
  }
}

/** A fresh model state from the training initialisation (teacher = copy of the student). */
export function initialState(config: ModelConfig, seed: number): ModelState {
  validateModelConfig(config);
  const student: TensorMap = new Map();
  for (const p of modelParams(config)) student.set(p.name, initialValues(p, seed));
  const teacher: TensorMap = new Map();
  for (const p of modelParams(config)) if (p.inTeacher) teacher.set(p.name, student.get(p.name)!.slice());
  return { config, step: 0, student, teacher };
}

export function encodeCheckpoint(state: ModelState): Uint8Array {
  const specs = modelParams(state.config);
  const tensors = new Map<string, SafeTensorInput>();
  for (const p of specs) {
    const d = state.student.get(p.name);
    if (!d) throw new CheckpointError(`cannot save: the model has no tensor "${p.name}"`);
    tensors.set(p.name, toTorch(p, d));
    if (p.inTeacher && state.teacher) {
      const t = state.teacher.get(p.name);
      if (!t) throw new CheckpointError(`cannot save: the teacher has no tensor "${p.name}"`);
      tensors.set(TEACHER_PREFIX + p.name, toTorch(p, t));
    }
  }
  const extra = state.method === undefined ? (state.extra ?? {}) : { ...state.extra, method: state.method };
  return encodeSafetensors(tensors, { [CONFIG_KEY]: JSON.stringify(toStoredConfig(state.config, state.step, extra)), format: 'pt' });
}

/**
 * Gradients of the trainable student tensors as safetensors, under their checkpoint names and in
 * PyTorch's layouts (what `p.grad` holds for each parameter of the PyTorch modules).
 */
export function encodeGradients(config: ModelConfig, grads: TensorMap, metadata: Record<string, string> = {}): Uint8Array {
  const tensors = new Map<string, SafeTensorInput>();
  for (const p of modelParams(config)) {
    if (!p.trainable) continue;
    const g = grads.get(p.name);
    if (!g) throw new CheckpointError(`cannot save gradients: none for "${p.name}"`);
    tensors.set(p.name, toTorch(p, g));
  }
  return encodeSafetensors(tensors, metadata);
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Parses and checks a checkpoint. Throws a CheckpointError that names `source` and lists the problems. */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): ModelState {
  let file;
  try {
    file = parseSafetensors(bytes, source);
  } catch (e) {
    const said = (e as Error).message;
    throw new CheckpointError(`${source}: not a readable safetensors file: ${said.startsWith(`${source}: `) ? said.slice(source.length + 2) : said}`);
  }
  const raw = Object.hasOwn(file.metadata, CONFIG_KEY) ? file.metadata[CONFIG_KEY] : undefined;
  if (!raw) throw new CheckpointError(`${source}: no "${CONFIG_KEY}" metadata; a MIRA checkpoint stores its model configuration there (width, in_channels, image_size, …)`);
  let stored: unknown;
  try {
    stored = JSON.parse(raw);
  } catch (e) {
    throw new CheckpointError(`${source}: "${CONFIG_KEY}" metadata is not valid JSON: ${clip((e as Error).message)}`);
  }
  let config: ModelConfig;
  let step: number;
  try {
    ({ config, step } = fromStoredConfig(stored, source));
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const fields = stored as Record<string, unknown>;
  let method: string | undefined;
  if (Object.hasOwn(fields, 'method') && fields.method !== undefined) {
    if (typeof fields.method !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/i.test(fields.method)) {
      throw new CheckpointError(`${source}: metadata mira.config field "method" must be a method's id such as "mira" or "swav", got ${quote(fields.method)}`);
    }
    method = fields.method;
  }
  const specs = modelParams(config);
  const hasTeacher = [...file.tensors.keys()].some((k) => k.startsWith(TEACHER_PREFIX));
  const expected = new Map<string, ParamSpec>();
  for (const p of specs) {
    expected.set(p.name, p);
    if (hasTeacher && p.inTeacher) expected.set(TEACHER_PREFIX + p.name, p);
  }
  const missing = [...expected.keys()].filter((k) => !file.tensors.has(k));
  const unexpected = [...file.tensors.keys()].filter((k) => !expected.has(k));
  const wrong: string[] = [];
  for (const [k, p] of expected) {
    const t = file.tensors.get(k);
    if (t && !sameShape(t.shape, p.torchShape)) wrong.push(`${k}: shape ${clip(`[${t.shape.join(', ')}]`)}, expected [${p.torchShape.join(', ')}]`);
  }
  if (missing.length || unexpected.length || wrong.length) {
    const parts = [];
    if (missing.length) parts.push(`missing keys (${missing.length}): ${listFirst(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${listFirst(unexpected)}`);
    if (wrong.length) parts.push(`wrong shapes (${wrong.length}): ${listFirst(wrong, 5, '; ')}`);
    throw new CheckpointError(`${source} does not match the model its metadata describes (width ${config.width}, ${config.inChannels} channel(s), K = ${config.prototypes}): ${parts.join('. ')}`);
  }
  const student: TensorMap = new Map();
  const teacher: TensorMap | null = hasTeacher ? new Map() : null;
  for (const p of specs) {
    student.set(p.name, fromTorch(p, file.tensors.get(p.name)!.data));
    if (teacher && p.inTeacher) teacher.set(p.name, fromTorch(p, file.tensors.get(TEACHER_PREFIX + p.name)!.data));
  }
  checkFinite({ student, teacher }, source);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (!(STORED_CONFIG_KEYS as readonly string[]).includes(k) && k !== 'method') Object.defineProperty(extra, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return method === undefined ? { config, step, student, teacher, extra } : { config, step, student, teacher, method, extra };
}
