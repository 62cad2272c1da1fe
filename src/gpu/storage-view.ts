// Typed storage-buffer declarations for the GEMM io files: a run of four f32 is one 16-byte load when the
// buffer is declared array<vec4<f32>>, which CPU emulators execute about twice as fast per value as four
// scalar loads (docs/results-cpu.md §1).

/** Element type of a storage buffer: f32, or f16 storage read and written as f32 (the f16 path, src/gpu/f16.ts). */
export type StorageElement = 'f32' | 'f16';

/**
 * WGSL declaration of a storage buffer and its accessors NAME_ld(i), NAME_ld4(i) (i % 4 == 0) and,
 * when writable, NAME_st(i, v), NAME_st4(i, v). As array<vec4<f32>> when every vec4 access is
 * aligned and the tensor holds whole vec4s (one 16-byte load or store, one bounds clamp), else
 * as array<f32>. Prepended to the GEMM io files (src/shaders/gemm_plain.wgsl and the conv io files).
 * With `element` 'f16' the buffer is array<vec4<f16>> (8-byte loads) or array<f16>, and the
 * accessors still take and return f32: loads widen (exact), stores round to nearest; so the code
 * around them (the GEMM core's f32 accumulation) is the same. The text then starts with
 * `enable f16;`, which createKernel moves to the top of the module (src/gpu/f16.ts hoistEnableF16).
 */
export function storageView(binding: number, name: string, access: 'read' | 'read_write', vec4: boolean, element: StorageElement = 'f32'): string {
  if (element === 'f16') return f16View(binding, name, access, vec4);
  const decl = `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${vec4 ? 'vec4<f32>' : 'f32'}>;\n`;
  if (vec4) {
    let s = decl;
    s += `fn ${name}_ld(i: u32) -> f32 { return ${name}[i >> 2u][i & 3u]; }\n`;
    s += `fn ${name}_ld4(i: u32) -> vec4<f32> { return ${name}[i >> 2u]; }\n`;
    if (access === 'read_write') {
      s += `fn ${name}_st(i: u32, v: f32) { ${name}[i >> 2u][i & 3u] = v; }\n`;
      s += `fn ${name}_st4(i: u32, v: vec4<f32>) { ${name}[i >> 2u] = v; }\n`;
    }
    return s;
  }
  let s = decl;
  s += `fn ${name}_ld(i: u32) -> f32 { return ${name}[i]; }\n`;
  s += `fn ${name}_ld4(i: u32) -> vec4<f32> { return vec4<f32>(${name}[i], ${name}[i + 1u], ${name}[i + 2u], ${name}[i + 3u]); }\n`;
  if (access === 'read_write') {
    s += `fn ${name}_st(i: u32, v: f32) { ${name}[i] = v; }\n`;
    s += `fn ${name}_st4(i: u32, v: vec4<f32>) { ${name}[i] = v.x; ${name}[i + 1u] = v.y; ${name}[i + 2u] = v.z; ${name}[i + 3u] = v.w; }\n`;
  }
  return s;
}

/**
 * A read-only activation read through a batch norm + ReLU on the fly (a convolution's prologue):
 * NAME_ld(i) / NAME_ld4(i) return max(x·scale[c] + shift[c], 0) for channel c = i mod CHANNELS, the
 * same fma and max as batchnorm.wgsl's apply, so the values equal the ones that pass would have
 * stored. scale and shift come from the batch norm's coefficient buffer (its work tensor) bound at
 * `coefBinding`: scale at element BN_COEF_AT + c, shift at BN_COEF_AT + BN_CHANNELS + c (overrides
 * the host sets). Callers read only pixels inside the image: the zero padding stays zero.
 */
export function bnReluView(binding: number, coefBinding: number, name: string, vec4: boolean, element: StorageElement = 'f32'): string {
  let s = storageView(binding, `${name}_raw`, 'read', vec4, element);
  s += `@group(0) @binding(${coefBinding}) var<storage, read> ${name}_coef: array<${vec4 ? 'vec4<f32>' : 'f32'}>;\n`;
  s += 'override BN_CHANNELS: u32;\noverride BN_COEF_AT: u32;\n';
  if (vec4) {
    // BN_CHANNELS and BN_COEF_AT are multiples of 4 here, and i % 4 == 0 in ld4.
    s += `fn ${name}_ld4(i: u32) -> vec4<f32> { let c = (BN_COEF_AT + i % BN_CHANNELS) >> 2u; return max(fma(${name}_raw_ld4(i), ${name}_coef[c], ${name}_coef[c + (BN_CHANNELS >> 2u)]), vec4<f32>(0.0)); }\n`;
    s += `fn ${name}_ld(i: u32) -> f32 { let c = BN_COEF_AT + i % BN_CHANNELS; return max(fma(${name}_raw_ld(i), ${name}_coef[c >> 2u][c & 3u], ${name}_coef[(c + BN_CHANNELS) >> 2u][c & 3u]), 0.0); }\n`;
    return s;
  }
  s += `fn ${name}_ld(i: u32) -> f32 { let c = BN_COEF_AT + i % BN_CHANNELS; return max(fma(${name}_raw_ld(i), ${name}_coef[c], ${name}_coef[c + BN_CHANNELS]), 0.0); }\n`;
  s += `fn ${name}_ld4(i: u32) -> vec4<f32> { return vec4<f32>(${name}_ld(i), ${name}_ld(i + 1u), ${name}_ld(i + 2u), ${name}_ld(i + 3u)); }\n`;
  return s;
}

function f16View(binding: number, name: string, access: 'read' | 'read_write', vec4: boolean): string {
  let s = `enable f16;\n@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${vec4 ? 'vec4<f16>' : 'f16'}>;\n`;
  if (vec4) {
    s += `fn ${name}_ld(i: u32) -> f32 { return f32(${name}[i >> 2u][i & 3u]); }\n`;
    s += `fn ${name}_ld4(i: u32) -> vec4<f32> { return vec4<f32>(${name}[i >> 2u]); }\n`;
    if (access === 'read_write') {
      s += `fn ${name}_st(i: u32, v: f32) { ${name}[i >> 2u][i & 3u] = f16(v); }\n`;
      s += `fn ${name}_st4(i: u32, v: vec4<f32>) { ${name}[i >> 2u] = vec4<f16>(v); }\n`;
    }
    return s;
  }
  s += `fn ${name}_ld(i: u32) -> f32 { return f32(${name}[i]); }\n`;
  s += `fn ${name}_ld4(i: u32) -> vec4<f32> { return vec4<f32>(f32(${name}[i]), f32(${name}[i + 1u]), f32(${name}[i + 2u]), f32(${name}[i + 3u])); }\n`;
  if (access === 'read_write') {
    s += `fn ${name}_st(i: u32, v: f32) { ${name}[i] = f16(v); }\n`;
    s += `fn ${name}_st4(i: u32, v: vec4<f32>) { ${name}[i] = f16(v.x); ${name}[i + 1u] = f16(v.y); ${name}[i + 2u] = f16(v.z); ${name}[i + 3u] = f16(v.w); }\n`;
  }
  return s;
}
