// The "Benchmark" panel: runs `kgpt bench --quick`'s measurements in a separate worker
// (bench-worker.js, its own wasm instance) and shows them as a table plus the raw JSON.

import { state } from "../state.js";
import { BenchReply } from "../protocol.js";
import { $, showError } from "../app.js";
import { el, nf } from "../format.js";

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

function run() {
  ui.run.disabled = true;
  ui.output.replaceChildren(el("p", "small muted", "Running the benchmark in a separate worker…"));
  document.body.dataset.bench = "running";
  const w = new Worker(new URL("../bench-worker.js", import.meta.url), { type: "module" });
  const finish = () => {
    w.terminate();
    ui.run.disabled = false;
  };
  w.onmessage = (e) => {
    finish();
    if (e.data.type !== BenchReply.RESULT) {
      document.body.dataset.bench = "error";
      showError(`The benchmark failed: ${e.data.message}`);
      ui.output.replaceChildren();
      return;
    }
    render(e.data);
    document.body.dataset.bench = "done";
  };
  w.onerror = (e) => {
    e.preventDefault();
    finish();
    document.body.dataset.bench = "error";
    showError(`The benchmark worker failed: ${e.message || "unknown error"}`);
  };
  w.postMessage({ quick: true, vocabSize: state.model ? state.model.config.vocab_size : 89 });
}

function table(run) {
  const t = el("table", "data-table");
  const hr = el("tr");
  for (const h of ["Measurement", "Value"]) {
    const th = el("th", "", h);
    th.scope = "col";
    hr.append(th);
  }
  const thead = el("thead");
  thead.append(hr);
  const tbody = el("tbody");
  for (const [key, label, unit, digits] of BENCH_ROWS) {
    if (!(key in run)) continue;
    const tr = el("tr");
    tr.dataset.key = key;
    const value = `${run[key].toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
    tr.append(el("td", "", label), el("td", "", value));
    tbody.append(tr);
  }
  t.append(el("caption", "sr-only", "Benchmark results"), thead, tbody);
  return t;
}

function render({ json, kernel, wallMs }) {
  const report = JSON.parse(json);
  const meta = el("p", "small muted", `${report.impl}, kernels ${kernel}, ${report.quick ? "quick mode" : "full"}, ${nf.format(report.n_params)} parameters, 1 thread; took ${(wallMs / 1000).toFixed(1)} s.`);
  const raw = el("details");
  const pre = el("pre", "small", JSON.stringify(report, null, 2));
  pre.id = "bench-json";
  raw.append(el("summary", "", "Raw JSON (same keys as kgpt bench)"), pre);
  ui.output.replaceChildren(table(report.runs[0] || {}), meta, raw);
}

export function init() {
  ui.run.addEventListener("click", run);
}
