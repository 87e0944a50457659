// Which of the two wasm builds a worker loads (worker.js, bench-worker.js): `relaxed`
// (www/pkg-relaxed: simd128 + relaxed SIMD, kernel name "wasm-simd128+relaxed") where the browser
// validates a relaxed-SIMD instruction, else `simd128` (www/pkg, "wasm-simd128"). Both are built
// by scripts/build-wasm.sh from the same Rust code and export the same API.
//
// `?kernel=simd128` on the page forces the simd128 build (the page passes its `kernel` parameter
// on in the worker's URL): for testing the fallback, or comparing the two.

/** The package of each build, relative to this file. */
export const WASM_BUILDS = Object.freeze({
  relaxed: "./pkg-relaxed/kgpt.js",
  simd128: "./pkg/kgpt.js",
});

/**
 * The smallest module using relaxed SIMD: one function (v128, v128, v128) → v128 whose body is
 * `f32x4.relaxed_madd` of its three parameters. `WebAssembly.validate` accepts it only where the
 * engine has relaxed SIMD (Chromium ≥ 114, Firefox ≥ 145; Node 20 with
 * --experimental-wasm-relaxed-simd).
 */
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type section: (v128 v128 v128) → v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, // code section: one body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, // local.get 0, 1, 2
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
]);

/** True when this engine has relaxed SIMD. */
export function relaxedSimdValidates() {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** The `kernel` URL parameter of `url` (a page or worker URL): "simd128" forces the fallback. */
export function forcedBuild(url) {
  const kernel = new URL(url).searchParams.get("kernel");
  return kernel === "simd128" ? "simd128" : null;
}

/** The build to load for a worker at `url`: forced by `?kernel=simd128`, else the probe decides. */
export function pickWasmBuild(url) {
  return forcedBuild(url) || (relaxedSimdValidates() ? "relaxed" : "simd128");
}

/**
 * Imports and instantiates `build`'s package: {pkg (the module's exports: Model, kernelName, …),
 * exports (the wasm instance's exports), build}. If the relaxed build fails to load, falls back
 * to simd128 (the page must run wherever simd128 does).
 */
export async function loadWasmBuild(build) {
  try {
    const pkg = await import(new URL(WASM_BUILDS[build], import.meta.url).href);
    const exports = await pkg.default();
    return { pkg, exports, build };
  } catch (err) {
    if (build === "simd128") throw err;
    return loadWasmBuild("simd128");
  }
}
