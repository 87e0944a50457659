// Analysis requests (one in flight; keystrokes meanwhile are coalesced into the next) and the
// display the maps, the strip and the large view draw from (characters or aksharas).

import { segmentAksharas } from "./pkg/kgpt.js";
import { state } from "./state.js";
import { FromWorker, ToWorker } from "./protocol.js";
import { emit, on, onWorker, post, showError, clearError } from "./app.js";
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
  if (since != null && (state.pendingSince === null || since < state.pendingSince)) state.pendingSince = since;
  state.pendingAny = true;
  if (!state.inflight) sendAnalysis();
}

function sendAnalysis() {
  state.inflight = true;
  state.sentAt = performance.now();
  state.pendingAny = false;
  state.reqStart = state.pendingSince !== null ? state.pendingSince : performance.now();
  state.reqFromKey = state.pendingSince !== null;
  state.pendingSince = null;
  state.reqText = textBox.value;
  state.lastCursor = textBox.selectionStart;
  state.reqCursor = state.lastCursor;
  post({ type: ToWorker.ANALYZE, id: ++state.reqId, text: state.reqText, cursor: state.lastCursor });
}

function sendPending() {
  if (state.pendingSince !== null || state.pendingAny) sendAnalysis();
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

onWorker(FromWorker.ANALYSIS, (msg) => {
  state.inflight = false;
  if (msg.nonFinite) {
    showError("The model's output for this text is not finite (NaN or ∞): its weights overflow. Reset the training, or load another model.", "nonfinite");
  } else {
    clearError("nonfinite");
  }
  const t0 = performance.now();
  state.analysis = msg;
  state.analysisText = state.reqText;
  state.analysisCursor = state.reqCursor;
  state.display = buildDisplay();
  emit("analysis", msg);
  const t1 = performance.now();
  emit("drawn", { totalMs: t1 - state.reqStart, drawMs: t1 - t0, forwardMs: msg.forwardMs, fromKey: state.reqFromKey });
  emit("buttons");
  sendPending();
});

// a failed analysis must not block the next one
on("worker-error", (msg) => {
  if (msg.context !== ToWorker.ANALYZE) return;
  state.inflight = false;
  sendPending();
});
