// Micro-KannadaGPT viewer: the page. The model lives in a Web Worker (worker.js); this module
// owns the DOM: the text box (NFC, phonetic typing), the heatmap grid, the large view, the
// next-character panel, generation, training, weights, export, sharing and the benchmark.
//
// The page also instantiates the wasm module itself (no model, just the text helpers: nfc,
// transliterate, the akshara segmenter) so those run synchronously while you type.
//
// User-provided strings (text, file names, vocabulary, error messages) only ever reach the DOM
// through `textContent` / input values, or the canvas through `fillText`.

import initWasm, { nfc, transliterate, transliterationTable, segmentAksharasRaw, aksharaLabel } from "./pkg/kgpt.js";
import { AttentionGrid, LargeView, aggregateGroups, drawLegend, fmt3, scalePos, SCALES, VIRIDIS } from "./heatmap.js";
import { LossChart } from "./chart.js";

const DEFAULT_TEXT = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ";
const WEIGHTS_URL = new URL("../weights/kannada-gpt.safetensors", import.meta.url).href;
const BUILTIN_URL = new URL("./data/proverbs.txt", import.meta.url).href;
/** Longest text kept in the URL (characters); longer texts are left out of the link. */
const HASH_TEXT_LIMIT = 4000;
/** Largest weights file accepted from the user. */
const MAX_WEIGHTS_BYTES = 256 * 1024 * 1024;
const DEFAULTS = { view: "chars", scale: "linear", temp: "0.8", topk: "20", seed: "42", n: "200" };

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  errorBox: $("error-box"),
  error: $("error"),
  errorDismiss: $("error-dismiss"),
  text: $("text"),
  textInfo: $("text-info"),
  unknownNotice: $("unknown-notice"),
  cropNotice: $("crop-notice"),
  wrapNotice: $("wrap-notice"),
  phoneticToggle: $("phonetic-toggle"),
  phoneticBox: $("phonetic-box"),
  latin: $("latin"),
  latinPreview: $("latin-preview"),
  translitBody: document.querySelector("#translit-table tbody"),
  strip: $("token-strip"),
  nextList: $("next-char"),
  nextContext: $("next-context"),
  temperature: $("temperature"),
  temperatureOut: $("temperature-out"),
  topK: $("top-k"),
  seed: $("seed"),
  genLength: $("gen-length"),
  generate: $("generate"),
  stop: $("stop"),
  genStatus: $("gen-status"),
  grid: $("attention-grid"),
  aksharaToggle: $("akshara-toggle"),
  scale: $("scale"),
  legend: $("legend"),
  legendLabel: $("legend-label"),
  drawTime: $("draw-time"),
  tooltip: $("tooltip"),
  dialog: $("head-dialog"),
  dialogTitle: $("dialog-title"),
  largeCanvas: $("large-canvas"),
  readout: $("cell-readout"),
  valuesDetails: $("values-details"),
  valuesTable: $("values-table"),
  prevHead: $("prev-head"),
  nextHead: $("next-head"),
  closeDialog: $("close-dialog"),
  trainFile: $("train-file"),
  trainFileName: $("train-file-name"),
  trainSize: $("train-size"),
  trainSteps: $("train-steps"),
  trainBatch: $("train-batch"),
  trainLr: $("train-lr"),
  trainSeed: $("train-seed"),
  trainStart: $("train-start"),
  trainPause: $("train-pause"),
  trainReset: $("train-reset"),
  downloadWeights: $("download-weights"),
  lossValue: $("loss-value"),
  lossSmoothed: $("loss-smoothed"),
  trainStep: $("train-step"),
  tokensPerSec: $("tokens-per-sec"),
  lossChart: $("loss-chart"),
  trainStatus: $("train-status"),
  weightsFile: $("weights-file"),
  vocabFile: $("vocab-file"),
  weightsStatus: $("weights-status"),
  reloadModel: $("reload-model"),
  exportPng: $("export-png"),
  exportJson: $("export-json"),
  shareLink: $("share-link"),
  copyLink: $("copy-link"),
  shareStatus: $("share-status"),
  bench: $("bench"),
  benchOutput: $("bench-output"),
};

const S = {
  worker: null,
  model: null, // info from the worker: {config, params, vocab, name, kind, loadMs, kernel}
  vocabSet: new Set(),
  ready: false,
  view: "chars",
  scale: "linear",
  analysis: null, // last analysis from the worker
  analysisText: "", // the text that analysis was computed from
  display: null, // what the maps show: {n, data, labels, groups, maps, layers, heads}
  selected: null, // {layer, head} of the large view
  largeCell: null,
  // analysis requests: at most one in flight; keystrokes while it runs are coalesced
  inflight: false,
  pendingSince: null, // earliest keystroke (ms) not yet drawn, or null
  pendingAny: false,
  reqStart: 0,
  reqText: "",
  reqId: 0,
  redraws: 0,
  lastCursor: -1,
  generating: false,
  genId: 0,
  genStart: 0,
  training: false,
  trainSession: false,
  trainFileText: null,
  trainFileName: "",
  vocabText: null,
  vocabName: "",
  phonetic: { on: false, base: "" },
  composing: false,
  hashTimer: 0,
  valuesTimer: 0,
  pendingHead: null,
  statsWaiters: [],
  sentAt: 0,
  uiReady: false,
  builtinText: null,
};

const nf = new Intl.NumberFormat("en");
/** The learning rates the training panel accepts (the input's min and max). */
const LR_MIN = 1e-6;
const LR_MAX = 1;
/** A loss for display: 3 decimals, or 4 significant digits once it is huge (divergence). */
const fmtLoss = (v) => (Math.abs(v) < 1e5 ? v.toFixed(3) : v.toPrecision(4));

// ---------------------------------------------------------------------------------------------
// errors and status

/** Shows `message` in #error. `kind` "load" errors are cleared by the next successful load. */
function showError(message, kind = "general") {
  ui.error.textContent = message;
  ui.errorBox.hidden = false;
  S.errorKind = kind;
}

function clearError(kind = null) {
  if (kind && S.errorKind !== kind) return;
  ui.error.textContent = "";
  ui.errorBox.hidden = true;
  S.errorKind = null;
}

function describeModel(info) {
  const c = info.config;
  const parts = [
    `${c.n_layer} layers × ${c.n_head} heads`,
    `n_embd ${c.n_embd}`,
    `block ${c.block_size}`,
    `${nf.format(info.params)} parameters`,
    `vocabulary ${c.vocab_size}`,
  ];
  let source = info.name;
  if (info.kind === "shipped") source = `${info.name} (shipped)`;
  if (info.kind === "state_dict") source = `${info.name} + ${info.vocabName} (gpt.py state_dict)`;
  parts.push(source);
  if (info.loadMs != null) parts.push(`loaded in ${info.loadMs.toFixed(0)} ms`);
  parts.push(info.kernel);
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------------------------
// the worker

function startWorker() {
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (e) => onWorkerMessage(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    workerDied(e.message || "unknown error");
  };
  worker.onmessageerror = () => workerDied("a message could not be read");
  S.worker = worker;
  S.inflight = false;
  return worker;
}

function workerDied(reason) {
  const now = performance.now();
  S.restarts = (S.restarts || []).filter((t) => now - t < 60000);
  S.restarts.push(now);
  if (S.restarts.length > 3) {
    S.ready = false;
    updateButtons();
    showError(`The model worker keeps failing (${reason}). Please reload the page.`);
    return;
  }
  S.ready = false;
  S.generating = false;
  S.training = false;
  S.trainSession = false;
  S.inflight = false;
  ui.text.readOnly = false;
  updateButtons();
  for (const r of S.statsWaiters.splice(0)) r(null);
  showError(`The model worker stopped (${reason}). It was restarted with the shipped model; anything trained or loaded since is gone.`);
  try {
    S.worker.terminate();
  } catch {
    /* already gone */
  }
  startWorker();
  S.worker.postMessage({ type: "load-url", url: WEIGHTS_URL });
}

function onWorkerMessage(msg) {
  switch (msg.type) {
    case "wasm":
      break;
    case "model":
      onModel(msg);
      break;
    case "load-error":
      showError(msg.message, "load");
      ui.weightsStatus.textContent = "The file was not loaded; the current model is unchanged.";
      break;
    case "analysis":
      onAnalysis(msg);
      break;
    case "gen-token":
      onGenToken(msg);
      break;
    case "gen-done":
      onGenDone(msg);
      break;
    case "train-begin":
      onTrainBegin(msg);
      break;
    case "train-progress":
      onTrainProgress(msg);
      break;
    case "train-stopped":
      onTrainStopped(msg);
      break;
    case "train-reset":
      onTrainReset();
      break;
    case "weights":
      onWeights(msg);
      break;
    case "error":
      onWorkerError(msg);
      break;
    case "fatal":
      workerDied(msg.message);
      break;
    case "stats": {
      const waiter = S.statsWaiters.shift();
      if (waiter) waiter(msg);
      break;
    }
    default:
      break;
  }
}

function onWorkerError(msg) {
  showError(msg.message);
  if (msg.context === "analyze") {
    S.inflight = false;
    if (S.pendingSince !== null || S.pendingAny) sendAnalysis();
  }
  if (msg.context === "load-url") {
    S.errorKind = S.model ? "load" : "general";
    if (!S.model) {
      // no weights at all: start from an untrained model so every panel still works
      ui.status.textContent = "The shipped weights could not be downloaded: using an untrained model. Load a weights file or train one below.";
      ui.status.classList.remove("ok");
      builtinText()
        .then((text) => S.worker.postMessage({ type: "init-model", text, name: "untrained model (no weights found)" }))
        .catch((err) => showError(`No model could be created: ${err.message}`));
    }
  }
  if (msg.context === "train-start") {
    S.training = false;
    ui.trainStatus.textContent = `Training did not start: ${msg.message}`;
    updateButtons();
  }
}

function onModel(info) {
  const first = !S.model;
  S.model = info;
  S.vocabSet = new Set(info.vocab);
  S.ready = true;
  document.body.dataset.ready = "true";
  ui.status.textContent = describeModel(info);
  ui.status.classList.add("ok");
  clearError("load");
  if (info.kind === "file" || info.kind === "state_dict") {
    ui.weightsStatus.textContent = `Loaded “${info.name}”${info.kind === "state_dict" ? ` with the vocabulary of “${info.vocabName}”` : ""}${info.note ? ` (${info.note})` : ""}.`;
  } else if (info.kind === "shipped" && !first) {
    ui.weightsStatus.textContent = "The shipped model is loaded.";
  }
  if (info.kind !== "scratch") {
    // a newly loaded model ends any training session
    S.training = false;
    S.trainSession = false;
    chart.reset();
    resetTrainStats();
  }
  S.generating = false;
  ui.text.readOnly = false;
  grid.configure(info.config.n_layer, info.config.n_head);
  ui.topK.max = String(info.config.vocab_size);
  updateButtons();
  scheduleAnalysis(null);
}

// ---------------------------------------------------------------------------------------------
// analysis requests (one in flight, the rest coalesced)

function scheduleAnalysis(since) {
  if (!S.ready || !S.uiReady) return;
  if (since != null && (S.pendingSince === null || since < S.pendingSince)) S.pendingSince = since;
  S.pendingAny = true;
  if (!S.inflight) sendAnalysis();
}

function sendAnalysis() {
  S.inflight = true;
  S.sentAt = performance.now();
  S.pendingAny = false;
  S.reqStart = S.pendingSince !== null ? S.pendingSince : performance.now();
  S.reqFromKey = S.pendingSince !== null;
  S.pendingSince = null;
  S.reqText = ui.text.value;
  S.lastCursor = ui.text.selectionStart;
  S.reqCursor = S.lastCursor;
  S.worker.postMessage({ type: "analyze", id: ++S.reqId, text: S.reqText, cursor: S.lastCursor });
}

function onAnalysis(msg) {
  S.inflight = false;
  if (msg.nonFinite) {
    showError("The model's output for this text is not finite (NaN or ∞): its weights overflow. Reset the training, or load another model.", "nonfinite");
  } else {
    clearError("nonfinite");
  }
  const t0 = performance.now();
  S.analysis = msg;
  S.analysisText = S.reqText;
  S.display = buildDisplay();
  grid.update(S.display);
  renderStrip();
  renderNext();
  renderNotices();
  if (ui.dialog.open && S.selected) showLarge();
  const t1 = performance.now();
  const total = t1 - S.reqStart;
  ui.grid.dataset.tokens = String(msg.t);
  ui.grid.dataset.groups = String(S.display.n);
  ui.grid.dataset.ms = total.toFixed(1);
  ui.grid.dataset.drawMs = (t1 - t0).toFixed(1);
  ui.grid.dataset.forwardMs = msg.forwardMs.toFixed(1);
  ui.grid.dataset.reused = String(msg.reused ?? 0);
  ui.grid.dataset.fromKey = S.reqFromKey ? "1" : "0";
  ui.grid.dataset.seq = String(++S.redraws);
  const what = S.reqFromKey ? `keystroke → ${msg.layers * msg.heads} maps drawn` : "update";
  ui.drawTime.textContent = `${msg.t} characters · forward ${msg.forwardMs.toFixed(1)} ms (worker) · draw ${(t1 - t0).toFixed(1)} ms · ${what} ${total.toFixed(1)} ms`;
  updateButtons();
  if (S.pendingSince !== null || S.pendingAny) sendAnalysis();
}

/** Labels for a character or akshara on axes, in the strip and in tooltips. */
function displayLabel(s) {
  if (s === " ") return "␣";
  if (s === "\n") return "↵";
  if (s === "\t") return "⇥";
  if (s === "\r") return "␍";
  if (/^[\u0000-\u001f\u007f]$/.test(s)) return `U+${s.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  return aksharaLabel(s);
}

function buildDisplay() {
  const a = S.analysis;
  const layers = a.layers;
  const heads = a.heads;
  const maps = layers * heads;
  if (!a.attention || !a.t) return { n: 0, data: new Float32Array(0), labels: [], groups: [], maps, layers, heads, scale: S.scale, view: S.view };
  let groups;
  let data;
  if (S.view === "aksharas") {
    const flat = segmentAksharasRaw(a.seen.join(""));
    groups = [];
    for (let i = 0; i < flat.length; i += 2) groups.push([flat[i], flat[i + 1]]);
    data = aggregateGroups(a.attention, maps, a.t, groups);
  } else {
    groups = a.seen.map((_, i) => [i, i + 1]);
    data = a.attention;
  }
  const labels = groups.map(([s, e]) => displayLabel(a.seen.slice(s, e).join("")));
  return { n: groups.length, data, labels, groups, maps, layers, heads, scale: S.scale, view: S.view };
}

function redrawFromCache() {
  if (!S.analysis) return;
  S.display = buildDisplay();
  grid.update(S.display);
  ui.grid.dataset.groups = String(S.display.n);
  renderStrip();
  if (ui.dialog.open && S.selected) showLarge();
}

// ---------------------------------------------------------------------------------------------
// text box, NFC and phonetic typing

function normalizeTextarea() {
  const v = ui.text.value;
  const n = nfc(v);
  if (n === v) return;
  const caret = ui.text.selectionStart;
  const before = nfc(v.slice(0, caret)).length;
  ui.text.value = n;
  ui.text.setSelectionRange(before, before);
}

/**
 * Browsers lay out a textarea paragraph as a whole: one 100 KB line of Kannada without line
 * breaks takes Chromium seconds per keystroke to re-wrap. Above LONG_LINE characters in a line
 * the box stops soft-wrapping (it scrolls sideways instead), which keeps typing instant.
 */
const LONG_LINE = 4000;

function longestLine(text) {
  if (text.length <= LONG_LINE) return text.length;
  let longest = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl;
    longest = Math.max(longest, end - start);
    if (nl < 0) return longest;
    start = nl + 1;
  }
}

function updateWrapMode(text = ui.text.value) {
  const long = longestLine(text) > LONG_LINE;
  if (long !== ui.text.classList.contains("nowrap")) {
    ui.text.classList.toggle("nowrap", long);
    ui.wrapNotice.hidden = !long;
  }
}

function onBeforeInput(e) {
  // switch before a big paste is laid out, not after
  const incoming = e.data || (e.dataTransfer ? e.dataTransfer.getData("text/plain") : "");
  if (incoming && incoming.length > LONG_LINE && !ui.text.classList.contains("nowrap") && longestLine(incoming) > LONG_LINE) {
    ui.text.classList.add("nowrap");
    ui.wrapNotice.hidden = false;
  }
}

function onTextInput(e) {
  if (S.composing || e.isComposing) {
    scheduleAnalysis(e.timeStamp);
    return;
  }
  normalizeTextarea();
  updateWrapMode();
  if (S.phonetic.on) {
    S.phonetic.base = ui.text.value;
    ui.latin.value = "";
    ui.latinPreview.textContent = "";
  }
  scheduleAnalysis(e.timeStamp);
  scheduleHash();
}

function setPhonetic(on) {
  S.phonetic.on = on;
  ui.phoneticToggle.checked = on;
  ui.phoneticBox.hidden = !on;
  S.phonetic.base = ui.text.value;
  ui.latin.value = "";
  ui.latinPreview.textContent = "";
  scheduleHash();
}

function onLatinInput(e) {
  const kannada = transliterate(ui.latin.value);
  ui.latinPreview.textContent = kannada;
  ui.text.value = nfc(S.phonetic.base + kannada);
  ui.text.setSelectionRange(ui.text.value.length, ui.text.value.length);
  scheduleAnalysis(e.timeStamp);
  scheduleHash();
}

function commitLatin() {
  S.phonetic.base = ui.text.value;
  ui.latin.value = "";
  ui.latinPreview.textContent = "";
}

function buildTranslitTable() {
  const rows = transliterationTable();
  const frag = document.createDocumentFragment();
  for (const [latin, kannada, note] of rows) {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = latin;
    a.append(code);
    const b = document.createElement("td");
    b.lang = "kn";
    b.textContent = kannada;
    const c = document.createElement("td");
    c.textContent = note;
    tr.append(a, b, c);
    frag.append(tr);
  }
  ui.translitBody.replaceChildren(frag);
}

// ---------------------------------------------------------------------------------------------
// notices, the token strip and the next-character panel

function renderNotices() {
  const a = S.analysis;
  const chars = a.chars;
  ui.textInfo.textContent = `${nf.format(chars)} character${chars === 1 ? "" : "s"} · the model reads ${nf.format(a.t)}`;
  if (a.unknown) {
    const sample = a.unknownSamples.map(([ch]) => `“${displayLabel(ch)}”`).join(" ");
    const more = a.unknownSamples.length >= 12 ? " …" : "";
    ui.unknownNotice.textContent = `${nf.format(a.unknown)} character${a.unknown === 1 ? " is" : "s are"} not in the model's vocabulary and ${a.unknown === 1 ? "was" : "were"} skipped: ${sample}${more}`;
    ui.unknownNotice.hidden = false;
  } else {
    ui.unknownNotice.hidden = true;
  }
  if (a.cropped) {
    ui.cropNotice.textContent = `The text is longer than the model's block size (${S.model.config.block_size} characters): it sees only the last ${a.t}; ${nf.format(a.cropped)} earlier character${a.cropped === 1 ? " is" : "s are"} not used.`;
    ui.cropNotice.hidden = false;
  } else {
    ui.cropNotice.hidden = true;
  }
}

/** The characters the model sees, one element per char (or akshara), unknown ones struck through. */
function renderStrip() {
  const a = S.analysis;
  const d = S.display;
  const frag = document.createDocumentFragment();
  S.stripItems = [];
  if (a.cropped) {
    const c = document.createElement("span");
    c.className = "tok cropped";
    c.textContent = `… ${nf.format(a.cropped)} earlier not seen`;
    frag.append(c);
  }
  const groupOf = new Int32Array(a.t);
  d.groups.forEach(([s, e], g) => groupOf.fill(g, s, e));
  const tail = S.analysisText.slice(a.windowStart);
  let k = 0;
  let current = -1;
  // unknown characters: shown struck through; after 5 in a row the rest of the run is a count
  let run = 0;
  let runEl = null;
  const runs = [];
  for (const ch of tail) {
    if (k < a.t && S.vocabSet.has(ch)) {
      run = 0;
      runEl = null;
      const g = groupOf[k];
      if (g !== current) {
        current = g;
        const el = document.createElement("span");
        const [s, e] = d.groups[g];
        const label = displayLabel(a.seen.slice(s, e).join(""));
        el.className = label === "␣" || label === "↵" ? "tok space" : "tok";
        el.textContent = label;
        el.dataset.index = String(g);
        S.stripItems[g] = el;
        frag.append(el);
      }
      k++;
      continue;
    }
    run++;
    if (run <= 5) {
      const u = document.createElement("span");
      u.className = "tok unknown";
      u.textContent = displayLabel(ch);
      u.title = "not in the vocabulary: skipped";
      frag.append(u);
      continue;
    }
    if (!runEl) {
      runEl = { el: document.createElement("span"), n: 0 };
      runEl.el.className = "tok skip-run";
      runs.push(runEl);
      frag.append(runEl.el);
    }
    runEl.n++;
  }
  for (const r of runs) r.el.textContent = `+${nf.format(r.n)} more skipped`;
  ui.strip.replaceChildren(frag);
  if (!a.t) {
    const empty = document.createElement("span");
    empty.className = "muted small";
    empty.textContent = "Type some Kannada above.";
    ui.strip.append(empty);
  }
}

/** Lights up the strip by the attention of query `q` in map `m` of the current display. */
function highlightStrip(m, q) {
  const d = S.display;
  if (!d || !S.stripItems) return;
  const base = m * d.n * d.n + q * d.n;
  let max = 0;
  for (let g = 0; g <= q; g++) max = Math.max(max, d.data[base + g]);
  for (let g = 0; g < d.n; g++) {
    const el = S.stripItems[g];
    if (!el) continue;
    // brightness relative to the row's largest weight (the tooltip has the exact value)
    const w = g <= q && max > 0 ? scalePos(d.data[base + g] / max, S.scale) : 0;
    el.style.setProperty("--w", w.toFixed(3));
    el.classList.toggle("lit", w > 0.55);
    el.classList.toggle("future", g > q);
    el.classList.toggle("query", g === q);
  }
}

function clearStripHighlight() {
  if (!S.stripItems) return;
  for (const el of S.stripItems) {
    if (!el) continue;
    el.style.removeProperty("--w");
    el.classList.remove("lit", "future", "query");
  }
}

function renderNext() {
  const a = S.analysis;
  const frag = document.createDocumentFragment();
  if (!a.next) {
    ui.nextContext.textContent = a.total ? "Place the cursor after some Kannada text to see what the model expects next." : "Type some Kannada text to see what the model expects next.";
    ui.nextList.replaceChildren();
    return;
  }
  ui.nextContext.textContent = `After “${contextBefore(S.analysisText, S.reqCursor)}” (character ${nf.format(a.next.position)} of ${nf.format(a.total)}), probabilities at temperature 1:`;
  for (const { ch, p } of a.next.top) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "next-item";
    const label = displayLabel(ch);
    // The accessible name is the visible text (no aria-label, which must contain it: WCAG 2.5.3)
    // plus screen-reader-only words: "space"/"new line" for the ␣/↵ glyphs and the action.
    const spoken = label === "␣" ? "space" : label === "↵" ? "new line" : null;
    const c = document.createElement("span");
    c.className = "next-char";
    c.textContent = label;
    if (spoken) c.setAttribute("aria-hidden", "true");
    const said = document.createElement("span");
    said.className = "sr-only";
    said.textContent = spoken ? `${spoken} ` : " ";
    const bar = document.createElement("span");
    bar.className = "next-bar";
    bar.style.setProperty("--p", p.toFixed(4));
    const pr = document.createElement("span");
    pr.className = "next-prob";
    pr.textContent = p >= 0.001 ? `${(p * 100).toFixed(1)}%` : `${(p * 100).toFixed(2)}%`;
    const hint = document.createElement("span");
    hint.className = "sr-only";
    hint.textContent = ". Insert at the cursor.";
    b.append(c, said, bar, pr, hint);
    b.addEventListener("click", () => insertAtCursor(ch));
    li.append(b);
    frag.append(li);
  }
  ui.nextList.replaceChildren(frag);
}

/** The last few aksharas before UTF-16 offset `cursor` (at most ~10 characters), for display. */
function contextBefore(text, cursor) {
  // never cut a surrogate pair: a caret set between its halves (setSelectionRange allows it)
  // would show half an emoji as U+FFFD
  const high = (i) => i >= 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xd800;
  const low = (i) => i >= 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00;
  if (high(cursor - 1) && low(cursor)) cursor--;
  let start = Math.max(0, cursor - 24);
  if (low(start) && high(start - 1)) start++;
  const chars = [...text.slice(start, cursor)];
  const truncated = start > 0;
  const flat = segmentAksharasRaw(chars.join(""));
  const groups = [];
  for (let i = 0; i < flat.length; i += 2) groups.push(chars.slice(flat[i], flat[i + 1]).join(""));
  if (truncated && groups.length > 1) groups.shift(); // may be a partial akshara
  const show = (s) => (s === " " ? "␣" : aksharaLabel(s).replace(/\n/g, "↵"));
  let out = "";
  let n = 0;
  for (let i = groups.length - 1; i >= 0; i--) {
    const len = [...groups[i]].length;
    if (out && n + len > 10) return `…${show(out)}`;
    out = groups[i] + out;
    n += len;
  }
  return truncated ? `…${show(out)}` : show(out);
}

function insertAtCursor(ch) {
  if (ui.text.readOnly) return;
  const { selectionStart: s, selectionEnd: e } = ui.text;
  ui.text.setRangeText(ch, s, e, "end");
  ui.text.focus();
  ui.text.dispatchEvent(new Event("input", { bubbles: true }));
}

// ---------------------------------------------------------------------------------------------
// hover, tooltip and the large view

function cellText(m, q, k) {
  const d = S.display;
  const layer = Math.floor(m / d.heads);
  const head = m % d.heads;
  const unit = d.view === "aksharas" ? "akshara" : "character";
  const masked = k > q;
  const v = masked ? 0 : d.data[m * d.n * d.n + q * d.n + k];
  return {
    head: `Layer ${layer + 1} · head ${head + 1}`,
    pair: `“${d.labels[q]}” → “${d.labels[k]}”`,
    where: `query ${unit} ${q + 1}, key ${unit} ${k + 1}`,
    weight: masked ? "masked (future)" : fmt3(v),
    masked,
  };
}

function showTooltip(info) {
  const d = S.display;
  if (!d || !d.n) return;
  const m = info.layer * d.heads + info.head;
  const t = cellText(m, info.q, info.k);
  const tip = ui.tooltip;
  const head = document.createElement("div");
  head.className = "tt-head";
  head.textContent = `${t.head} · ${t.where}`;
  const pair = document.createElement("div");
  pair.className = "tt-pair";
  pair.lang = "kn";
  pair.textContent = t.pair;
  const w = document.createElement("div");
  w.append("weight ");
  const ws = document.createElement("span");
  ws.className = "tt-weight";
  ws.textContent = t.weight;
  w.append(ws);
  tip.replaceChildren(head, pair, w);
  tip.hidden = false;
  const pad = 14;
  const rect = tip.getBoundingClientRect();
  let x = info.clientX + pad;
  let y = info.clientY + pad;
  if (x + rect.width > window.innerWidth - 4) x = info.clientX - rect.width - pad;
  if (y + rect.height > window.innerHeight - 4) y = info.clientY - rect.height - pad;
  tip.style.setProperty("--x", `${Math.max(4, x)}px`);
  tip.style.setProperty("--y", `${Math.max(4, y)}px`);
  highlightStrip(m, info.q);
}

function hideTooltip() {
  ui.tooltip.hidden = true;
  clearStripHighlight();
}

function openHead(layer, head) {
  if (!S.display) return;
  S.selected = { layer, head };
  hideTooltip();
  if (!ui.dialog.open) ui.dialog.showModal();
  showLarge();
  ui.largeCanvas.focus();
  scheduleHash();
}

function showLarge() {
  const d = S.display;
  const { layer, head } = S.selected;
  const m = layer * d.heads + head;
  ui.dialogTitle.textContent = `Layer ${layer + 1} · head ${head + 1}${d.view === "aksharas" ? " · aksharas" : ""}`;
  ui.largeCanvas.setAttribute(
    "aria-label",
    `Attention of layer ${layer + 1}, head ${head + 1}: ${d.n} × ${d.n}. Rows are queries, columns keys. Use the arrow keys to read values; the values table below lists them all.`,
  );
  large.show(d, m);
  if (S.largeCell && S.largeCell.q < d.n) onLargeCell({ ...S.largeCell, map: m });
  scheduleValuesTable();
}

function onLargeCell(cell) {
  const d = S.display;
  if (!d || !d.n) return;
  S.largeCell = { q: cell.q, k: cell.k };
  const t = cellText(cell.map, cell.q, cell.k);
  const pair = document.createElement("span");
  pair.lang = "kn";
  pair.textContent = t.pair;
  const w = document.createElement("span");
  w.className = "tt-weight";
  w.textContent = t.weight;
  ui.readout.replaceChildren(pair, ` · ${t.where} · weight `, w);
  highlightStrip(cell.map, cell.q);
}

function stepHead(delta) {
  if (!S.selected || !S.display) return;
  const d = S.display;
  const total = d.layers * d.heads;
  const m = (S.selected.layer * d.heads + S.selected.head + delta + total) % total;
  S.selected = { layer: Math.floor(m / d.heads), head: m % d.heads };
  showLarge();
  scheduleHash();
}

function scheduleValuesTable() {
  if (!ui.valuesDetails.open) return;
  clearTimeout(S.valuesTimer);
  S.valuesTimer = setTimeout(renderValuesTable, S.valuesRendered ? 300 : 0);
}

/** The text alternative: every weight of the large view's head, 3 decimals. */
function renderValuesTable() {
  S.valuesRendered = true;
  const d = S.display;
  if (!d || !S.selected) return;
  const m = S.selected.layer * d.heads + S.selected.head;
  const frag = document.createDocumentFragment();
  const cap = document.createElement("caption");
  cap.className = "sr-only";
  cap.textContent = `Attention weights of layer ${S.selected.layer + 1}, head ${S.selected.head + 1}: rows are queries, columns keys; empty cells are masked.`;
  frag.append(cap);
  const thead = document.createElement("thead");
  const hr = document.createElement("tr");
  const corner = document.createElement("th");
  corner.scope = "col";
  corner.textContent = "query \\ key";
  hr.append(corner);
  for (const l of d.labels) {
    const th = document.createElement("th");
    th.scope = "col";
    th.lang = "kn";
    th.textContent = l;
    hr.append(th);
  }
  thead.append(hr);
  const tbody = document.createElement("tbody");
  for (let q = 0; q < d.n; q++) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.lang = "kn";
    th.textContent = d.labels[q];
    tr.append(th);
    const base = m * d.n * d.n + q * d.n;
    for (let k = 0; k < d.n; k++) {
      const td = document.createElement("td");
      if (k <= q) td.textContent = fmt3(d.data[base + k]);
      else td.className = "masked";
      tr.append(td);
    }
    tbody.append(tr);
  }
  frag.append(thead, tbody);
  ui.valuesTable.replaceChildren(frag);
}

// ---------------------------------------------------------------------------------------------
// generation

function intIn(input, lo, hi, fallback) {
  const v = Number.parseInt(input.value, 10);
  if (!Number.isFinite(v)) return fallback;
  return Math.min(hi, Math.max(lo, v));
}

function numIn(input, lo, hi, fallback) {
  const v = Number.parseFloat(input.value);
  if (!Number.isFinite(v)) return fallback;
  return Math.min(hi, Math.max(lo, v));
}

function startGeneration() {
  if (!S.ready || S.generating || S.training) return;
  const temperature = numIn(ui.temperature, 0, 2, 0.8);
  const topK = intIn(ui.topK, 0, S.model.config.vocab_size, 0);
  const seed = intIn(ui.seed, 0, 4294967295, 42);
  const n = intIn(ui.genLength, 1, 5000, 200);
  S.generating = true;
  S.genId++;
  S.genCount = 0;
  S.genStart = performance.now();
  ui.text.readOnly = true;
  ui.text.setSelectionRange(ui.text.value.length, ui.text.value.length);
  ui.genStatus.textContent = `Generating ${n} characters (temperature ${temperature}, top-k ${topK || "all"}, seed ${seed})…`;
  updateButtons();
  S.worker.postMessage({ type: "generate", id: S.genId, text: ui.text.value, n, temperature, topK, seed });
}

function onGenToken(msg) {
  if (msg.id !== S.genId) return;
  S.genCount = msg.count;
  ui.text.value += msg.ch;
  ui.text.scrollTop = ui.text.scrollHeight;
  scheduleAnalysis(null);
}

function onGenDone(msg) {
  if (msg.id !== S.genId) return;
  S.generating = false;
  ui.text.readOnly = false;
  normalizeTextarea();
  updateWrapMode();
  if (S.phonetic.on) commitLatin();
  const secs = msg.ms / 1000;
  const rate = msg.count && secs > 0 ? ` (${(msg.count / secs).toFixed(0)} characters/s, heatmaps following)` : "";
  const how = msg.reason === "stopped" ? "Stopped after" : msg.reason === "error" ? "Failed after" : "Generated";
  ui.genStatus.textContent = `${how} ${msg.count} character${msg.count === 1 ? "" : "s"} in ${secs.toFixed(1)} s${rate}.`;
  updateButtons();
  scheduleAnalysis(null);
  scheduleHash();
}

// ---------------------------------------------------------------------------------------------
// training

async function builtinText() {
  if (S.builtinText) return S.builtinText;
  const res = await fetch(BUILTIN_URL);
  if (!res.ok) throw new Error(`could not load the built-in text (HTTP ${res.status})`);
  S.builtinText = nfc(await res.text());
  return S.builtinText;
}

function radioValue(name) {
  const el = document.querySelector(`input[name="${name}"]:checked`);
  return el ? el.value : null;
}

async function startTraining() {
  if (!S.ready || S.training || S.generating) return;
  const source = radioValue("train-source");
  let text;
  let sourceName;
  try {
    if (source === "textbox") {
      text = nfc(ui.text.value);
      sourceName = "the text box";
    } else if (source === "file") {
      if (S.trainFileText == null) {
        showError("Choose a .txt file to train on first (or pick another source).");
        return;
      }
      text = S.trainFileText;
      sourceName = `“${S.trainFileName}”`;
    } else {
      text = await builtinText();
      sourceName = "the built-in proverbs";
    }
  } catch (err) {
    showError(`Training could not start: ${err.message}`);
    return;
  }
  const mode = radioValue("train-mode");
  const steps = intIn(ui.trainSteps, 1, 100000, 200);
  const batch = intIn(ui.trainBatch, 1, 512, 8);
  const lr = numIn(ui.trainLr, LR_MIN, LR_MAX, 0.002);
  const lrAsked = Number.parseFloat(ui.trainLr.value);
  const lrNote = !Number.isFinite(lrAsked)
    ? ` (learning rate “${ui.trainLr.value}” is not a number: using ${lr})`
    : lrAsked !== lr
      ? ` (learning rate ${lrAsked} is outside ${LR_MIN}…${LR_MAX}: using ${lr})`
      : "";
  const seed = intIn(ui.trainSeed, 0, 4294967295, 1337);
  S.training = true;
  updateButtons();
  ui.trainStatus.textContent = `Training on ${sourceName}…${lrNote}`;
  S.lrNote = lrNote;
  S.worker.postMessage({ type: "train-start", text, sourceName, mode, preset: ui.trainSize.value, steps, batch, lr, seed });
}

function onTrainBegin(msg) {
  S.trainSession = true;
  chart.reset();
  const skipped = msg.chars - msg.usable;
  ui.trainStatus.textContent =
    `${msg.mode === "scratch" ? "Training from scratch" : "Fine-tuning"} on ${msg.sourceName}: ${nf.format(msg.usable)} characters` +
    (skipped ? ` (${nf.format(skipped)} outside the vocabulary skipped)` : "") + `.${S.lrNote || ""}`;
  S.lrNote = "";
  updateButtons();
}

function onTrainProgress(msg) {
  S.training = true;
  chart.push(msg.step, msg.loss);
  ui.lossValue.textContent = fmtLoss(msg.loss);
  ui.lossSmoothed.textContent = fmtLoss(chart.smoothed);
  ui.trainStep.textContent = `${nf.format(msg.step)} / ${nf.format(msg.target)}`;
  ui.tokensPerSec.textContent = nf.format(Math.round(msg.tokensPerSec));
  ui.lossValue.dataset.step = String(msg.step);
  scheduleAnalysis(null);
}

function onTrainStopped(msg) {
  S.training = false;
  const what = msg.reason === "done" ? "Done" : msg.reason === "error" ? "Stopped by an error" : "Paused";
  const where = `${what} at step ${nf.format(msg.step)}${msg.reason === "done" ? "" : ` of ${nf.format(msg.target)}`}`;
  ui.trainStatus.textContent =
    msg.reason === "error" && msg.message
      ? `${where}: ${msg.message}`
      : `${where}. ${msg.reason === "done" ? "Start runs more steps; " : "Start continues; "}Reset returns to the weights before training.`;
  updateButtons();
  scheduleAnalysis(null);
}

function onTrainReset() {
  S.training = false;
  S.trainSession = false;
  chart.reset();
  resetTrainStats();
  ui.trainStatus.textContent = "Reset: the weights are back to what they were before training.";
  updateButtons();
  scheduleAnalysis(null);
}

function resetTrainStats() {
  ui.lossValue.textContent = "—";
  delete ui.lossValue.dataset.step;
  ui.lossSmoothed.textContent = "—";
  ui.trainStep.textContent = "—";
  ui.tokensPerSec.textContent = "—";
}

function onWeights(msg) {
  const base = (S.model && S.model.name ? S.model.name : "kannada-gpt").replace(/\.safetensors$/i, "").replace(/[^\p{L}\p{N}._-]+/gu, "-");
  const name = msg.steps ? `${base}-trained-${msg.steps}-steps.safetensors` : `${base}.safetensors`;
  download(new Blob([msg.bytes], { type: "application/octet-stream" }), name);
}

// ---------------------------------------------------------------------------------------------
// bring your own weights

async function loadUserWeights(file) {
  if (!file) return;
  if (file.size > MAX_WEIGHTS_BYTES) {
    showError(`“${file.name}” is ${nf.format(Math.round(file.size / 1048576))} MB; the limit is ${MAX_WEIGHTS_BYTES / 1048576} MB. The current model is still loaded.`, "load");
    ui.weightsFile.value = "";
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
  S.worker.postMessage(
    { type: "load-bytes", bytes, name: file.name, vocabText: S.vocabText ?? undefined, vocabName: S.vocabName },
    [bytes],
  );
  ui.weightsFile.value = "";
  S.lastWeightsFile = file;
}


async function onVocabFile() {
  const file = ui.vocabFile.files[0];
  if (!file) {
    S.vocabText = null;
    return;
  }
  try {
    S.vocabText = await file.text();
    S.vocabName = file.name;
  } catch (err) {
    showError(`Could not read “${file.name}”: ${err.message}`);
    return;
  }
  const distinct = new Set(S.vocabText).size;
  ui.weightsStatus.textContent = `Vocabulary “${file.name}”: ${distinct} distinct characters. ${S.lastWeightsFile ? "Reloading the weights with it…" : "Now choose the state_dict file."}`;
  if (S.lastWeightsFile) loadUserWeights(S.lastWeightsFile);
}

// ---------------------------------------------------------------------------------------------
// export, sharing, downloads

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

function exportPng() {
  const d = S.display;
  if (!d) return;
  const maps = grid.maps;
  const src = maps[0].canvas;
  const size = Math.max(160, src.width);
  const gap = 12;
  const left = 70;
  const top = 96;
  const legendH = 60;
  const w = left + d.heads * (size + gap);
  const h = top + d.layers * (size + gap) + legendH;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#0e1116";
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = "#e7e5e1";
  ctx.font = '600 22px "Noto Sans Kannada", sans-serif';
  ctx.fillText("Micro-KannadaGPT attention", 16, 34);
  ctx.font = '15px "Noto Sans Kannada", sans-serif';
  ctx.fillStyle = "#9aa3b0";
  const seen = S.analysis.seen.join("");
  const shown = seen.length > 70 ? `…${seen.slice(-70)}` : seen;
  ctx.fillText(`${shown}`, 16, 60, w - 32);
  ctx.fillText(`${d.view === "aksharas" ? "akshara view" : "character view"} · ${S.analysis.t} characters · ${describeModel(S.model)}`, 16, 82, w - 32);
  for (const m of maps) {
    const x = left + m.head * (size + gap);
    const y = top + m.layer * (size + gap);
    ctx.drawImage(m.canvas, x, y, size, size);
  }
  ctx.fillStyle = "#9aa3b0";
  ctx.font = '14px "Noto Sans Kannada", sans-serif';
  ctx.textAlign = "center";
  for (let hd = 0; hd < d.heads; hd++) ctx.fillText(`head ${hd + 1}`, left + hd * (size + gap) + size / 2, top - 6);
  ctx.textAlign = "right";
  for (let l = 0; l < d.layers; l++) ctx.fillText(`layer ${l + 1}`, left - 10, top + l * (size + gap) + size / 2);
  const ly = top + d.layers * (size + gap) + 10;
  const lw = Math.min(400, w - 2 * left);
  for (let i = 0; i < lw; i++) {
    const [r, g, b] = VIRIDIS[Math.round((i / (lw - 1)) * 255)];
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(left + i, ly, 1.5, 14);
  }
  ctx.fillStyle = "#9aa3b0";
  ctx.textAlign = "left";
  ctx.fillText(`0`, left, ly + 32);
  ctx.textAlign = "right";
  ctx.fillText(`1   (${SCALES[S.scale].label} scale)`, left + lw, ly + 32);
  c.toBlob((blob) => {
    if (blob) download(blob, "kgpt-attention.png");
    else showError("Could not create the PNG.");
  }, "image/png");
}

function exportJson() {
  const a = S.analysis;
  const d = S.display;
  if (!a || !d) return;
  const round = (v) => (v === 0 ? 0 : Number(v.toPrecision(9)));
  const nest = (data, n) => {
    const out = [];
    for (let l = 0; l < d.layers; l++) {
      const heads = [];
      for (let h = 0; h < d.heads; h++) {
        const base = (l * d.heads + h) * n * n;
        const rows = [];
        for (let q = 0; q < n; q++) rows.push(Array.from(data.subarray(base + q * n, base + (q + 1) * n), round));
        heads.push(rows);
      }
      out.push(heads);
    }
    return out;
  };
  const doc = {
    format: "micro-kannada-gpt attention v1",
    note: "attention[layer][head][query][key]: post-softmax weights; each row sums to 1; zero above the diagonal (causal mask).",
    model: { name: S.model.name, config: S.model.config, parameters: S.model.params },
    text: a.seen.join(""),
    tokens: a.seen,
    cropped: a.cropped,
    unknown_skipped: a.unknown,
    attention: nest(a.attention, a.t),
  };
  if (d.view === "aksharas") {
    doc.aksharas = {
      note: "per-akshara attention: sum over the key's characters, mean over the query's characters",
      groups: d.groups,
      labels: d.groups.map(([s, e]) => a.seen.slice(s, e).join("")),
      attention: nest(d.data, d.n),
    };
  }
  download(new Blob([JSON.stringify(doc)], { type: "application/json" }), "kgpt-attention.json");
}

function hashFromState() {
  const p = new URLSearchParams();
  if (ui.text.value.length <= HASH_TEXT_LIMIT) p.set("text", ui.text.value);
  const put = (k, v) => {
    if (v !== DEFAULTS[k]) p.set(k, v);
  };
  put("view", S.view);
  put("scale", S.scale);
  put("temp", String(numIn(ui.temperature, 0, 2, 0.8)));
  put("topk", String(intIn(ui.topK, 0, 100000, 20)));
  put("seed", String(intIn(ui.seed, 0, 4294967295, 42)));
  put("n", String(intIn(ui.genLength, 1, 5000, 200)));
  if (S.phonetic.on) p.set("ph", "1");
  if (S.selected && ui.dialog.open) p.set("head", `${S.selected.layer + 1}.${S.selected.head + 1}`);
  return `#${p.toString()}`;
}

function scheduleHash() {
  clearTimeout(S.hashTimer);
  S.hashTimer = setTimeout(() => {
    const hash = hashFromState();
    if (hash !== location.hash) history.replaceState(null, "", hash);
    ui.shareLink.value = location.href;
    ui.shareStatus.textContent = ui.text.value.length > HASH_TEXT_LIMIT ? `The text is longer than ${nf.format(HASH_TEXT_LIMIT)} characters, so the link carries only the settings.` : "";
  }, 250);
}

/** Applies `#text=…&view=…` (a shared link). Returns true if it carried text. */
function applyHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const text = p.get("text");
  if (text !== null) ui.text.value = nfc(text);
  S.view = p.get("view") === "aksharas" ? "aksharas" : "chars";
  ui.aksharaToggle.setAttribute("aria-pressed", String(S.view === "aksharas"));
  ui.grid.dataset.view = S.view;
  S.scale = p.get("scale") === "sqrt" ? "sqrt" : "linear";
  ui.scale.value = S.scale;
  const num = (k, input) => {
    if (p.has(k) && Number.isFinite(Number.parseFloat(p.get(k)))) input.value = p.get(k);
  };
  num("temp", ui.temperature);
  num("topk", ui.topK);
  num("seed", ui.seed);
  num("n", ui.genLength);
  ui.temperatureOut.textContent = ui.temperature.value;
  setPhonetic(p.get("ph") === "1");
  const head = /^(\d+)\.(\d+)$/.exec(p.get("head") || "");
  S.pendingHead = head ? { layer: Number(head[1]) - 1, head: Number(head[2]) - 1 } : null;
  updateLegend();
  return text !== null;
}

// ---------------------------------------------------------------------------------------------
// benchmark

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

function runBenchmark() {
  ui.bench.disabled = true;
  ui.benchOutput.replaceChildren();
  const p = document.createElement("p");
  p.className = "small muted";
  p.textContent = "Running the benchmark in a separate worker…";
  ui.benchOutput.append(p);
  document.body.dataset.bench = "running";
  const w = new Worker(new URL("./bench-worker.js", import.meta.url), { type: "module" });
  const finish = () => {
    w.terminate();
    ui.bench.disabled = false;
  };
  w.onmessage = (e) => {
    finish();
    if (e.data.type !== "result") {
      document.body.dataset.bench = "error";
      showError(`The benchmark failed: ${e.data.message}`);
      ui.benchOutput.replaceChildren();
      return;
    }
    renderBench(e.data);
    document.body.dataset.bench = "done";
  };
  w.onerror = (e) => {
    e.preventDefault();
    finish();
    document.body.dataset.bench = "error";
    showError(`The benchmark worker failed: ${e.message || "unknown error"}`);
  };
  w.postMessage({ quick: true, vocabSize: S.model ? S.model.config.vocab_size : 89 });
}

function renderBench({ json, kernel, wallMs }) {
  const report = JSON.parse(json);
  const run = report.runs[0] || {};
  const table = document.createElement("table");
  table.className = "data-table";
  const cap = document.createElement("caption");
  cap.className = "sr-only";
  cap.textContent = "Benchmark results";
  const thead = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const h of ["Measurement", "Value"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    hr.append(th);
  }
  thead.append(hr);
  const tbody = document.createElement("tbody");
  for (const [key, label, unit, digits] of BENCH_ROWS) {
    if (!(key in run)) continue;
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    const a = document.createElement("td");
    a.textContent = label;
    const b = document.createElement("td");
    b.textContent = `${run[key].toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
    tr.append(a, b);
    tbody.append(tr);
  }
  table.append(cap, thead, tbody);
  const meta = document.createElement("p");
  meta.className = "small muted";
  meta.textContent = `${report.impl}, kernels ${kernel}, ${report.quick ? "quick mode" : "full"}, ${nf.format(report.n_params)} parameters, 1 thread; took ${(wallMs / 1000).toFixed(1)} s.`;
  const raw = document.createElement("details");
  const sum = document.createElement("summary");
  sum.textContent = "Raw JSON (same keys as kgpt bench)";
  const pre = document.createElement("pre");
  pre.id = "bench-json";
  pre.className = "small";
  pre.textContent = JSON.stringify(report, null, 2);
  raw.append(sum, pre);
  ui.benchOutput.replaceChildren(table, meta, raw);
}

// ---------------------------------------------------------------------------------------------
// buttons and wiring

function updateButtons() {
  const ready = S.ready;
  const has = !!(S.analysis && S.analysis.t);
  ui.generate.disabled = !ready || S.generating || S.training;
  ui.stop.disabled = !S.generating;
  ui.trainStart.disabled = !ready || S.training || S.generating;
  ui.trainStart.textContent = S.trainSession ? "Continue" : "Start";
  ui.trainPause.disabled = !S.training;
  ui.trainReset.disabled = !S.trainSession;
  ui.downloadWeights.disabled = !ready;
  ui.exportPng.disabled = !ready || !has;
  ui.exportJson.disabled = !ready || !has;
  ui.reloadModel.disabled = !ready || S.training;
  ui.weightsFile.disabled = S.training;
  for (const r of document.querySelectorAll('input[name="train-mode"]')) r.disabled = S.trainSession;
  ui.trainSize.disabled = S.trainSession;
}

function updateLegend() {
  drawLegend(ui.legend, S.scale);
  ui.legendLabel.textContent = `attention weight (${SCALES[S.scale].label} scale)`;
}

const chart = new LossChart(ui.lossChart);
const grid = new AttentionGrid(ui.grid, {
  onOpen: openHead,
  onHover: showTooltip,
  onLeave: hideTooltip,
});
const large = new LargeView(ui.largeCanvas, { onCell: onLargeCell });

function wire() {
  ui.errorDismiss.addEventListener("click", () => clearError());
  ui.text.addEventListener("compositionstart", () => {
    S.composing = true;
  });
  ui.text.addEventListener("compositionend", (e) => {
    S.composing = false;
    onTextInput(e);
  });
  ui.text.addEventListener("beforeinput", onBeforeInput);
  ui.text.addEventListener("input", onTextInput);
  // #text-input (the text box's label) stands for the text box in automation: focusing it
  // focuses the box, and its `value` is the box's value
  const alias = $("text-input");
  alias.addEventListener("focus", () => ui.text.focus());
  Object.defineProperty(alias, "value", {
    get: () => ui.text.value,
    set: (v) => {
      ui.text.value = String(v);
      ui.text.dispatchEvent(new Event("input", { bubbles: true }));
    },
  });
  document.addEventListener("selectionchange", () => {
    if (document.activeElement === ui.text && ui.text.selectionStart !== S.lastCursor && S.ready) scheduleAnalysis(null);
  });

  ui.phoneticToggle.addEventListener("change", () => {
    setPhonetic(ui.phoneticToggle.checked);
    if (S.phonetic.on) ui.latin.focus();
  });
  ui.latin.addEventListener("input", onLatinInput);
  ui.latin.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      commitLatin();
    }
  });

  ui.aksharaToggle.addEventListener("click", () => {
    S.view = S.view === "aksharas" ? "chars" : "aksharas";
    ui.aksharaToggle.setAttribute("aria-pressed", String(S.view === "aksharas"));
    ui.grid.dataset.view = S.view;
    hideTooltip();
    redrawFromCache();
    scheduleHash();
  });
  ui.scale.addEventListener("change", () => {
    S.scale = ui.scale.value === "sqrt" ? "sqrt" : "linear";
    updateLegend();
    redrawFromCache();
    scheduleHash();
  });
  new ResizeObserver(() => drawLegend(ui.legend, S.scale)).observe(ui.legend);

  ui.temperature.addEventListener("input", () => {
    ui.temperatureOut.textContent = ui.temperature.value;
    scheduleHash();
  });
  for (const input of [ui.topK, ui.seed, ui.genLength]) input.addEventListener("change", scheduleHash);
  ui.generate.addEventListener("click", startGeneration);
  ui.stop.addEventListener("click", () => S.worker.postMessage({ type: "stop" }));

  ui.trainStart.addEventListener("click", startTraining);
  ui.trainPause.addEventListener("click", () => S.worker.postMessage({ type: "train-pause" }));
  ui.trainReset.addEventListener("click", () => S.worker.postMessage({ type: "train-reset" }));
  ui.downloadWeights.addEventListener("click", () => S.worker.postMessage({ type: "get-weights" }));
  ui.trainFile.addEventListener("change", async () => {
    const f = ui.trainFile.files[0];
    if (!f) return;
    try {
      S.trainFileText = nfc(await f.text());
      S.trainFileName = f.name;
      ui.trainFileName.textContent = `“${f.name}”: ${nf.format([...S.trainFileText].length)} characters.`;
      const radio = document.querySelector('input[name="train-source"][value="file"]');
      radio.checked = true;
    } catch (err) {
      showError(`Could not read “${f.name}”: ${err.message}`);
    }
  });

  ui.weightsFile.addEventListener("change", () => {
    S.lastWeightsFile = null;
    loadUserWeights(ui.weightsFile.files[0]);
  });
  ui.vocabFile.addEventListener("change", onVocabFile);
  ui.reloadModel.addEventListener("click", () => {
    ui.weightsStatus.textContent = "Loading the shipped model…";
    S.lastWeightsFile = null;
    S.worker.postMessage({ type: "load-url", url: WEIGHTS_URL });
  });

  ui.exportPng.addEventListener("click", exportPng);
  ui.exportJson.addEventListener("click", exportJson);
  ui.copyLink.addEventListener("click", async () => {
    ui.shareLink.value = location.href;
    try {
      await navigator.clipboard.writeText(location.href);
      ui.shareStatus.textContent = "Link copied.";
    } catch {
      ui.shareLink.select();
      ui.shareStatus.textContent = "Select and copy the link above.";
    }
  });
  ui.bench.addEventListener("click", runBenchmark);

  ui.dialog.addEventListener("close", () => {
    S.selected = null;
    S.largeCell = null;
    clearStripHighlight();
    scheduleHash();
  });
  ui.dialog.addEventListener("click", (e) => {
    if (e.target === ui.dialog) ui.dialog.close();
  });
  ui.closeDialog.addEventListener("click", () => ui.dialog.close());
  ui.prevHead.addEventListener("click", () => stepHead(-1));
  ui.nextHead.addEventListener("click", () => stepHead(1));
  ui.valuesDetails.addEventListener("toggle", () => {
    S.valuesRendered = false;
    if (ui.valuesDetails.open) scheduleValuesTable();
  });

  window.addEventListener("hashchange", () => {
    applyHash();
    redrawFromCache();
    scheduleAnalysis(null);
  });
}

async function main() {
  wire();
  startWorker();
  S.worker.postMessage({ type: "load-url", url: WEIGHTS_URL });
  try {
    S.pageWasm = await initWasm();
  } catch (err) {
    showError(`WebAssembly could not start in this browser: ${err.message}`);
    return;
  }
  buildTranslitTable();
  const fromLink = applyHash();
  if (!fromLink) ui.text.value = DEFAULT_TEXT;
  normalizeTextarea();
  updateWrapMode();
  S.uiReady = true;
  scheduleAnalysis(null);
  ui.shareLink.value = location.href;
  updateButtons();
  scheduleHash();
  // labels are drawn on canvas: make sure the Kannada font is there, then redraw them
  try {
    await document.fonts.load('16px "Noto Sans Kannada"', "ಕನ್ನಡ");
    await document.fonts.load('600 16px "Noto Sans Kannada"', "Kannada");
  } catch {
    /* the fallback font still renders Kannada */
  }
  grid.redraw(false);
  updateLegend();
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register(new URL("./sw.js", import.meta.url)).catch(() => {
      /* offline support is optional: the page works without it */
    });
  }
}

// A worker that stops answering (terminated, hung) is noticed and restarted: an analysis is
// answered within milliseconds, or within one training step while training.
setInterval(() => {
  const limit = S.training ? 120000 : 10000;
  if (S.inflight && performance.now() - S.sentAt > limit) {
    S.inflight = false;
    workerDied("it stopped answering");
  }
}, 5000);

// For automation and soak tests: the worker, the wasm memory sizes (the worker's model and the
// page's text helpers), a restart.
window.kgptViewer = Object.freeze({
  get worker() {
    return S.worker;
  },
  stats: () =>
    new Promise((resolve) => {
      S.statsWaiters.push((msg) => resolve(msg && { ...msg, pageWasmMemoryBytes: S.pageWasm ? S.pageWasm.memory.buffer.byteLength : 0 }));
      S.worker.postMessage({ type: "stats" });
    }),
  restartWorker: () => workerDied("restarted on request"),
});

// Opens the head named in the link once the first heatmaps exist.
const openFromLink = new MutationObserver(() => {
  if (S.pendingHead && S.display && S.display.n) {
    const { layer, head } = S.pendingHead;
    S.pendingHead = null;
    if (layer >= 0 && head >= 0 && layer < S.display.layers && head < S.display.heads) openHead(layer, head);
  }
});
openFromLink.observe(ui.grid, { attributes: true, attributeFilter: ["data-seq"] });

main();
