// The "Layer by layer" panel (logit lens): for the character after the cursor, the top 5 next
// characters as each layer would predict them — the residual stream after that layer's block
// read out through the final layer norm and lm_head — one `[data-layer]` row per layer, then
// the model's output (its next-character probabilities, computed on their own path: the last
// block's row must equal it). Guesses equal to the output's first choice are marked.

import { state } from "../state.js";
import { $, on } from "../app.js";
import { displayLabel, el, nf } from "../format.js";

const ui = { table: $("logit-lens"), context: $("lens-context") };

const TOP = 5;

function guessCell({ ch, p }, best) {
  const td = el("td", ch === best ? "lens-guess match" : "lens-guess");
  const glyph = el("span", "lens-ch", displayLabel(ch));
  glyph.lang = "kn";
  td.style.setProperty("--p", p.toFixed(4));
  td.append(glyph, el("span", "lens-p", p >= 0.1 ? `${(p * 100).toFixed(0)}%` : `${(p * 100).toFixed(1)}%`));
  return td;
}

function lensRow(label, layer, top, best) {
  const tr = el("tr");
  tr.dataset.layer = layer;
  const th = el("th", "", label);
  th.scope = "row";
  tr.append(th, ...top.slice(0, TOP).map((g) => guessCell(g, best)));
  return tr;
}

function header() {
  const tr = el("tr");
  const corner = el("th", "", "Read out after");
  corner.scope = "col";
  tr.append(corner);
  for (let i = 1; i <= TOP; i++) {
    const th = el("th", "", `#${i}`);
    th.scope = "col";
    tr.append(th);
  }
  const thead = el("thead");
  thead.append(tr);
  return thead;
}

function render() {
  const msg = state.inspection;
  const caption = el("caption", "sr-only", "The five most likely next characters as each layer would predict them, with probabilities; the last row is the model's output.");
  const tbody = el("tbody");
  if (!msg || msg.error || !msg.lens) {
    ui.context.textContent = "Place the cursor after some Kannada text: each layer's guess for the next character appears here.";
    ui.table.replaceChildren(caption, header(), tbody);
    return;
  }
  const { output } = msg.lens;
  const best = output[0] ? output[0].ch : null;
  msg.lens.rows.forEach((top, l) => tbody.append(lensRow(`block ${l + 1}`, String(l), top, best)));
  tbody.append(lensRow("output", "output", output, best));
  ui.table.replaceChildren(caption, header(), tbody);
  // heads named 1-based as the grid and the Heads table name them ("L3 H1"); the set itself is 0-based "L.H"
  const named = msg.knockout ? msg.knockout.split(",").map((e) => e.split(".").map((n) => Number(n) + 1)).map(([l, h]) => `L${l} H${h}`) : [];
  const ko = named.length ? ` (knocked out: ${named.join(", ")})` : "";
  ui.context.textContent = `After “${displayLabel(msg.lens.after)}” (character ${nf.format(msg.lens.position)}): what the residual stream predicts after each block${ko}. Marked: the output's first choice.`;
}

export function init() {
  render();
  on("inspection", render, "lens");
  on("model", render);
}
