// Tensors: a shape and a dtype over a range of a GPUBuffer. Many tensors may share one buffer
// (see Arena), which is how a training configuration plans all of its memory up front.
import { recordGpuError, type GpuContext } from './context.ts';
import { GpuKernelError, ShapeError, isPositiveInt } from './errors.ts';
import { decodeF16, encodeF16, requireShaderF16 } from './f16.ts';

/** f16: half-precision storage (needs the device feature shader-f16; written from and read back as f32 on the host, src/gpu/f16.ts). */
export type DType = 'f32' | 'f16' | 'u32' | 'i32' | 'u8';
export type HostArray = Float32Array | Uint32Array | Int32Array | Uint8Array;

export const BYTES_PER: Record<DType, number> = { f32: 4, f16: 2, u32: 4, i32: 4, u8: 1 };

/** Storage buffers must start at multiples of this in a bind group (WebGPU's default limit). */
export const BINDING_ALIGN = 256;

export const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export class Tensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly label: string,
    readonly byteOffset = 0,
  ) {}
  get numel(): number {
    return numel(this.shape);
  }
  /** Bytes in use, rounded up to whole 32-bit words (u8 data is read as packed u32 in WGSL). */
  get byteLength(): number {
    return alignUp(this.numel * BYTES_PER[this.dtype], 4);
  }
  binding(): GPUBufferBinding {
    return { buffer: this.buffer, offset: this.byteOffset, size: this.byteLength };
  }
  toString(): string {
    return `${this.label}[${this.shape.join('×')}] ${this.dtype}`;
  }
}

function checkShape(shape: readonly number[], label: string): void {
  if (!shape.every((d) => isPositiveInt(d))) throw new ShapeError(`${label}: shape [${shape.join(', ')}] must be positive integers`);
}

/** Creates a buffer, refusing sizes over the device limit with a message naming the owner. */
export function createBuffer(ctx: GpuContext, size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
  const max = ctx.limits.maxBufferSize;
  if (size > max) {
    throw new GpuKernelError(label, `buffer of ${size} bytes exceeds this adapter's maxBufferSize (${max} bytes); use a smaller batch or width`);
  }
  ctx.device.pushErrorScope('out-of-memory');
  const buffer = ctx.device.createBuffer({ size: Math.max(4, alignUp(size, 4)), usage, label });
  ctx.device.popErrorScope().then((err) => {
    if (err) recordGpuError(ctx, `out of memory creating buffer "${label}" (${size} bytes): ${err.message}`);
  });
  return buffer;
}

export function createTensor(ctx: GpuContext, shape: readonly number[], dtype: DType, label: string, extraUsage = 0): Tensor {
  checkShape(shape, label);
  if (dtype === 'f16') requireShaderF16(ctx, label);
  const bytes = alignUp(numel(shape) * BYTES_PER[dtype], 4);
  return new Tensor(createBuffer(ctx, bytes, STORAGE() | extraUsage, label), shape, dtype, label);
}

function dtypeOf(data: HostArray): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Uint32Array) return 'u32';
  if (data instanceof Int32Array) return 'i32';
  return 'u8';
}

/** Writes host data into a tensor (queue.writeBuffer; ordered before the next submit). An f16 tensor takes f32 data, rounded to nearest f16. */
export function writeTensor(ctx: GpuContext, t: Tensor, data: HostArray): void {
  if (data.length !== t.numel) throw new ShapeError(`${t}: got ${data.length} values, expected ${t.numel}`);
  if (t.dtype === 'f16' ? dtypeOf(data) !== 'f32' : dtypeOf(data) !== t.dtype) throw new ShapeError(`${t}: got ${dtypeOf(data)} data${t.dtype === 'f16' ? ' (an f16 tensor is written from f32 values)' : ''}`);
  const stored = t.dtype === 'f16' ? encodeF16(data) : data;
  const bytes = new Uint8Array(stored.buffer as ArrayBuffer, stored.byteOffset, stored.byteLength);
  if (bytes.byteLength % 4 === 0) ctx.device.queue.writeBuffer(t.buffer, t.byteOffset, bytes);
  else {
    const padded = new Uint8Array(alignUp(bytes.byteLength, 4));
    padded.set(bytes);
    ctx.device.queue.writeBuffer(t.buffer, t.byteOffset, padded);
  }
}

/** A new tensor holding `data`; `dtype` 'f16' stores f32 data rounded to f16. */
export function uploadTensor(ctx: GpuContext, data: HostArray, shape: readonly number[], label: string, dtype: DType = dtypeOf(data)): Tensor {
  checkShape(shape, label);
  if (numel(shape) !== data.length) throw new ShapeError(`${label}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  const t = createTensor(ctx, shape, dtype, label);
  writeTensor(ctx, t, data);
  return t;
}

/**
 * Reads a tensor back, waiting for the queue (an f16 tensor as f32). For tests, the CLI and one-off results only:
 * the training loop reads metrics through a ReadbackRing instead and never waits.
 */
export async function readTensor(ctx: GpuContext, t: Tensor): Promise<Float32Array | Uint32Array | Int32Array | Uint8Array> {
  const staging = ctx.device.createBuffer({ size: t.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `${t.label}:readback` });
  const enc = ctx.device.createCommandEncoder({ label: `${t.label}:readback` });
  enc.copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, t.byteLength);
  ctx.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  switch (t.dtype) {
    case 'f32':
      return new Float32Array(copy, 0, t.numel);
    case 'f16':
      return decodeF16(new Uint16Array(copy, 0, t.numel));
    case 'u32':
      return new Uint32Array(copy, 0, t.numel);
    case 'i32':
      return new Int32Array(copy, 0, t.numel);
    case 'u8':
      return new Uint8Array(copy, 0, t.numel);
  }
}

/** Reads an f32 tensor, or an f16 one widened to f32 (exactly). */
export async function readF32(ctx: GpuContext, t: Tensor): Promise<Float32Array> {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${t}: expected f32 (or f16)`);
  return (await readTensor(ctx, t)) as Float32Array;
}

/**
 * Plans many tensors into one buffer (one buffer per role, llm.c style): declare with `add`,
 * then `build` allocates once. Each tensor starts at a 256-byte boundary so it can be bound alone.
 */
export class Arena {
  private entries: { name: string; shape: readonly number[]; dtype: DType; offset: number }[] = [];
  private bytes = 0;
  constructor(
    private readonly ctx: GpuContext,
    readonly label: string,
  ) {}
  add(name: string, shape: readonly number[], dtype: DType = 'f32'): void {
    checkShape(shape, `${this.label}.${name}`);
    if (dtype === 'f16') requireShaderF16(this.ctx, `${this.label}.${name}`);
    if (this.entries.some((e) => e.name === name)) throw new ShapeError(`${this.label}: "${name}" declared twice`);
    this.bytes = alignUp(this.bytes, BINDING_ALIGN);
    this.entries.push({ name, shape, dtype, offset: this.bytes });
    this.bytes += alignUp(numel(shape) * BYTES_PER[dtype], 4);
  }
  get byteLength(): number {
    return this.bytes;
  }
  build(): { buffer: GPUBuffer; tensors: Map<string, Tensor> } {
    const buffer = createBuffer(this.ctx, Math.max(this.bytes, 4), STORAGE(), this.label);
    const tensors = new Map<string, Tensor>();
    for (const e of this.entries) tensors.set(e.name, new Tensor(buffer, e.shape, e.dtype, `${this.label}.${e.name}`, e.offset));
    return { buffer, tensors };
  }
}
