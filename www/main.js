// Micro-KannadaGPT viewer: the page's entry point. The model lives in a Web Worker
// (worker.js; messages in protocol.js); each panel in panels/ owns its part of the DOM and
// wires its own events; they share the declared state (state.js) and the services in app.js
// (events, the worker, errors, the URL hash). analysis.js turns keystrokes into requests and
// the worker's answers into the display every map draws from.
//
// The page also instantiates the wasm module itself (no model, just the text helpers: nfc,
// transliterate, the akshara segmenter) so those run synchronously while you type.
//
// User-provided strings (text, file names, vocabulary, error messages) only ever reach the DOM
// through `textContent` / input values, or the canvas through `fillText`.

import initWasm from "./pkg/kgpt.js";
import { state } from "./state.js";
import { ToWorker } from "./protocol.js";
import { applyHash, emit, on, post, scheduleHash, showError, startWorker, updateButtons, workerDied } from "./app.js";
import { redrawFromCache, scheduleAnalysis, setTextSource } from "./analysis.js";
import * as text from "./panels/text.js";
import * as examples from "./panels/examples.js";
import * as strip from "./panels/strip.js";
import * as nextChar from "./panels/next-char.js";
import * as heads from "./panels/heads.js";
import * as knockout from "./panels/knockout.js";
import * as roles from "./panels/roles.js";
import * as headsTable from "./panels/heads-table.js";
import * as lens from "./panels/lens.js";
import * as timeline from "./panels/timeline.js";
import * as embedding from "./panels/embedding.js";
import * as generation from "./panels/generation.js";
import * as training from "./panels/training.js";
import * as weights from "./panels/weights.js";
import * as share from "./panels/share.js";
import * as bench from "./panels/bench.js";

// Order matters only for the URL hash: fields are read and applied in this order (the text
// before phonetic typing, which starts from it).
// The grid (heads) is built before the panels that decorate it (knockout, roles) see a model.
const PANELS = [text, examples, strip, nextChar, heads, knockout, roles, headsTable, lens, timeline, embedding, generation, training, weights, share, bench];

function initPanels() {
  setTextSource(text.textBox);
  for (const panel of PANELS) panel.init();
  // a new model: analyse the text with it (after every panel has reconfigured)
  on("model", () => scheduleAnalysis(null));
  window.addEventListener("hashchange", () => {
    applyHash();
    redrawFromCache();
    scheduleAnalysis(null);
  });
}

/** Waits for the Kannada font (the maps' labels are drawn on canvas), then redraws them. */
async function whenFontsReady() {
  try {
    await document.fonts.load('16px "Noto Sans Kannada"', "ಕನ್ನಡ");
    await document.fonts.load('600 16px "Noto Sans Kannada"', "Kannada");
  } catch {
    /* the fallback font still renders Kannada */
  }
  emit("fonts");
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || location.protocol === "file:") return;
  navigator.serviceWorker.register(new URL("./sw.js", import.meta.url)).catch(() => {
    /* offline support is optional: the page works without it */
  });
}

async function main() {
  initPanels();
  startWorker();
  weights.loadShipped();
  try {
    state.pageWasm = await initWasm();
  } catch (err) {
    showError(`WebAssembly could not start in this browser: ${err.message}`);
    return;
  }
  text.start(applyHash());
  state.uiReady = true;
  scheduleAnalysis(null);
  updateButtons();
  scheduleHash();
  await whenFontsReady();
  registerServiceWorker();
}

// For automation and soak tests: the worker, the wasm memory sizes (the worker's model and the
// page's text helpers), a restart.
window.kgptViewer = Object.freeze({
  get worker() {
    return state.worker;
  },
  stats: () =>
    new Promise((resolve) => {
      state.statsWaiters.push((msg) => resolve(msg && { ...msg, pageWasmMemoryBytes: state.pageWasm ? state.pageWasm.memory.buffer.byteLength : 0 }));
      post({ type: ToWorker.STATS });
    }),
  restartWorker: () => workerDied("restarted on request"),
});

main();
