// A ring of MAP_READ staging buffers: the step copies its metrics into a free slot inside its
// own command encoder; after submit the slot maps asynchronously, copies out, and unmaps. The
// queue never waits for the host. When every slot is still in flight, the step skips the copy
// (metrics are sampled, not required every step).
import type { GpuContext } from './context.ts';
import { createBuffer } from './tensor.ts';

export class ReadbackSlot {
  busy = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly index: number,
  ) {}
}

export class ReadbackRing {
  private slots: ReadbackSlot[];
  dropped = 0;

  constructor(
    ctx: GpuContext,
    readonly bytesPerSlot: number,
    slotCount = 3,
    readonly label = 'readback',
  ) {
    this.slots = Array.from(
      { length: slotCount },
      (_, i) => new ReadbackSlot(createBuffer(ctx, bytesPerSlot, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `${label}[${i}]`), i),
    );
  }

  /** A free slot, or null when all are in flight (then skip this sample). */
  acquire(): ReadbackSlot | null {
    const s = this.slots.find((x) => !x.busy);
    if (!s) {
      this.dropped++;
      return null;
    }
    s.busy = true;
    return s;
  }

  /** Records a copy of `size` bytes from `src` into the slot at `dstOffset`. */
  copy(encoder: GPUCommandEncoder, slot: ReadbackSlot, src: GPUBuffer, srcOffset: number, dstOffset: number, size: number): void {
    encoder.copyBufferToBuffer(src, srcOffset, slot.buffer, dstOffset, size);
  }

  /** Call after the submit that holds the copies. Resolves with the bytes; the slot is free again. */
  async read(slot: ReadbackSlot): Promise<ArrayBuffer> {
    try {
      await slot.buffer.mapAsync(GPUMapMode.READ);
      const bytes = slot.buffer.getMappedRange().slice(0);
      slot.buffer.unmap();
      return bytes;
    } finally {
      slot.busy = false;
    }
  }

  /** Gives the slot back without reading (e.g. the submit was abandoned). */
  release(slot: ReadbackSlot): void {
    slot.busy = false;
  }

  destroy(): void {
    for (const s of this.slots) s.buffer.destroy();
  }
}
