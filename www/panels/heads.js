// The "Attention" panel: the grid of heatmaps (n_layer × n_head), hover tooltips, the view
// (characters / aksharas) and colour scale, the legend, the timing figures on #attention-grid
// (data-tokens, data-ms, data-ms-breakdown: the keystroke's profile, ...) and the large view of one
// head with its values table.

import { state } from "../state.js";
import { $, emit, measure, on, registerHashField, roundedSpans, scheduleHash } from "../app.js";
import { redrawFromCache } from "../analysis.js";
import { AttentionGrid, LargeView, drawLegend, fmt3, SCALES } from "../heatmap.js";
import { el } from "../format.js";
import { clearStripHighlight, highlightStrip } from "./strip.js";

const ui = {
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
};

let valuesTimer = 0;
let valuesRendered = false;

/** The tooltip / readout texts of cell (q, k) of map `m`. */
function cellText(m, q, k) {
  const d = state.display;
  const layer = Math.floor(m / d.n_head);
  const head = m % d.n_head;
  const unit = d.view === "aksharas" ? "akshara" : "character";
  const masked = k > q;
  const v = masked ? 0 : d.data[m * d.side * d.side + q * d.side + k];
  return {
    head: `Layer ${layer + 1} · head ${head + 1}`,
    pair: `“${d.labels[q]}” → “${d.labels[k]}”`,
    where: `query ${unit} ${q + 1}, key ${unit} ${k + 1}`,
    weight: masked ? "masked (future)" : fmt3(v),
  };
}

function showTooltip(info) {
  const d = state.display;
  // (while the timeline replays a snapshot the maps are not the live values the tooltip reads)
  if (!d || !d.side || state.replay !== null) return;
  const m = info.layer * d.n_head + info.head;
  const t = cellText(m, info.q, info.k);
  const pair = el("div", "tt-pair", t.pair);
  pair.lang = "kn";
  const w = el("div");
  w.append("weight ", el("span", "tt-weight", t.weight));
  ui.tooltip.replaceChildren(el("div", "tt-head", `${t.head} · ${t.where}`), pair, w);
  ui.tooltip.hidden = false;
  const pad = 14;
  const rect = ui.tooltip.getBoundingClientRect();
  let x = info.clientX + pad;
  let y = info.clientY + pad;
  if (x + rect.width > window.innerWidth - 4) x = info.clientX - rect.width - pad;
  if (y + rect.height > window.innerHeight - 4) y = info.clientY - rect.height - pad;
  ui.tooltip.style.setProperty("--x", `${Math.max(4, x)}px`);
  ui.tooltip.style.setProperty("--y", `${Math.max(4, y)}px`);
  highlightStrip(m, info.q);
}

function hideTooltip() {
  ui.tooltip.hidden = true;
  clearStripHighlight();
}

/** Opens the large view of one head (0-based). */
export function openHead(layer, head) {
  if (!state.display) return;
  state.selected = { layer, head };
  hideTooltip();
  if (!ui.dialog.open) ui.dialog.showModal();
  showLarge();
  ui.largeCanvas.focus();
  scheduleHash();
}

function showLarge() {
  const d = state.display;
  const { layer, head } = state.selected;
  const m = layer * d.n_head + head;
  ui.dialogTitle.textContent = `Layer ${layer + 1} · head ${head + 1}${d.view === "aksharas" ? " · aksharas" : ""}`;
  ui.largeCanvas.setAttribute(
    "aria-label",
    `Attention of layer ${layer + 1}, head ${head + 1}: ${d.side} × ${d.side}. Rows are queries, columns keys. Use the arrow keys to read values; the values table below lists them all.`,
  );
  large.show(d, m);
  if (state.largeCell && state.largeCell.q < d.side) onLargeCell({ ...state.largeCell, map: m });
  scheduleValuesTable();
}

function onLargeCell(cell) {
  const d = state.display;
  if (!d || !d.side) return;
  state.largeCell = { q: cell.q, k: cell.k };
  const t = cellText(cell.map, cell.q, cell.k);
  const pair = el("span", "", t.pair);
  pair.lang = "kn";
  ui.readout.replaceChildren(pair, ` · ${t.where} · weight `, el("span", "tt-weight", t.weight));
  highlightStrip(cell.map, cell.q);
}

function stepHead(delta) {
  if (!state.selected || !state.display) return;
  const d = state.display;
  const total = d.n_layer * d.n_head;
  const m = (state.selected.layer * d.n_head + state.selected.head + delta + total) % total;
  state.selected = { layer: Math.floor(m / d.n_head), head: m % d.n_head };
  showLarge();
  scheduleHash();
}

function scheduleValuesTable() {
  if (!ui.valuesDetails.open) return;
  clearTimeout(valuesTimer);
  valuesTimer = setTimeout(renderValuesTable, valuesRendered ? 300 : 0);
}

function headerCell(text, scope) {
  const th = el("th", "", text);
  th.scope = scope;
  return th;
}

/** The text alternative: every weight of the large view's head, 3 decimals. */
function renderValuesTable() {
  valuesRendered = true;
  const d = state.display;
  if (!d || !state.selected) return;
  const { layer, head } = state.selected;
  const m = layer * d.n_head + head;
  const cap = el("caption", "sr-only", `Attention weights of layer ${layer + 1}, head ${head + 1}: rows are queries, columns keys; empty cells are masked.`);
  const hr = el("tr");
  hr.append(headerCell("query \\ key", "col"));
  for (const l of d.labels) {
    const th = headerCell(l, "col");
    th.lang = "kn";
    hr.append(th);
  }
  const thead = el("thead");
  thead.append(hr);
  const tbody = el("tbody");
  for (let q = 0; q < d.side; q++) {
    const tr = el("tr");
    const th = headerCell(d.labels[q], "row");
    th.lang = "kn";
    tr.append(th);
    const base = m * d.side * d.side + q * d.side;
    for (let k = 0; k < d.side; k++) tr.append(k <= q ? el("td", "", fmt3(d.data[base + k])) : el("td", "masked"));
    tbody.append(tr);
  }
  ui.valuesTable.replaceChildren(cap, thead, tbody);
}

function updateLegend() {
  drawLegend(ui.legend, state.scale);
  ui.legendLabel.textContent = `attention weight (${SCALES[state.scale].label} scale)`;
}

/** Switches between the character and the akshara view. */
export function setView(view) {
  state.view = view === "aksharas" ? "aksharas" : "chars";
  ui.aksharaToggle.setAttribute("aria-pressed", String(state.view === "aksharas"));
  ui.grid.dataset.view = state.view;
}

/** performance.now() of the keystroke (or request) whose maps were drawn last (data-ms-all-drawn counts from it). */
let drawnFrom = 0;

/** The maps off screen at the last redraw are drawn too (in idle time): data-maps-pending 0, data-ms-all-drawn. */
function onAllDrawn() {
  const ds = ui.grid.dataset;
  if (ds.mapsPending === "0") return;
  ds.mapsPending = "0";
  ds.msAllDrawn = (performance.now() - drawnFrom).toFixed(1);
}

export const grid = new AttentionGrid(ui.grid, { onOpen: openHead, onHover: showTooltip, onLeave: hideTooltip, onBuilt: (maps) => emit("grid", maps), onAllDrawn });
const large = new LargeView(ui.largeCanvas, { onCell: onLargeCell });

function onDisplay(d) {
  // while the timeline replays a snapshot, the grid shows it (the large view stays live)
  if (state.replay === null) grid.update(d);
  ui.grid.dataset.groups = String(d.side);
  if (ui.dialog.open && state.selected) showLarge();
}

/**
 * The timing figures of a redraw (data-seq last: tests wait for it). `spans` is the profile of
 * the redraw (analysis.js, app.js emitTimed), written as JSON to data-ms-breakdown; once the
 * next frame is on screen it gains `frameWait` (end of our handlers → the frame starts) and
 * `render` (the browser's style, layout and paint of the frame, approximately: until the first
 * task after it), and data-breakdown-seq says which redraw it describes.
 */
function onDrawn({ totalMs, drawMs, forwardMs, fromKey, spans, unchanged }) {
  const a = state.analysis;
  const ds = ui.grid.dataset;
  ds.tokens = String(a.tokens);
  ds.ms = totalMs.toFixed(1);
  ds.drawMs = drawMs.toFixed(1);
  ds.forwardMs = forwardMs.toFixed(1);
  ds.reused = String(a.reused ?? 0);
  ds.fromKey = fromKey ? "1" : "0";
  ds.unchanged = unchanged ? "1" : "0";
  // maps off screen are drawn when idle (or once scrolled to): data-maps-pending counts them until then
  drawnFrom = performance.now() - totalMs;
  ds.mapsPending = String(grid.stale.size);
  if (!grid.stale.size) ds.msAllDrawn = totalMs.toFixed(1);
  const profile = roundedSpans(spans || {});
  ds.msBreakdown = JSON.stringify(profile);
  const seq = ++state.redraws;
  afterNextFrame(seq, profile);
  ds.seq = String(seq);
  const what = fromKey ? `keystroke → ${a.n_layer * a.n_head} maps drawn` : "update";
  ui.drawTime.textContent = `${a.tokens} characters · forward ${forwardMs.toFixed(1)} ms (worker) · draw ${drawMs.toFixed(1)} ms · ${what} ${totalMs.toFixed(1)} ms`;
}

/** Adds the frame's figures to redraw `seq`'s profile once the browser has drawn it. */
function afterNextFrame(seq, profile) {
  const drawn = performance.now();
  requestAnimationFrame(() => {
    const frameStart = performance.now();
    // a message posted in the frame's callback is handled after the frame is rendered
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      if (seq !== state.redraws) return; // a newer redraw has its own profile
      const rendered = performance.now();
      measure("kgpt frame wait", drawn, frameStart);
      measure("kgpt frame render", frameStart, rendered);
      const ds = ui.grid.dataset;
      ds.msBreakdown = JSON.stringify({ ...profile, ...roundedSpans({ frameWait: frameStart - drawn, render: rendered - frameStart }) });
      ds.breakdownSeq = String(seq);
    };
    channel.port2.postMessage(null);
  });
}

function wire() {
  ui.aksharaToggle.addEventListener("click", () => {
    setView(state.view === "aksharas" ? "chars" : "aksharas");
    hideTooltip();
    redrawFromCache();
    scheduleHash();
  });
  ui.scale.addEventListener("change", () => {
    state.scale = ui.scale.value === "sqrt" ? "sqrt" : "linear";
    updateLegend();
    redrawFromCache();
    scheduleHash();
  });
  new ResizeObserver(() => drawLegend(ui.legend, state.scale)).observe(ui.legend);
  ui.dialog.addEventListener("close", () => {
    state.selected = null;
    state.largeCell = null;
    clearStripHighlight();
    scheduleHash();
  });
  ui.dialog.addEventListener("click", (e) => {
    if (e.target === ui.dialog) ui.dialog.close();
  });
  $("close-dialog").addEventListener("click", () => ui.dialog.close());
  $("prev-head").addEventListener("click", () => stepHead(-1));
  $("next-head").addEventListener("click", () => stepHead(1));
  ui.valuesDetails.addEventListener("toggle", () => {
    valuesRendered = false;
    if (ui.valuesDetails.open) scheduleValuesTable();
  });
}

/** Opens the head named in the link once the first maps exist. */
function openPendingHead() {
  const d = state.display;
  if (!state.pendingHead || !d || !d.side) return;
  const { layer, head } = state.pendingHead;
  state.pendingHead = null;
  if (layer >= 0 && head >= 0 && layer < d.n_layer && head < d.n_head) openHead(layer, head);
}

function registerHash() {
  registerHashField("view", { get: () => (state.view === "chars" ? null : state.view), set: setView });
  registerHashField("scale", {
    get: () => (state.scale === "linear" ? null : state.scale),
    set: (v) => {
      state.scale = v === "sqrt" ? "sqrt" : "linear";
      ui.scale.value = state.scale;
      updateLegend();
    },
  });
  registerHashField("head", {
    get: () => (state.selected && ui.dialog.open ? `${state.selected.layer + 1}.${state.selected.head + 1}` : null),
    set: (v) => {
      const m = /^(\d+)\.(\d+)$/.exec(v || "");
      state.pendingHead = m ? { layer: Number(m[1]) - 1, head: Number(m[2]) - 1 } : null;
    },
  });
}

export function init() {
  wire();
  registerHash();
  on("model", (info) => grid.configure(info.config.n_layer, info.config.n_head));
  on("analysis", () => onDisplay(state.display), "heatmaps");
  on("display", onDisplay);
  on("drawn", onDrawn);
  on("drawn", openPendingHead);
  on("fonts", () => {
    // labels are drawn on canvas: redraw them in the Kannada font once it is there
    grid.invalidateLabels();
    grid.redraw(false);
    updateLegend();
  });
}
