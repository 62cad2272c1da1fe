// Optional per-kernel GPU timing with timestamp queries (when the adapter has the feature).
// Each timed dispatch gets a begin/end pair; `resolve` records the copy into a MAP_READ buffer;
// `read` maps it after the submit and returns milliseconds per label.
import type { GpuContext } from './context.ts';
import type { PassTimer } from './kernel.ts';

export interface KernelTiming {
  label: string;
  ms: number;
  /** Begin and end of the pass in milliseconds after the first timed pass began. */
  start: number;
  end: number;
}

export class Profiler implements PassTimer {
  private querySet: GPUQuerySet;
  private resolveBuf: GPUBuffer;
  private readBuf: GPUBuffer;
  private labels: string[] = [];

  static available(ctx: GpuContext): boolean {
    return ctx.features.timestampQuery;
  }

  constructor(
    ctx: GpuContext,
    readonly capacity = 256,
  ) {
    const d = ctx.device;
    this.querySet = d.createQuerySet({ type: 'timestamp', count: capacity * 2, label: 'profiler' });
    this.resolveBuf = d.createBuffer({ size: capacity * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profiler:resolve' });
    this.readBuf = d.createBuffer({ size: capacity * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profiler:read' });
  }

  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined {
    if (this.labels.length >= this.capacity) return undefined;
    const i = this.labels.push(label) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolve(encoder: GPUCommandEncoder): void {
    const n = this.labels.length * 2;
    if (n === 0) return;
    encoder.resolveQuerySet(this.querySet, 0, n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, n * 8);
  }

  /** After the submit that holds `resolve`: timings in milliseconds, then ready for reuse. */
  async read(): Promise<KernelTiming[]> {
    const n = this.labels.length;
    if (n === 0) return [];
    await this.readBuf.mapAsync(GPUMapMode.READ, 0, n * 16);
    const t = new BigUint64Array(this.readBuf.getMappedRange(0, n * 16).slice(0));
    this.readBuf.unmap();
    const t0 = t[0]!;
    const at = (k: number) => Number(t[k]! - t0) / 1e6;
    const out = this.labels.map((label, i) => ({ label, ms: at(2 * i + 1) - at(2 * i), start: at(2 * i), end: at(2 * i + 1) }));
    this.labels = [];
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}
