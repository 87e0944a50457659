// What the panels share besides the state: the page's events, the model worker (start,
// messages, restart when it dies), the error box, the URL hash and the buttons' refresh.
//
// Events (emit/on): "model" (a model was installed: the MODEL message), "analysis" (a new
// ANALYSIS message and its display are in `state`), "display" (the maps' data changed without
// a new analysis: view or scale), "drawn" (a redraw finished: {totalMs, drawMs, forwardMs,
// fromKey, spans (its profile, see analysis.js), unchanged (the maps' data was the one already
// drawn)}), "buttons" (recompute enabled/disabled), "worker-error" (an ERROR message:
// {context, message}), "worker-restart", "hash" (the address was updated), "fonts" (the
// Kannada font is loaded), "grid" (the heatmap grid was rebuilt: its maps), "inspection" (a
// new INSPECTION: bits/char and logit lens), "head-scores" (new HEAD_SCORES, or null for a new
// model), "train-begin" / "train-step" / "train-stopped" (the training messages). Worker
// messages go to the one handler registered for their type with `onWorker`.

import { state } from "./state.js";
import { FromWorker, ToWorker } from "./protocol.js";

export const $ = (id) => document.getElementById(id);

export const WEIGHTS_URL = new URL("../weights/kannada-gpt.safetensors", import.meta.url).href;
export const BUILTIN_URL = new URL("./data/proverbs.txt", import.meta.url).href;

// ---------------------------------------------------------------------------------------------
// events

const listeners = new Map();

/**
 * Adds a listener; `span` names it in the keystroke profile (#attention-grid[data-ms-breakdown],
 * see emitTimed): listeners without a name count as "other".
 */
export function on(event, fn, span = "other") {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push({ fn, span });
}

export function emit(event, payload) {
  for (const { fn } of listeners.get(event) || []) fn(payload);
}

/**
 * `emit`, timing each listener: adds its milliseconds to `spans[its span name]` and leaves a
 * `performance.measure` ("kgpt <event>: <span>") for the browser's profiler.
 */
export function emitTimed(event, payload, spans) {
  for (const { fn, span } of listeners.get(event) || []) {
    const t0 = performance.now();
    fn(payload);
    const t1 = performance.now();
    spans[span] = (spans[span] || 0) + (t1 - t0);
    measure(`kgpt ${event}: ${span}`, t0, t1);
  }
}

/** `spans` with every figure rounded to 0.01 ms, as the data-ms-* attributes hold them (JSON). */
export const roundedSpans = (spans) => Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, Math.round(v * 100) / 100]));

/** The measure names of the last profiled redraw (cleared before the next one's, so they do not pile up). */
const measured = new Set();

/** Clears the `performance.measure` entries of the last profiled redraw. */
export function clearMeasures() {
  for (const name of measured) performance.clearMeasures(name);
  measured.clear();
}

/** A `performance.measure` from `start` to `end` (performance.now() times). */
export function measure(name, start, end) {
  measured.add(name);
  try {
    performance.measure(name, { start, end: Math.max(start, end) });
  } catch {
    /* a browser without the User Timing Level 3 options: the data attributes still carry the figures */
  }
}

export const updateButtons = () => emit("buttons");

// ---------------------------------------------------------------------------------------------
// errors

const errorBox = $("error-box");
const errorText = $("error");

/** Shows `message` in #error. `kind` "load" errors are cleared by the next successful load. */
export function showError(message, kind = "general") {
  errorText.textContent = message;
  errorBox.hidden = false;
  state.errorKind = kind;
}

/** Clears #error (only if it holds an error of `kind`, when given). */
export function clearError(kind = null) {
  if (kind && state.errorKind !== kind) return;
  errorText.textContent = "";
  errorBox.hidden = true;
  state.errorKind = null;
}

$("error-dismiss").addEventListener("click", () => clearError());

// ---------------------------------------------------------------------------------------------
// the worker

const handlers = new Map();
const known = new Set(Object.values(FromWorker));

/** Registers the handler of one worker message type (each type has exactly one). */
export function onWorker(type, fn) {
  if (!known.has(type)) throw new Error(`not a worker message: ${type}`);
  if (handlers.has(type)) throw new Error(`two handlers for ${type}`);
  handlers.set(type, fn);
}

/** Sends a message (protocol.js ToWorker) to the model worker. */
export function post(msg, transfer) {
  state.worker.postMessage(msg, transfer || []);
}

export function startWorker() {
  const url = new URL("./worker.js", import.meta.url);
  // ?kernel=simd128 forces the simd128 wasm build (wasm-build.js); the worker reads it from its URL
  const kernel = new URLSearchParams(location.search).get("kernel");
  if (kernel) url.searchParams.set("kernel", kernel);
  const worker = new Worker(url, { type: "module" });
  worker.onmessage = (e) => {
    const handler = handlers.get(e.data && e.data.type);
    if (handler) handler(e.data);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    workerDied(e.message || "unknown error");
  };
  worker.onmessageerror = () => workerDied("a message could not be read");
  state.worker = worker;
  state.inflight = false;
  return worker;
}

/** Restarts a dead or hung worker with the shipped model (gives up after 3 restarts a minute). */
export function workerDied(reason) {
  const now = performance.now();
  state.restarts = state.restarts.filter((t) => now - t < 60000);
  state.restarts.push(now);
  state.ready = false;
  if (state.restarts.length > 3) {
    updateButtons();
    showError(`The model worker keeps failing (${reason}). Please reload the page.`);
    return;
  }
  state.generating = false;
  state.training = false;
  state.trainSession = false;
  state.inflight = false;
  emit("worker-restart");
  updateButtons();
  for (const resolve of state.statsWaiters.splice(0)) resolve(null);
  showError(`The model worker stopped (${reason}). It was restarted with the shipped model; anything trained or loaded since is gone.`);
  try {
    state.worker.terminate();
  } catch {
    /* already gone */
  }
  startWorker();
  post({ type: ToWorker.LOAD_URL, url: WEIGHTS_URL });
}

onWorker(FromWorker.WASM, () => {});
onWorker(FromWorker.FATAL, (msg) => workerDied(msg.message));
onWorker(FromWorker.ERROR, (msg) => {
  showError(msg.message);
  emit("worker-error", msg);
});
onWorker(FromWorker.STATS, (msg) => {
  const waiter = state.statsWaiters.shift();
  if (waiter) waiter(msg);
});

// A worker that stops answering (terminated, hung) is noticed and restarted: an analysis is
// answered within milliseconds, or within one training step while training.
setInterval(() => {
  const limit = state.training ? 120000 : 10000;
  if (state.inflight && performance.now() - state.sentAt > limit) {
    state.inflight = false;
    workerDied("it stopped answering");
  }
}, 5000);

// ---------------------------------------------------------------------------------------------
// the URL hash: each panel registers the fields it owns

/** Longest text kept in the URL (characters); longer texts are left out of the link. */
export const HASH_TEXT_LIMIT = 4000;

/** key → {get(): string|null (null or the default = left out), set(value|null)} in registration order. */
const hashFields = new Map();
let hashTimer = 0;

export function registerHashField(key, field) {
  hashFields.set(key, field);
}

export function hashFromState() {
  const p = new URLSearchParams();
  for (const [key, field] of hashFields) {
    const v = field.get();
    if (v !== null && v !== undefined) p.set(key, v);
  }
  // commas need no escaping in a fragment (and read better: ko=0.1,2.3)
  return `#${p.toString().replace(/%2C/gi, ",")}`;
}

/** Writes the state into the address (debounced), then emits "hash". */
export function scheduleHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => {
    const hash = hashFromState();
    // (an address ending in a bare "#" has location.hash "": the same address, nothing to replace)
    if (hash === (location.hash || "#")) return;
    history.replaceState(null, "", hash);
    emit("hash");
  }, 250);
}

/** Applies `#text=…&view=…` (a shared link) to every registered field; true if it carried text. */
export function applyHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  for (const [key, field] of hashFields) field.set(p.get(key));
  return p.get("text") !== null;
}
