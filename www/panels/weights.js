// The "Bring your own weights" panel: a .safetensors file (ours, or a gpt.py state_dict with
// the text of its vocabulary), and back to the shipped model. Also the status line in the
// header, which describes the loaded model.

import { state } from "../state.js";
import { FromWorker, ToWorker } from "../protocol.js";
import { $, WEIGHTS_URL, clearError, emit, on, onWorker, post, showError, updateButtons } from "../app.js";
import { nf } from "../format.js";
import { builtinText } from "./training.js";

const ui = {
  status: $("status"),
  file: $("weights-file"),
  vocabFile: $("vocab-file"),
  weightsStatus: $("weights-status"),
  reload: $("reload-model"),
};

/** Largest weights file accepted from the user. */
const MAX_WEIGHTS_BYTES = 256 * 1024 * 1024;

/** The status line: shape, parameters, vocabulary, source, load time, kernels. */
export function describeModel(info) {
  const c = info.config;
  const parts = [`${c.n_layer} layers × ${c.n_head} heads`, `n_embd ${c.n_embd}`, `block ${c.block_size}`, `${nf.format(info.params)} parameters`, `vocabulary ${c.vocab_size}`];
  let source = info.name;
  if (info.kind === "shipped") source = `${info.name} (shipped)`;
  if (info.kind === "state_dict") source = `${info.name} + ${info.vocabName} (gpt.py state_dict)`;
  parts.push(source);
  if (info.loadMs != null) parts.push(`loaded in ${info.loadMs.toFixed(0)} ms`);
  parts.push(info.kernel);
  return parts.join(" · ");
}

async function loadUserWeights(file) {
  if (!file) return;
  if (file.size > MAX_WEIGHTS_BYTES) {
    showError(`“${file.name}” is ${nf.format(Math.round(file.size / 1048576))} MB; the limit is ${MAX_WEIGHTS_BYTES / 1048576} MB. The current model is still loaded.`, "load");
    ui.file.value = "";
    return;
  }
  let bytes;
  try {
    bytes = await file.arrayBuffer();
  } catch (err) {
    showError(`Could not read “${file.name}”: ${err.message}. The current model is still loaded.`);
    return;
  }
  ui.weightsStatus.textContent = `Loading “${file.name}”…`;
  post({ type: ToWorker.LOAD_BYTES, bytes, name: file.name, vocabText: state.vocabText ?? undefined, vocabName: state.vocabName }, [bytes]);
  ui.file.value = "";
  state.lastWeightsFile = file;
}

async function onVocabFile() {
  const file = ui.vocabFile.files[0];
  if (!file) {
    state.vocabText = null;
    return;
  }
  try {
    state.vocabText = await file.text();
    state.vocabName = file.name;
  } catch (err) {
    showError(`Could not read “${file.name}”: ${err.message}`);
    return;
  }
  const distinct = new Set(state.vocabText).size;
  ui.weightsStatus.textContent = `Vocabulary “${file.name}”: ${distinct} distinct characters. ${state.lastWeightsFile ? "Reloading the weights with it…" : "Now choose the state_dict file."}`;
  if (state.lastWeightsFile) loadUserWeights(state.lastWeightsFile);
}

function onModel(info) {
  const first = !state.model;
  state.model = info;
  state.vocabSet = new Set(info.vocab);
  state.ready = true;
  document.body.dataset.ready = "true";
  ui.status.textContent = describeModel(info);
  ui.status.classList.add("ok");
  clearError("load");
  if (info.kind === "file" || info.kind === "state_dict") {
    ui.weightsStatus.textContent = `Loaded “${info.name}”${info.kind === "state_dict" ? ` with the vocabulary of “${info.vocabName}”` : ""}${info.note ? ` (${info.note})` : ""}.`;
  } else if (info.kind === "shipped" && !first) {
    ui.weightsStatus.textContent = "The shipped model is loaded.";
  }
}

/** No shipped weights: an untrained model, so every panel still works. */
function onLoadUrlError() {
  state.errorKind = state.model ? "load" : "general";
  if (state.model) return;
  ui.status.textContent = "The shipped weights could not be downloaded: using an untrained model. Load a weights file or train one below.";
  ui.status.classList.remove("ok");
  builtinText()
    .then((text) => post({ type: ToWorker.INIT_MODEL, text, name: "untrained model (no weights found)" }))
    .catch((err) => showError(`No model could be created: ${err.message}`));
}

/** Loads the shipped weights (at start, and "Back to the shipped model"). */
export function loadShipped() {
  post({ type: ToWorker.LOAD_URL, url: WEIGHTS_URL });
}

export function init() {
  ui.file.addEventListener("change", () => {
    state.lastWeightsFile = null;
    loadUserWeights(ui.file.files[0]);
  });
  ui.vocabFile.addEventListener("change", onVocabFile);
  ui.reload.addEventListener("click", () => {
    ui.weightsStatus.textContent = "Loading the shipped model…";
    state.lastWeightsFile = null;
    loadShipped();
  });
  onWorker(FromWorker.MODEL, (info) => {
    onModel(info);
    emit("model", info);
    updateButtons();
  });
  onWorker(FromWorker.LOAD_ERROR, (msg) => {
    showError(msg.message, "load");
    ui.weightsStatus.textContent = "The file was not loaded; the current model is unchanged.";
  });
  on("worker-error", (msg) => {
    if (msg.context === ToWorker.LOAD_URL) onLoadUrlError();
  });
  on("buttons", () => {
    ui.reload.disabled = !state.ready || state.training;
    ui.file.disabled = state.training;
  });
}
