// The model's memory on the GPU, planned once per configuration (llm.c style): one flat buffer
// per role with a shared offsets table.
//   params    student trainables: encoder + projector first, the prototype head last
//   grads     same layout; zeroed at the start of a step, then every backward accumulates (+=)
//   momentum  same layout (optimizer state)
//   teacher   the EMA teacher's trainables = the first `teacherSize` elements of the layout,
//             so the EMA update is one dispatch over a prefix of `params`
//   stats / teacherStats  BN running_mean and running_var of student and teacher
// Every tensor starts at a 64-element (256-byte) boundary so it can be bound on its own, except
// SeLa's further prototype heads, packed right after head.weight_v (bound together, as one).
import type { GpuContext } from '../gpu/context.ts';
import { createBuffer, STORAGE, Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';
import type { ModelState, TensorMap } from './checkpoint.ts';
import { modelParams, type ParamSpec } from './parameters.ts';
import type { ParamTensor } from './optimizer.ts';

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface Slot {
  spec: ParamSpec;
  /** Element offset in its flat buffer. */
  offset: number;
  numel: number;
}

export class ParamLayout {
  readonly trainable = new Map<string, Slot>();
  readonly stats = new Map<string, Slot>();
  /** Elements in params/grads/momentum. */
  readonly size: number;
  /** Elements of the prefix the teacher mirrors (encoder + projector). */
  readonly teacherSize: number;
  readonly statsSize: number;
  readonly specs: ParamSpec[];

  constructor(readonly config: ModelConfig) {
    this.specs = modelParams(config);
    let off = 0;
    let end = 0;
    const place = (p: ParamSpec) => {
      const numel = p.shape.reduce((a, b) => a * b, 1);
      // SeLa's further heads follow head.weight_v with no gap, so the H heads are one [H·K, D] matrix (prototypeHeads).
      const packed = p.kind === 'prototypes' && p.name !== 'head.weight_v';
      const at = packed ? end : off;
      this.trainable.set(p.name, { spec: p, offset: at, numel });
      end = at + numel;
      off = align(end);
    };
    for (const p of this.specs) if (p.trainable && p.inTeacher) place(p);
    this.teacherSize = off;
    for (const p of this.specs) if (p.trainable && !p.inTeacher) place(p);
    this.size = off;
    let s = 0;
    for (const p of this.specs) {
      if (p.kind === 'running_mean' || p.kind === 'running_var') {
        this.stats.set(p.name, { spec: p, offset: s, numel: p.shape[0]! });
        s = align(s + p.shape[0]!);
      }
    }
    this.statsSize = Math.max(s, ALIGN);
  }

  /** The optimizer's table: decay and LARS flags per tensor; the head is frozen by name. */
  optimizerTable(): ParamTensor[] {
    return [...this.trainable.values()].map((s) => ({ name: s.spec.name, offset: s.offset, length: s.numel, decay: s.spec.decay, trust: s.spec.lars }));
  }

  headNames(): string[] {
    return [...this.trainable.values()].filter((s) => s.spec.head).map((s) => s.spec.name);
  }
}

/** Tensors over a flat buffer, looked up by checkpoint name. */
export class FlatTensors {
  constructor(
    readonly buffer: GPUBuffer,
    private readonly slots: Map<string, Slot>,
    private readonly label: string,
  ) {}
  get(name: string): Tensor {
    const s = this.slots.get(name);
    if (!s) throw new Error(`${this.label}: no tensor "${name}"`);
    return new Tensor(this.buffer, s.spec.shape, 'f32', `${this.label}.${name}`, s.offset * 4);
  }
  /**
   * The H prototype heads' v (head.weight_v, heads.1.weight_v, …) as one [H·K, D] tensor: the
   * layout packs them back to back, so one weight-normalised linear serves all heads (the rows of
   * head h are h·K … (h+1)·K − 1). Only the first starts at a bindable boundary.
   */
  prototypeHeads(heads: number): Tensor {
    const first = this.slots.get('head.weight_v');
    if (!first) throw new Error(`${this.label}: no prototype head (head.weight_v)`);
    const [K, D] = first.spec.shape as [number, number];
    for (let h = 1; h < heads; h++) {
      const s = this.slots.get(`heads.${h}.weight_v`);
      if (!s || s.offset !== first.offset + h * K * D) throw new Error(`${this.label}: prototype head heads.${h}.weight_v is missing or not packed after head.weight_v`);
    }
    return new Tensor(this.buffer, [heads * K, D], 'f32', `${this.label}.heads`, first.offset * 4);
  }
  /** The whole buffer (or its first `elements`) as one tensor, for flat updates. */
  flat(elements: number): Tensor {
    return new Tensor(this.buffer, [elements], 'f32', this.label, 0);
  }
}

/** One network's weights: where its trainables and its BN statistics live. */
export interface NetworkWeights {
  params: FlatTensors;
  stats: FlatTensors;
}

export class ParamStore {
  readonly params: FlatTensors;
  readonly grads: FlatTensors;
  readonly momentum: FlatTensors;
  readonly teacher: FlatTensors;
  readonly stats: FlatTensors;
  readonly teacherStats: FlatTensors;

  constructor(
    readonly ctx: GpuContext,
    readonly layout: ParamLayout,
  ) {
    const buf = (n: number, label: string) => createBuffer(ctx, n * 4, STORAGE(), label);
    this.params = new FlatTensors(buf(layout.size, 'params'), layout.trainable, 'params');
    this.grads = new FlatTensors(buf(layout.size, 'grads'), layout.trainable, 'grads');
    this.momentum = new FlatTensors(buf(layout.size, 'momentum'), layout.trainable, 'momentum');
    this.teacher = new FlatTensors(buf(Math.max(layout.teacherSize, ALIGN), 'teacher'), layout.trainable, 'teacher');
    this.stats = new FlatTensors(buf(layout.statsSize, 'stats'), layout.stats, 'stats');
    this.teacherStats = new FlatTensors(buf(layout.statsSize, 'teacher_stats'), layout.stats, 'teacher_stats');
  }

  get student(): NetworkWeights {
    return { params: this.params, stats: this.stats };
  }

  /**
   * A copy of the student as it is now (trainables and BN statistics, copied on the queue, so in
   * order with the steps submitted before and after it): the random-init kNN baseline is measured
   * on it after the first step (src/train/trainer.ts snapshotInit). `destroy` frees its buffers.
   */
  snapshotStudent(label: string): NetworkWeights & { destroy(): void } {
    const copy = (from: FlatTensors, slots: Map<string, Slot>, name: string) => {
      const buffer = createBuffer(this.ctx, from.buffer.size, STORAGE(), `${label}.${name}`);
      return new FlatTensors(buffer, slots, `${label}.${name}`);
    };
    const params = copy(this.params, this.layout.trainable, 'params');
    const stats = copy(this.stats, this.layout.stats, 'stats');
    const enc = this.ctx.device.createCommandEncoder({ label: `${label}: snapshot` });
    enc.copyBufferToBuffer(this.params.buffer, 0, params.buffer, 0, params.buffer.size);
    enc.copyBufferToBuffer(this.stats.buffer, 0, stats.buffer, 0, stats.buffer.size);
    this.ctx.device.queue.submit([enc.finish()]);
    return { params, stats, destroy: () => [params.buffer, stats.buffer].forEach((b) => b.destroy()) };
  }

  /** The teacher's encoder and projector; its head is the student's (params), per MIRA. */
  get teacherWeights(): NetworkWeights {
    return { params: this.teacher, stats: this.teacherStats };
  }

  /** Uploads a model state (student, teacher, BN statistics). Momentum is reset to zero. */
  upload(state: ModelState): void {
    const q = this.ctx.device.queue;
    const put = (flat: FlatTensors, slots: Map<string, Slot>, map: TensorMap, filter: (s: Slot) => boolean) => {
      const host = new Float32Array(flat.buffer.size / 4);
      for (const [name, slot] of slots) {
        if (!filter(slot)) continue;
        const v = map.get(name);
        if (!v || v.length !== slot.numel) throw new Error(`upload: tensor "${name}" missing or of the wrong size`);
        host.set(v, slot.offset);
      }
      q.writeBuffer(flat.buffer, 0, host);
    };
    const teacher = state.teacher ?? state.student;
    put(this.params, this.layout.trainable, state.student, () => true);
    put(this.teacher, this.layout.trainable, teacher, (s) => s.spec.inTeacher);
    put(this.stats, this.layout.stats, state.student, () => true);
    put(this.teacherStats, this.layout.stats, teacher, () => true);
    q.writeBuffer(this.momentum.buffer, 0, new Float32Array(this.momentum.buffer.size / 4));
    q.writeBuffer(this.grads.buffer, 0, new Float32Array(this.grads.buffer.size / 4));
  }

  /** The optimizer's momentum, flat in the params layout (saved beside checkpoints for exact resume). */
  async downloadMomentum(): Promise<Float32Array> {
    return this.readBuffer(this.momentum.buffer);
  }

  uploadMomentum(m: Float32Array): void {
    if (m.length !== this.momentum.buffer.size / 4) throw new Error(`momentum has ${m.length} values; this model's optimizer state has ${this.momentum.buffer.size / 4}`);
    this.ctx.device.queue.writeBuffer(this.momentum.buffer, 0, m as Float32Array<ArrayBuffer>);
  }

  private async readBuffer(b: GPUBuffer): Promise<Float32Array> {
    const staging = this.ctx.device.createBuffer({ size: b.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `${b.label}:download` });
    const enc = this.ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(b, 0, staging, 0, b.size);
    this.ctx.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Reads everything back into a model state (for checkpoints). */
  async download(config: ModelConfig, step: number, batchesTracked: { student: number; teacher: number }): Promise<ModelState> {
    const read = (b: GPUBuffer) => this.readBuffer(b);
    const [p, t, s, ts] = await Promise.all([read(this.params.buffer), read(this.teacher.buffer), read(this.stats.buffer), read(this.teacherStats.buffer)]);
    const student: TensorMap = new Map();
    const teacher: TensorMap = new Map();
    for (const spec of this.layout.specs) {
      const tr = this.layout.trainable.get(spec.name);
      const st = this.layout.stats.get(spec.name);
      if (tr) {
        student.set(spec.name, p.slice(tr.offset, tr.offset + tr.numel));
        if (spec.inTeacher) teacher.set(spec.name, t.slice(tr.offset, tr.offset + tr.numel));
      } else if (st) {
        student.set(spec.name, s.slice(st.offset, st.offset + st.numel));
        teacher.set(spec.name, ts.slice(st.offset, st.offset + st.numel));
      } else if (spec.kind === 'num_batches_tracked') {
        student.set(spec.name, Float32Array.of(batchesTracked.student));
        teacher.set(spec.name, Float32Array.of(batchesTracked.teacher));
      } else if (spec.kind === 'weight_g') {
        student.set(spec.name, new Float32Array(spec.shape[0]!).fill(1));
      }
    }
    return { config, step, student, teacher };
  }

  destroy(): void {
    for (const f of [this.params, this.grads, this.momentum, this.teacher, this.stats, this.teacherStats]) f.buffer.destroy();
  }
}
