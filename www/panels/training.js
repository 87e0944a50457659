// The "Train in the browser" panel: the text to learn from (built-in proverbs, the text box,
// a .txt file), fine-tune or from scratch, steps / batch / learning rate / seed / training
// workers (data-parallel over that many Web Workers, www/data-parallel.js), the loss chart and
// figures (loss, held-out loss, tokens/s, workers), Pause, Reset and Download weights.

import { nfc } from "../pkg/kgpt.js";
import { state } from "../state.js";
import { FromWorker, ToWorker } from "../protocol.js";
import { $, BUILTIN_URL, emit, on, onWorker, post, showError, updateButtons } from "../app.js";
import { scheduleAnalysis } from "../analysis.js";
import { LossChart } from "../chart.js";
import { download, fmtLoss, intIn, nf, numIn } from "../format.js";
import { textBox } from "./text.js";
import { MAX_TRAIN_WORKERS, defaultWorkerCount } from "../data-parallel.js";

const ui = {
  file: $("train-file"),
  fileName: $("train-file-name"),
  size: $("train-size"),
  steps: $("train-steps"),
  batch: $("train-batch"),
  lr: $("train-lr"),
  seed: $("train-seed"),
  workers: $("train-workers"),
  workersUsed: $("train-workers-used"),
  start: $("train-start"),
  pause: $("train-pause"),
  reset: $("train-reset"),
  downloadWeights: $("download-weights"),
  lossValue: $("loss-value"),
  lossSmoothed: $("loss-smoothed"),
  step: $("train-step"),
  tokensPerSec: $("tokens-per-sec"),
  status: $("train-status"),
  heldOutValue: $("held-out-value"),
  heldOutNote: $("held-out-note"),
};

/** The learning rates the panel accepts (the input's min and max). */
const LR_MIN = 1e-6;
const LR_MAX = 1;

const chart = new LossChart($("loss-chart"));

/** The built-in proverbs (NFC), fetched once. */
export async function builtinText() {
  if (state.builtinText) return state.builtinText;
  const res = await fetch(BUILTIN_URL);
  if (!res.ok) throw new Error(`could not load the built-in text (HTTP ${res.status})`);
  state.builtinText = nfc(await res.text());
  return state.builtinText;
}

function radioValue(name) {
  const checked = document.querySelector(`input[name="${name}"]:checked`);
  return checked ? checked.value : null;
}

/** The chosen text and how to name it, or null (with the error shown). */
async function sourceText() {
  const source = radioValue("train-source");
  try {
    if (source === "textbox") return { text: nfc(textBox.value), sourceName: "the text box" };
    if (source === "file") {
      if (state.trainFileText == null) {
        showError("Choose a .txt file to train on first (or pick another source).");
        return null;
      }
      return { text: state.trainFileText, sourceName: `“${state.trainFileName}”` };
    }
    return { text: await builtinText(), sourceName: "the built-in proverbs" };
  } catch (err) {
    showError(`Training could not start: ${err.message}`);
    return null;
  }
}

/** The learning rate (clamped) and the note saying so when it was. */
function learningRate() {
  const lr = numIn(ui.lr, LR_MIN, LR_MAX, 0.002);
  const asked = Number.parseFloat(ui.lr.value);
  if (!Number.isFinite(asked)) return { lr, note: ` (learning rate “${ui.lr.value}” is not a number: using ${lr})` };
  if (asked !== lr) return { lr, note: ` (learning rate ${asked} is outside ${LR_MIN}…${LR_MAX}: using ${lr})` };
  return { lr, note: "" };
}

async function start() {
  if (!state.ready || state.training || state.generating) return;
  const source = await sourceText();
  if (!source) return;
  const { lr, note } = learningRate();
  const steps = intIn(ui.steps, 1, 100000, 200);
  const batch = intIn(ui.batch, 1, 512, 8);
  const seed = intIn(ui.seed, 0, 4294967295, 1337);
  const workers = intIn(ui.workers, 1, MAX_TRAIN_WORKERS, defaultWorkerCount(navigator.hardwareConcurrency));
  state.training = true;
  updateButtons();
  ui.status.textContent = `Training on ${source.sourceName}…${note}`;
  state.lrNote = note;
  post({ type: ToWorker.TRAIN_START, ...source, mode: radioValue("train-mode"), preset: ui.size.value, steps, batch, lr, seed, workers });
}

function onBegin(msg) {
  state.trainSession = true;
  chart.reset();
  const skipped = msg.chars - msg.usable;
  ui.status.textContent =
    `${msg.mode === "scratch" ? "Training from scratch" : "Fine-tuning"} on ${msg.sourceName}: ${nf.format(msg.usable)} characters` +
    (skipped ? ` (${nf.format(skipped)} outside the vocabulary skipped)` : "") +
    `.${state.lrNote}`;
  state.lrNote = "";
  ui.heldOutNote.textContent = msg.heldOutChars
    ? `The last ${nf.format(msg.heldOutChars)} characters are held out: the model never trains on them, so their loss (dashed) shows whether it learns the language or memorises the text.`
    : `This text is too short to hold out a part (that needs at least ${nf.format(2 * (state.model.config.block_size + 1))} characters the model knows): only the training loss is drawn.`;
  updateButtons();
  emit("train-begin", msg);
}

function onProgress(msg) {
  state.training = true;
  chart.push(msg.step, msg.loss);
  if (msg.heldOut !== null && msg.heldOut !== undefined) {
    chart.pushHeldOut(msg.step, msg.heldOut);
    ui.heldOutValue.textContent = fmtLoss(msg.heldOut);
  }
  ui.lossValue.textContent = fmtLoss(msg.loss);
  ui.lossSmoothed.textContent = fmtLoss(chart.smoothed);
  ui.step.textContent = `${nf.format(msg.step)} / ${nf.format(msg.target)}`;
  ui.tokensPerSec.textContent = nf.format(Math.round(msg.tokensPerSec));
  ui.workersUsed.textContent = String(msg.workers);
  ui.workersUsed.dataset.timing = msg.timing ? JSON.stringify(msg.timing) : "";
  ui.lossValue.dataset.step = String(msg.step);
  ui.lossValue.dataset.loss = String(msg.loss);
  scheduleAnalysis(null);
  emit("train-step", msg);
}

function onStopped(msg) {
  state.training = false;
  const what = msg.reason === "done" ? "Done" : msg.reason === "error" ? "Stopped by an error" : "Paused";
  const where = `${what} at step ${nf.format(msg.step)}${msg.reason === "done" ? "" : ` of ${nf.format(msg.target)}`}`;
  ui.status.textContent =
    msg.reason === "error" && msg.message
      ? `${where}: ${msg.message}`
      : `${where}. ${msg.reason === "done" ? "Start runs more steps; " : "Start continues; "}Reset returns to the weights before training.`;
  updateButtons();
  scheduleAnalysis(null);
  emit("train-stopped", msg);
}

function onReset() {
  state.training = false;
  state.trainSession = false;
  chart.reset();
  resetStats();
  ui.status.textContent = "Reset: the weights are back to what they were before training.";
  updateButtons();
  scheduleAnalysis(null);
}

function resetStats() {
  ui.lossValue.textContent = "—";
  delete ui.lossValue.dataset.step;
  delete ui.lossValue.dataset.loss;
  ui.lossSmoothed.textContent = "—";
  ui.heldOutValue.textContent = "—";
  ui.heldOutNote.textContent = "";
  ui.step.textContent = "—";
  ui.tokensPerSec.textContent = "—";
  ui.workersUsed.textContent = "—";
}

function onWeights(msg) {
  const base = (state.model && state.model.name ? state.model.name : "kannada-gpt").replace(/\.safetensors$/i, "").replace(/[^\p{L}\p{N}._-]+/gu, "-");
  const name = msg.steps ? `${base}-trained-${msg.steps}-steps.safetensors` : `${base}.safetensors`;
  download(new Blob([msg.bytes], { type: "application/octet-stream" }), name);
}

async function onFile() {
  const f = ui.file.files[0];
  if (!f) return;
  try {
    state.trainFileText = nfc(await f.text());
    state.trainFileName = f.name;
    ui.fileName.textContent = `“${f.name}”: ${nf.format([...state.trainFileText].length)} characters.`;
    document.querySelector('input[name="train-source"][value="file"]').checked = true;
  } catch (err) {
    showError(`Could not read “${f.name}”: ${err.message}`);
  }
}

function onButtons() {
  ui.start.disabled = !state.ready || state.training || state.generating;
  ui.start.textContent = state.trainSession ? "Continue" : "Start";
  ui.pause.disabled = !state.training;
  ui.reset.disabled = !state.trainSession;
  ui.downloadWeights.disabled = !state.ready;
  for (const r of document.querySelectorAll('input[name="train-mode"]')) r.disabled = state.trainSession;
  ui.size.disabled = state.trainSession;
}

export function init() {
  ui.workers.value = String(defaultWorkerCount(navigator.hardwareConcurrency));
  ui.start.addEventListener("click", start);
  ui.pause.addEventListener("click", () => post({ type: ToWorker.TRAIN_PAUSE }));
  ui.reset.addEventListener("click", () => post({ type: ToWorker.TRAIN_RESET }));
  ui.downloadWeights.addEventListener("click", () => post({ type: ToWorker.GET_WEIGHTS }));
  ui.file.addEventListener("change", onFile);
  onWorker(FromWorker.TRAIN_BEGIN, onBegin);
  onWorker(FromWorker.TRAIN_PROGRESS, onProgress);
  onWorker(FromWorker.TRAIN_STOPPED, onStopped);
  onWorker(FromWorker.TRAIN_RESET, onReset);
  onWorker(FromWorker.WEIGHTS, onWeights);
  on("model", (info) => {
    if (info.kind === "scratch") return;
    // a newly loaded model ends any training session
    state.training = false;
    state.trainSession = false;
    chart.reset();
    resetStats();
  });
  on("worker-error", (msg) => {
    if (msg.context !== ToWorker.TRAIN_START) return;
    state.training = false;
    ui.status.textContent = `Training did not start: ${msg.message}`;
    updateButtons();
  });
  on("buttons", onButtons);
}
