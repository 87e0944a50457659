// Analysis requests (one in flight; keystrokes meanwhile are coalesced into the next) and the
// display the maps, the strip and the large view draw from (characters or aksharas).

import { segmentAksharas } from "./pkg/kgpt.js";
import { state } from "./state.js";
import { FromWorker, ToWorker } from "./protocol.js";
import { $, clearMeasures, emit, emitTimed, measure, on, onWorker, post, showError, clearError } from "./app.js";
import { aggregateGroups } from "./heatmap.js";
import { displayLabel } from "./format.js";

/** The text box the requests read (set by main.js). */
let textBox = null;

export function setTextSource(textarea) {
  textBox = textarea;
}

/** Asks for a new analysis; `since` is the keystroke's event time (null: not a keystroke). */
export function scheduleAnalysis(since) {
  if (!state.ready || !state.uiReady) return;
  // the keystroke's own text is already on its way (sendPredicted at its beforeinput)
  if (state.inflight && state.reqPredicted && state.reqCursor === textBox.selectionStart && state.reqText === textBox.value) return;
  if (since != null && (state.pendingSince === null || since < state.pendingSince)) {
    state.pendingSince = since;
    state.pendingHandledAt = performance.now();
  }
  state.pendingAny = true;
  if (!state.inflight) sendAnalysis();
}

/**
 * Sends the analysis of the text a keystroke is about to make (`text`, caret at `cursor`: from
 * its beforeinput), so the worker computes while the browser edits the box and the answer can
 * be drawn in the same frame as the typed character. Only when no analysis is in flight; the
 * input event then finds the text on its way (or sends the real one if it differs).
 */
export function sendPredicted(since, text, cursor) {
  if (!state.ready || !state.uiReady || state.inflight) return;
  state.pendingSince = since;
  state.pendingHandledAt = performance.now();
  sendAnalysis(text, cursor);
  state.reqPredicted = true;
}

function sendAnalysis(text = textBox.value, cursor = textBox.selectionStart) {
  state.reqPredicted = false;
  state.inflight = true;
  state.sentAt = performance.now();
  state.pendingAny = false;
  state.reqStart = state.pendingSince !== null ? state.pendingSince : performance.now();
  state.reqFromKey = state.pendingSince !== null;
  state.reqHandledAt = state.pendingHandledAt !== null ? state.pendingHandledAt : state.sentAt;
  state.pendingSince = null;
  state.pendingHandledAt = null;
  state.reqText = text;
  state.lastCursor = cursor;
  state.reqCursor = state.lastCursor;
  post({ type: ToWorker.ANALYZE, id: ++state.reqId, text: state.reqText, cursor: state.lastCursor });
  state.reqPostedAt = performance.now();
  markPending();
}

function sendPending() {
  if (state.pendingSince !== null || state.pendingAny) sendAnalysis();
  markPending();
}

/**
 * #attention-grid[data-analysis-pending]: "1" while an analysis is in flight or waiting to be
 * sent, "0" once the maps are of the text box as it is (tests wait for it: a redraw of an
 * older text can come while the worker still serves a long job).
 */
function markPending() {
  $("attention-grid").dataset.analysisPending = state.inflight || state.pendingAny || state.pendingSince !== null ? "1" : "0";
}

/** [start, end) token ranges of the rows: one per character, or per akshara. */
function groupsOf(seen, view) {
  if (view !== "aksharas") return seen.map((_, i) => [i, i + 1]);
  const flat = segmentAksharas(seen.join(""));
  const groups = [];
  for (let i = 0; i < flat.length; i += 2) groups.push([flat[i], flat[i + 1]]);
  return groups;
}

/**
 * The maps' data (see `state.display`) of `a` = {attention, seen, tokens, n_layer, n_head}
 * (an analysis, or a snapshot of the heads forming) in the current view and scale.
 */
export function displayOf(a) {
  const { n_layer, n_head } = a;
  const maps = n_layer * n_head;
  const common = { maps, n_layer, n_head, scale: state.scale, view: state.view };
  if (!a.attention || !a.tokens) return { side: 0, data: new Float32Array(0), labels: [], groups: [], ...common };
  const groups = groupsOf(a.seen, state.view);
  const data = state.view === "aksharas" ? aggregateGroups(a.attention, maps, a.tokens, groups) : a.attention;
  const labels = groups.map(([s, e]) => displayLabel(a.seen.slice(s, e).join("")));
  return { side: groups.length, data, labels, groups, ...common };
}

/** The maps' data for the current analysis, view and scale (see `state.display`). */
export const buildDisplay = () => displayOf(state.analysis);

/** Rebuilds the display after a view or scale change (no new analysis). */
export function redrawFromCache() {
  if (!state.analysis) return;
  state.display = buildDisplay();
  emit("display", state.display);
}

/**
 * The request's spans up to its answer (ms), each also left as a `performance.measure`:
 * input (keystroke event → the text panel asks for an analysis), queued (waiting for the
 * answer in flight), post (postMessage), worker (the worker's forward, its `forwardMs`),
 * transfer (the round trip minus the worker's compute: both messages and the worker's queue).
 */
function requestSpans(received, forwardMs) {
  clearMeasures();
  const { reqStart, reqHandledAt, sentAt, reqPostedAt } = state;
  measure("kgpt input", reqStart, reqHandledAt);
  measure("kgpt queued", reqHandledAt, sentAt);
  measure("kgpt post", sentAt, reqPostedAt);
  measure("kgpt worker round trip", reqPostedAt, received);
  return {
    input: Math.max(0, reqHandledAt - reqStart),
    queued: Math.max(0, sentAt - reqHandledAt),
    post: reqPostedAt - sentAt,
    worker: forwardMs,
    transfer: Math.max(0, received - reqPostedAt - forwardMs),
  };
}

/**
 * True if analysis `b` has the attention of `a`: the worker's cache reused every position of the
 * same window (a caret move, or a character the model does not know), with the same weights and
 * knock-out set.
 */
function sameAttention(a, b) {
  return !!a && !!a.attention && !!b.attention && !a.nonFinite && !b.nonFinite && b.reused === b.tokens && a.tokens === b.tokens && a.croppedTokens === b.croppedTokens && a.knockout === b.knockout && a.step === b.step && a.seen.every((ch, i) => ch === b.seen[i]);
}

onWorker(FromWorker.ANALYSIS, (msg) => {
  state.inflight = false;
  if (msg.nonFinite) {
    showError("The model's output for this text is not finite (NaN or ∞): its weights overflow. Reset the training, or load another model.", "nonfinite");
  } else {
    clearError("nonfinite");
  }
  const t0 = performance.now();
  const spans = requestSpans(t0, msg.forwardMs);
  const unchanged = sameAttention(state.analysis, msg);
  state.analysis = msg;
  state.analysisText = state.reqText;
  state.analysisCursor = state.reqCursor;
  // the same positions, weights and knock-out set: the maps' data is the one already drawn
  // (panels skip redrawing a display they have drawn)
  if (!unchanged || !state.display) state.display = buildDisplay();
  const tDisplay = performance.now();
  spans.display = tDisplay - t0;
  measure("kgpt display", t0, tDisplay);
  emitTimed("analysis", msg, spans);
  const t1 = performance.now();
  spans.total = t1 - state.reqStart;
  measure("kgpt keystroke → drawn", state.reqStart, t1);
  emit("drawn", { totalMs: t1 - state.reqStart, drawMs: t1 - t0, forwardMs: msg.forwardMs, fromKey: state.reqFromKey, spans, unchanged });
  emit("buttons");
  sendPending();
});

// a failed analysis must not block the next one
on("worker-error", (msg) => {
  if (msg.context !== ToWorker.ANALYZE) return;
  state.inflight = false;
  sendPending();
});
