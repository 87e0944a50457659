// The "Generate" panel: temperature, top-k, seed and length; streams characters from the
// worker into the text box (read-only meanwhile) while the maps follow.

import { state } from "../state.js";
import { FromWorker, ToWorker } from "../protocol.js";
import { $, on, onWorker, post, registerHashField, scheduleHash, updateButtons } from "../app.js";
import { scheduleAnalysis } from "../analysis.js";
import { intIn, numIn } from "../format.js";
import { appendText, setGenerating, textBox } from "./text.js";

const ui = {
  temperature: $("temperature"),
  temperatureOut: $("temperature-out"),
  topK: $("top-k"),
  seed: $("seed"),
  length: $("gen-length"),
  generate: $("generate"),
  stop: $("stop"),
  status: $("gen-status"),
};

/** The settings as the worker gets them (clamped; the hash keeps the same values). */
function settings() {
  return {
    temperature: numIn(ui.temperature, 0, 2, 0.8),
    topK: intIn(ui.topK, 0, state.model ? state.model.config.vocab_size : 100000, 0),
    seed: intIn(ui.seed, 0, 4294967295, 42),
    n: intIn(ui.length, 1, 5000, 200),
  };
}

function start() {
  if (!state.ready || state.generating || state.training) return;
  const { temperature, topK, seed, n } = settings();
  state.generating = true;
  state.genId++;
  setGenerating(true);
  ui.status.textContent = `Generating ${n} characters (temperature ${temperature}, top-k ${topK || "all"}, seed ${seed})…`;
  updateButtons();
  post({ type: ToWorker.GENERATE, id: state.genId, text: textBox.value, n, temperature, topK, seed });
}

function onToken(msg) {
  if (msg.id !== state.genId) return;
  appendText(msg.ch);
  scheduleAnalysis(null);
}

function onDone(msg) {
  if (msg.id !== state.genId) return;
  state.generating = false;
  setGenerating(false);
  const secs = msg.ms / 1000;
  const rate = msg.count && secs > 0 ? ` (${(msg.count / secs).toFixed(0)} characters/s, heatmaps following)` : "";
  const how = msg.reason === "stopped" ? "Stopped after" : msg.reason === "error" ? "Failed after" : "Generated";
  ui.status.textContent = `${how} ${msg.count} character${msg.count === 1 ? "" : "s"} in ${secs.toFixed(1)} s${rate}.`;
  updateButtons();
  scheduleAnalysis(null);
  scheduleHash();
}

/** A number input carried in the hash when it differs from its default. */
function numberField(input, fallback, value) {
  return {
    get: () => {
      const v = String(value());
      return v === fallback ? null : v;
    },
    set: (v) => {
      if (v !== null && Number.isFinite(Number.parseFloat(v))) input.value = v;
      ui.temperatureOut.textContent = ui.temperature.value;
    },
  };
}

function registerHash() {
  registerHashField("temp", numberField(ui.temperature, "0.8", () => numIn(ui.temperature, 0, 2, 0.8)));
  registerHashField("topk", numberField(ui.topK, "20", () => intIn(ui.topK, 0, 100000, 20)));
  registerHashField("seed", numberField(ui.seed, "42", () => intIn(ui.seed, 0, 4294967295, 42)));
  registerHashField("n", numberField(ui.length, "200", () => intIn(ui.length, 1, 5000, 200)));
}

export function init() {
  ui.temperature.addEventListener("input", () => {
    ui.temperatureOut.textContent = ui.temperature.value;
    scheduleHash();
  });
  for (const input of [ui.topK, ui.seed, ui.length]) input.addEventListener("change", scheduleHash);
  ui.generate.addEventListener("click", start);
  ui.stop.addEventListener("click", () => post({ type: ToWorker.STOP }));
  onWorker(FromWorker.GEN_TOKEN, onToken);
  onWorker(FromWorker.GEN_DONE, onDone);
  registerHash();
  on("model", (info) => {
    state.generating = false;
    ui.topK.max = String(info.config.vocab_size);
  });
  on("buttons", () => {
    ui.generate.disabled = !state.ready || state.generating || state.training;
    ui.stop.disabled = !state.generating;
  });
}
