// The INSPECT request: bits per character of the text box (with the knock-out set and intact)
// and the logit lens after the cursor. It costs a few full forwards, so unlike the keystroke
// analysis it waits until typing pauses (INSPECT_DELAY_MS), is at most one in flight, and is
// not sent again for an unchanged text, cursor, knock-out set and model.

import { state } from "./state.js";
import { FromWorker, ToWorker } from "./protocol.js";
import { $, emit, emitTimed, on, onWorker, post, roundedSpans } from "./app.js";
import { textBox } from "./panels/text.js";

/** How long typing must pause before the (slower) inspection is requested. */
const INSPECT_DELAY_MS = 200;
/** Windows of block_size characters the bits/char reads from the start of the text. */
export const BPC_WINDOWS = 4;

let timer = 0;
let inflight = false;
let dirty = false;
let reqId = 0;
/** Which model the answers belong to (counts "model" events). */
let modelSeq = 0;
/** What the last request was for: text, cursor, knock-out set, model, training step. */
let lastKey = "";
/** The text and cursor of the request in flight (the answer is stored with them). */
let sent = { text: "", cursor: 0 };
/** performance.now() when the request in flight was posted. */
let sentAt = 0;

const keyNow = () => [textBox.value, textBox.selectionStart, state.knockout.join(","), modelSeq, state.analysis ? state.analysis.step : 0].join("\u0000");

/** Asks for a new inspection after `delay` ms (0: now, e.g. after a knock-out toggle). */
export function scheduleInspect(delay = INSPECT_DELAY_MS) {
  if (!state.ready || !state.uiReady) return;
  dirty = true;
  clearTimeout(timer);
  timer = setTimeout(send, delay);
}

/** How long the inspection waits again when a keystroke's analysis is in flight or pending. */
const BUSY_RETRY_MS = 50;

function send() {
  if (inflight || !dirty || !state.ready) return;
  if (state.inflight || state.pendingAny || state.pendingSince !== null) {
    // a keystroke is on its way: it goes first (the worker serves requests in order)
    clearTimeout(timer);
    timer = setTimeout(send, BUSY_RETRY_MS);
    return;
  }
  dirty = false;
  const key = keyNow();
  if (key === lastKey) return;
  lastKey = key;
  inflight = true;
  sent = { text: textBox.value, cursor: textBox.selectionStart };
  post({ type: ToWorker.INSPECT, id: ++reqId, ...sent, maxWindows: BPC_WINDOWS });
  sentAt = performance.now();
}

/** True if the last inspection is of the text box's text, cursor and knock-out set as they are now. */
export function inspectionIsCurrent() {
  const i = state.inspection;
  return !!i && i.text === textBox.value && i.cursor === textBox.selectionStart && !i.error && i.knockout === state.knockout.join(",");
}

onWorker(FromWorker.INSPECTION, (msg) => {
  inflight = false;
  if (msg.id === reqId) {
    // the profile: the worker's round trip (the forwards) and each panel's drawing, as
    // JSON in #attention-grid[data-ms-inspection] (not per keystroke: after typing pauses)
    const spans = { roundTrip: performance.now() - sentAt };
    state.inspection = { ...msg, ...sent };
    emitTimed("inspection", state.inspection, spans);
    $("attention-grid").dataset.msInspection = JSON.stringify(roundedSpans(spans));
  }
  send();
});

on("worker-error", (msg) => {
  if (msg.context !== ToWorker.INSPECT) return;
  inflight = false;
  send();
});

on("worker-restart", () => {
  inflight = false;
  lastKey = "";
});

on("model", () => {
  modelSeq++;
  state.inspection = null;
});

on("analysis", () => scheduleInspect(), "inspection");
