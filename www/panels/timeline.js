// Heads forming: while the page trains, a snapshot of the text box's heatmaps (and the heads'
// roles as last recomputed) every `every` steps; the slider #timeline replays them in the grid,
// during or after training, its last position being the live model. Memory is bounded: past
// MAX_SNAPSHOTS every other snapshot is dropped and the interval doubles, and weights are kept
// as bytes of the maps' lower triangles (weight × 255: a 128-character text costs 129 KiB per
// snapshot, 8.1 MiB at most).

import { state } from "../state.js";
import { $, on } from "../app.js";
import { displayOf } from "../analysis.js";
import { nf } from "../format.js";
import { grid } from "./heads.js";
import { showRoles } from "./roles.js";

const MAX_SNAPSHOTS = 64;
const FIRST_EVERY = 2;

const ui = {
  slider: $("timeline"),
  status: $("timeline-status"),
  live: $("timeline-live"),
  grid: $("attention-grid"),
};

/** Steps between two snapshots (doubles each time the snapshots are thinned out). */
let every = FIRST_EVERY;

function rolesNow() {
  return state.headScores ? { step: state.headScores.step, heads: state.headScores.heads.map(({ role, role_score }) => ({ role, role_score })) } : null;
}

/** The causal maps' lower triangles (row q keeps keys 0..q), each weight as a byte (× 255). */
function snapshotOf(a) {
  const t = a.tokens;
  const maps = a.n_layer * a.n_head;
  const tri = (t * (t + 1)) / 2;
  const q = new Uint8Array(maps * tri);
  let j = 0;
  for (let m = 0; m < maps; m++) {
    for (let r = 0; r < t; r++) {
      const row = (m * t + r) * t;
      for (let k = 0; k <= r; k++) q[j++] = Math.round(Math.min(1, Math.max(0, a.attention[row + k])) * 255);
    }
  }
  return { step: a.step, seen: a.seen, tokens: t, n_layer: a.n_layer, n_head: a.n_head, attention: q, roles: rolesNow() };
}

/** A snapshot's maps back as [maps, tokens, tokens] weights (zero above the diagonal). */
function unpack(s) {
  const t = s.tokens;
  const maps = s.n_layer * s.n_head;
  const out = new Float32Array(maps * t * t);
  let j = 0;
  for (let m = 0; m < maps; m++) {
    for (let r = 0; r < t; r++) {
      const row = (m * t + r) * t;
      for (let k = 0; k <= r; k++) out[row + k] = s.attention[j++] / 255;
    }
  }
  return out;
}

/** Keeps every other snapshot (the first and the last stay) and doubles the interval. */
function thinOut() {
  const s = state.snapshots;
  const kept = s.filter((_, i) => i % 2 === 0 || i === s.length - 1);
  state.snapshots = kept;
  if (state.replay !== null) state.replay = Math.min(state.replay >> 1, kept.length - 1);
  every *= 2;
}

function record(a) {
  if (!state.trainSession || !a.attention || !a.tokens || a.nonFinite) return;
  const s = state.snapshots;
  const last = s[s.length - 1];
  if (last && a.step < last.step + every) return;
  s.push(snapshotOf(a));
  if (s.length > MAX_SNAPSHOTS) thinOut();
  renderSlider();
}

function reset() {
  state.snapshots = [];
  every = FIRST_EVERY;
  goLive();
  renderSlider();
}

/** The slider: positions 0…n−1 are the snapshots, n is the live model. */
function renderSlider() {
  const n = state.snapshots.length;
  ui.slider.max = String(n);
  ui.slider.disabled = n === 0;
  ui.slider.value = String(state.replay === null ? n : state.replay);
  ui.live.disabled = state.replay === null;
  ui.slider.dataset.snapshots = String(n);
  describe();
}

function describe() {
  const n = state.snapshots.length;
  if (!n) {
    ui.status.textContent = "Train the model (panel below) to record how the heads form; the slider then replays it.";
    ui.slider.setAttribute("aria-valuetext", "no snapshots yet");
    return;
  }
  if (state.replay === null) {
    const text = `Live model. ${nf.format(n)} snapshot${n === 1 ? "" : "s"} recorded (steps ${nf.format(state.snapshots[0].step)}–${nf.format(state.snapshots[n - 1].step)}); move the slider to replay them.`;
    ui.status.textContent = text;
    ui.slider.setAttribute("aria-valuetext", "live model");
    return;
  }
  const s = state.snapshots[state.replay];
  const roles = s.roles ? `, roles from step ${nf.format(s.roles.step)}` : ", no roles yet";
  ui.status.textContent = `Replaying snapshot ${state.replay + 1} of ${n}: the heatmaps at training step ${nf.format(s.step)}${roles}.`;
  ui.slider.setAttribute("aria-valuetext", `step ${s.step}`);
}

function showSnapshot(i) {
  const s = state.snapshots[i];
  state.replay = i;
  grid.update(displayOf({ ...s, attention: unpack(s) }));
  showRoles(s.roles ? s.roles.heads : null);
  ui.grid.dataset.replayStep = String(s.step);
  renderSlider();
}

function goLive() {
  if (state.replay === null) return;
  state.replay = null;
  delete ui.grid.dataset.replayStep;
  if (state.display) grid.update(state.display);
  showRoles(state.headScores ? state.headScores.heads : null);
  renderSlider();
}

function onSlider() {
  const i = Number(ui.slider.value);
  if (i >= state.snapshots.length) goLive();
  else showSnapshot(i);
}

export function init() {
  ui.slider.addEventListener("input", onSlider);
  ui.live.addEventListener("click", goLive);
  on("analysis", record, "timeline");
  // a new view or scale redraws the snapshot being replayed
  on("display", () => {
    if (state.replay !== null) showSnapshot(state.replay);
  });
  on("train-begin", (msg) => {
    reset();
    // fine-tuning: the model before the first step is the first snapshot
    if (msg.mode !== "scratch" && state.analysis && state.analysis.attention) record(state.analysis);
  });
  on("model", (info) => {
    if (info.kind !== "scratch") reset();
  });
  renderSlider();
}
