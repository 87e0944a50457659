// The "What the model sees" panel: the characters that reach the model, one element per
// character (or akshara), unknown ones struck through; hovering a map row lights up what that
// query attends to.

import { state } from "../state.js";
import { $, on } from "../app.js";
import { scalePos } from "../heatmap.js";
import { displayLabel, el, nf } from "../format.js";

const strip = $("token-strip");
/** The strip's element of each display row (index = row). */
let items = [];

/** Unknown characters: shown struck through; after this many in a row the rest is a count. */
const UNKNOWN_SHOWN = 5;

function rowElement(label, g) {
  const item = el("span", label === "␣" || label === "↵" ? "tok space" : "tok", label);
  item.dataset.index = String(g);
  items[g] = item;
  return item;
}

/** What the strip shows now: the display and the text it was rendered from. */
let rendered = { display: null, text: null };

/** A new analysis: the strip again, unless its display and text are the ones shown (a caret move). */
function renderChanged() {
  if (state.display === rendered.display && state.analysisText === rendered.text) return;
  render();
}

/** The text from the first character read: known characters as rows, unknown ones struck through. */
function render() {
  const a = state.analysis;
  const d = state.display;
  rendered = { display: d, text: state.analysisText };
  const frag = document.createDocumentFragment();
  items = [];
  if (a.croppedTokens) frag.append(el("span", "tok cropped", `… ${nf.format(a.croppedTokens)} earlier not seen`));
  const groupOf = new Int32Array(a.tokens);
  d.groups.forEach(([s, e], g) => groupOf.fill(g, s, e));
  let k = 0;
  let current = -1;
  let run = 0;
  let runEl = null;
  const runs = [];
  for (const ch of state.analysisText.slice(a.windowStart)) {
    if (k < a.tokens && state.vocabSet.has(ch)) {
      run = 0;
      runEl = null;
      const g = groupOf[k++];
      if (g === current) continue;
      current = g;
      const [s, e] = d.groups[g];
      frag.append(rowElement(displayLabel(a.seen.slice(s, e).join("")), g));
      continue;
    }
    if (++run <= UNKNOWN_SHOWN) {
      const u = el("span", "tok unknown", displayLabel(ch));
      u.title = "not in the vocabulary: skipped";
      frag.append(u);
      continue;
    }
    if (!runEl) {
      runEl = { el: el("span", "tok skip-run"), n: 0 };
      runs.push(runEl);
      frag.append(runEl.el);
    }
    runEl.n++;
  }
  for (const r of runs) r.el.textContent = `+${nf.format(r.n)} more skipped`;
  strip.replaceChildren(frag);
  if (!a.tokens) strip.append(el("span", "muted small", "Type some Kannada above."));
}

/** Lights up the strip by the attention of query row `q` in map `m` of the current display. */
export function highlightStrip(m, q) {
  const d = state.display;
  if (!d) return;
  const base = m * d.side * d.side + q * d.side;
  let max = 0;
  for (let g = 0; g <= q; g++) max = Math.max(max, d.data[base + g]);
  for (let g = 0; g < d.side; g++) {
    const item = items[g];
    if (!item) continue;
    // brightness relative to the row's largest weight (the tooltip has the exact value)
    const w = g <= q && max > 0 ? scalePos(d.data[base + g] / max, state.scale) : 0;
    item.style.setProperty("--w", w.toFixed(3));
    item.classList.toggle("lit", w > 0.55);
    item.classList.toggle("future", g > q);
    item.classList.toggle("query", g === q);
  }
}

export function clearStripHighlight() {
  for (const item of items) {
    if (!item) continue;
    item.style.removeProperty("--w");
    item.classList.remove("lit", "future", "query");
  }
}

export function init() {
  on("analysis", renderChanged, "strip");
  on("display", render);
}
