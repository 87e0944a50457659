// The "Benchmark" button's worker: runs the same benchmark as `kgpt bench` (same JSON keys) in
// its own wasm instance, so the page and the model worker stay responsive while it runs.
// Page → {quick, vocabSize, build}; worker → protocol.js BenchReply. `build` is "relaxed" or
// "simd128" (wasm-build.js); without it the worker picks as the model worker does.

import { BenchReply } from "./protocol.js";
import { loadWasmBuild, pickWasmBuild } from "./wasm-build.js";

self.onmessage = async (e) => {
  const { quick = true, vocabSize = 89, build } = e.data || {};
  try {
    const { pkg } = await loadWasmBuild(build || pickWasmBuild(self.location.href));
    const t0 = performance.now();
    const json = pkg.runBench(quick, vocabSize, performance.now.bind(performance));
    self.postMessage({ type: BenchReply.RESULT, json, kernel: pkg.kernelName(), wallMs: performance.now() - t0, userAgent: navigator.userAgent });
  } catch (err) {
    self.postMessage({ type: BenchReply.ERROR, message: err && err.message ? err.message : String(err) });
  }
};
