// The "Benchmark" button's worker: runs the same benchmark as `kgpt bench` (same JSON keys) in
// its own wasm instance, so the page and the model worker stay responsive while it runs.
// Page → {quick, vocabSize}; worker → protocol.js BenchReply.

import init, { runBench, kernelName } from "./pkg/kgpt.js";
import { BenchReply } from "./protocol.js";

self.onmessage = async (e) => {
  const { quick = true, vocabSize = 89 } = e.data || {};
  try {
    await init();
    const t0 = performance.now();
    const json = runBench(quick, vocabSize, performance.now.bind(performance));
    self.postMessage({ type: BenchReply.RESULT, json, kernel: kernelName(), wallMs: performance.now() - t0, userAgent: navigator.userAgent });
  } catch (err) {
    self.postMessage({ type: BenchReply.ERROR, message: err && err.message ? err.message : String(err) });
  }
};
