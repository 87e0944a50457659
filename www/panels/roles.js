// Head roles: the worker scores every head (HEAD_SCORES; the Heads panel lists every score)
// on the text box when it holds at least one full window of known characters, else on the
// built-in proverbs: when a model loads, every TRAINING_EVERY steps while training (fewer
// windows, so training keeps its speed) and when training stops. Each heatmap gets a caption
// with its head's role and role_score, and its canvas `data-role`.

import { state } from "../state.js";
import { FromWorker, ToWorker } from "../protocol.js";
import { $, emit, emitTimed, on, onWorker, post, roundedSpans } from "../app.js";
import { grid } from "./heads.js";
import { builtinText } from "./training.js";
import { textBox } from "./text.js";

/** Windows the scores read when a model loads or training stops (each costs 1 + n_layer·n_head forwards). */
export const ROLE_WINDOWS = 8;
/** Windows while training (recomputed every TRAINING_EVERY steps). */
const TRAINING_WINDOWS = 2;
const TRAINING_EVERY = 50;

/** How the page names each role (the wasm API's `role` values). */
export const ROLE_NAMES = Object.freeze({
  prev_char: "previous char",
  self: "itself",
  first: "first char",
  same_akshara: "same akshara",
  conjunct: "conjunct",
  word_start: "word start",
  induction: "induction",
  mixed: "mixed",
});

const ui = { source: $("heads-source"), rescore: $("heads-rescore") };

let needed = false;
let inflight = false;
/** performance.now() when the request in flight was posted. */
let sentAt = 0;
/** Windows of a request asked for while one was in flight (sent after it), or 0. */
let queued = 0;
let reqId = 0;
let lastTrainingStep = 0;

/** The text to score: the text box if it holds a full window of known characters, else the built-in proverbs. */
async function scoredText() {
  const a = state.analysis;
  if (a && a.textTokens >= state.model.config.block_size + 1) return { text: textBox.value, source: "the text box" };
  return { text: await builtinText(), source: "the built-in proverbs" };
}

async function request(maxWindows) {
  if (!state.ready) return;
  if (inflight) {
    queued = Math.max(queued, maxWindows);
    return;
  }
  inflight = true;
  let scored;
  try {
    scored = await scoredText();
  } catch {
    inflight = false;
    return;
  }
  ui.source.textContent = `Scoring the heads on ${scored.source}…`;
  post({ type: ToWorker.HEAD_SCORES, id: ++reqId, ...scored, maxWindows });
  sentAt = performance.now();
}

function done() {
  inflight = false;
  if (queued) {
    const n = queued;
    queued = 0;
    request(n);
  }
}

/** A score with `digits` decimals ("—" if it is not a number: the weights overflow). */
export const fixed = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : "—");

/** Captions and data-role from `roles` ([{role, role_score}] layer-major), or none (null). */
export function showRoles(roles) {
  for (const m of grid.maps) {
    const r = roles ? roles[m.index] : null;
    if (!r) {
      m.caption.textContent = "";
      m.roleText = "";
      delete m.canvas.dataset.role;
      delete m.cell.dataset.role;
      continue;
    }
    const name = ROLE_NAMES[r.role] || r.role;
    const score = fixed(r.role_score, 2);
    m.caption.textContent = `${name} ${score}`;
    m.caption.title = `Role: ${name} (score ${fixed(r.role_score, 3)}; the Heads panel explains the scores)`;
    m.roleText = `role: ${name}, score ${score}`;
    m.canvas.dataset.role = r.role;
    m.cell.dataset.role = r.role;
  }
  grid.updateLabels();
}

function onScores(msg) {
  const latest = msg.id === reqId;
  done();
  if (!latest) return;
  if (msg.error) {
    state.headScores = null;
    if (state.replay === null) showRoles(null);
    ui.source.textContent = `The heads could not be scored: ${msg.error}`;
    emit("head-scores", null);
    return;
  }
  // the profile (not per keystroke: on a model and while training): the worker's round trip,
  // the captions and the Heads table, as JSON in #attention-grid[data-ms-head-scores]
  const t0 = performance.now();
  const spans = { roundTrip: t0 - sentAt };
  state.headScores = msg;
  if (state.replay === null) showRoles(msg.heads);
  const bpc = Number.isFinite(msg.bits_per_char) ? `, where the intact model needs ${msg.bits_per_char.toFixed(3)} bits per character` : "";
  ui.source.textContent = `Scored on ${msg.source}: ${msg.windows} window${msg.windows === 1 ? "" : "s"} of up to ${state.model.config.block_size} characters${bpc}; model at training step ${msg.step}.`;
  spans.captions = performance.now() - t0;
  emitTimed("head-scores", msg, spans);
  $("attention-grid").dataset.msHeadScores = JSON.stringify(roundedSpans(spans));
}

export function init() {
  onWorker(FromWorker.HEAD_SCORES, onScores);
  ui.rescore.addEventListener("click", () => request(ROLE_WINDOWS));
  on("model", () => {
    needed = true;
    lastTrainingStep = 0;
    state.headScores = null;
    showRoles(null);
    emit("head-scores", null);
  });
  // scored after the model's first analysis, so the first heatmaps are not kept waiting
  on("analysis", () => {
    if (!needed || state.training) return;
    needed = false;
    request(ROLE_WINDOWS);
  });
  on("train-step", (msg) => {
    if (msg.step - lastTrainingStep < TRAINING_EVERY) return;
    lastTrainingStep = msg.step;
    request(TRAINING_WINDOWS);
  });
  on("train-stopped", () => {
    needed = false;
    request(ROLE_WINDOWS);
  });
  on("worker-error", (msg) => {
    if (msg.context === ToWorker.HEAD_SCORES) done();
  });
  on("worker-restart", () => {
    inflight = false;
    queued = 0;
  });
  on("buttons", () => {
    ui.rescore.disabled = !state.ready;
  });
}
