// The "Benchmark" panel: runs `kgpt bench --quick`'s measurements in a separate worker
// (bench-worker.js, its own wasm instance) and shows them as a table plus the raw JSON: once per
// wasm build the browser has (relaxed SIMD, then simd128; wasm-build.js), one column each.

import { state } from "../state.js";
import { BenchReply } from "../protocol.js";
import { $, showError } from "../app.js";
import { el, nf } from "../format.js";
import { forcedBuild, relaxedSimdValidates } from "../wasm-build.js";

const ui = { run: $("bench"), output: $("bench-output") };

const BENCH_ROWS = [
  ["forward_b1_t128_ms", "Forward pass, 1 × 128 characters", "ms", 2],
  ["forward_tokens_per_s", "Forward throughput", "characters/s", 0],
  ["forward_gflops", "Forward arithmetic rate", "GFLOP/s", 2],
  ["gen_from_1tok_chars_per_s", "Generation from a 1-character prompt", "characters/s", 0],
  ["gen_from_128tok_chars_per_s", "Generation from a 128-character prompt", "characters/s", 0],
  ["train_b16_ms", "Training step, batch 16 × 128", "ms", 1],
  ["train_b16_tokens_per_s", "Training throughput, batch 16", "tokens/s", 0],
  ["train_b32_tokens_per_s", "Training throughput, batch 32", "tokens/s", 0],
];

/** The wasm builds to benchmark here: both where relaxed SIMD validates (unless forced). */
function buildsToRun() {
  return forcedBuild(location.href) || !relaxedSimdValidates() ? ["simd128"] : ["relaxed", "simd128"];
}

/** Runs the benchmark of one build in its own worker; resolves to the worker's RESULT message. */
function benchOne(build) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("../bench-worker.js", import.meta.url), { type: "module" });
    w.onmessage = (e) => {
      w.terminate();
      if (e.data.type === BenchReply.RESULT) resolve(e.data);
      else reject(new Error(`The benchmark failed: ${e.data.message}`));
    };
    w.onerror = (e) => {
      e.preventDefault();
      w.terminate();
      reject(new Error(`The benchmark worker failed: ${e.message || "unknown error"}`));
    };
    w.postMessage({ quick: true, vocabSize: state.model ? state.model.config.vocab_size : 89, build });
  });
}

async function run() {
  ui.run.disabled = true;
  ui.output.replaceChildren(el("p", "small muted", "Running the benchmark in a separate worker…"));
  document.body.dataset.bench = "running";
  try {
    const results = [];
    for (const build of buildsToRun()) results.push(await benchOne(build));
    render(results);
    document.body.dataset.bench = "done";
  } catch (err) {
    document.body.dataset.bench = "error";
    showError(err.message);
    ui.output.replaceChildren();
  } finally {
    ui.run.disabled = false;
  }
}

/** One row per measurement, one value column per kernel (`reports`: [{kernel, run}]). */
function table(reports) {
  const t = el("table", "data-table");
  const hr = el("tr");
  for (const h of ["Measurement", ...reports.map((r) => r.kernel)]) {
    const th = el("th", "", h);
    th.scope = "col";
    hr.append(th);
  }
  const thead = el("thead");
  thead.append(hr);
  const tbody = el("tbody");
  const fmt = (v, digits) => v.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  for (const [key, label, unit, digits] of BENCH_ROWS) {
    if (!reports.some((r) => key in r.run)) continue;
    const tr = el("tr");
    tr.dataset.key = key;
    tr.append(el("td", "", label));
    for (const { run } of reports) tr.append(el("td", "", key in run ? `${fmt(run[key], digits)} ${unit}` : "—"));
    tbody.append(tr);
  }
  t.append(el("caption", "sr-only", "Benchmark results"), thead, tbody);
  return t;
}

/** `results`: the bench worker's RESULT messages, one per build. */
function render(results) {
  const reports = results.map(({ json, kernel, wallMs }) => ({ kernel, wallMs, report: JSON.parse(json) }));
  for (const r of reports) r.run = r.report.runs[0] || {};
  const first = reports[0].report;
  const took = reports.map((r) => `${r.kernel} ${(r.wallMs / 1000).toFixed(1)} s`).join(", ");
  const meta = el("p", "small muted", `${first.impl}, kernels ${reports.map((r) => r.kernel).join(" and ")}, ${first.quick ? "quick mode" : "full"}, ${nf.format(first.n_params)} parameters, 1 thread; took ${took}.`);
  const raws = reports.map((r, i) => {
    const raw = el("details");
    const pre = el("pre", "small", JSON.stringify(r.report, null, 2));
    if (i === 0) pre.id = "bench-json";
    pre.dataset.kernel = r.kernel;
    raw.append(el("summary", "", `Raw JSON, ${r.kernel} (same keys as kgpt bench)`), pre);
    return raw;
  });
  ui.output.replaceChildren(table(reports), meta, ...raws);
}

export function init() {
  ui.run.addEventListener("click", run);
}
