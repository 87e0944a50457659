// The "Export and share" panel: the heatmaps as one PNG, the attention as JSON, and the link
// to this view (text and settings in the URL hash, see app.js).

import { state } from "../state.js";
import { $, HASH_TEXT_LIMIT, on, showError } from "../app.js";
import { SCALES, VIRIDIS } from "../heatmap.js";
import { download, nf } from "../format.js";
import { grid } from "./heads.js";
import { describeModel } from "./weights.js";
import { textBox } from "./text.js";

const ui = {
  png: $("export-png"),
  json: $("export-json"),
  link: $("share-link"),
  copy: $("copy-link"),
  status: $("share-status"),
};

const FONT = '"Noto Sans Kannada", sans-serif';

/** The title, the text and the model above the maps. */
function drawHeader(ctx, d, w) {
  ctx.fillStyle = "#e7e5e1";
  ctx.font = `600 22px ${FONT}`;
  ctx.fillText("Micro-KannadaGPT attention", 16, 34);
  ctx.font = `15px ${FONT}`;
  ctx.fillStyle = "#9aa3b0";
  const seen = state.analysis.seen.join("");
  ctx.fillText(seen.length > 70 ? `…${seen.slice(-70)}` : seen, 16, 60, w - 32);
  ctx.fillText(`${d.view === "aksharas" ? "akshara view" : "character view"} · ${state.analysis.tokens} characters · ${describeModel(state.model)}`, 16, 82, w - 32);
}

/** The colour bar under the maps. */
function drawColourBar(ctx, left, y, w) {
  const lw = Math.min(400, w - 2 * left);
  for (let i = 0; i < lw; i++) {
    const [r, g, b] = VIRIDIS[Math.round((i / (lw - 1)) * 255)];
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(left + i, y, 1.5, 14);
  }
  ctx.fillStyle = "#9aa3b0";
  ctx.textAlign = "left";
  ctx.fillText(`0`, left, y + 32);
  ctx.textAlign = "right";
  ctx.fillText(`1   (${SCALES[state.scale].label} scale)`, left + lw, y + 32);
}

function exportPng() {
  const d = state.display;
  if (!d) return;
  grid.flush(); // (maps off screen may still be waiting for idle time)
  const maps = grid.maps;
  const size = Math.max(160, maps[0].canvas.width);
  const [gap, left, top, legendH] = [12, 70, 96, 60];
  const w = left + d.n_head * (size + gap);
  const h = top + d.n_layer * (size + gap) + legendH;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#0e1116";
  ctx.fillRect(0, 0, w, h);
  drawHeader(ctx, d, w);
  for (const m of maps) ctx.drawImage(m.canvas, left + m.head * (size + gap), top + m.layer * (size + gap), size, size);
  ctx.fillStyle = "#9aa3b0";
  ctx.font = `14px ${FONT}`;
  ctx.textAlign = "center";
  for (let hd = 0; hd < d.n_head; hd++) ctx.fillText(`head ${hd + 1}`, left + hd * (size + gap) + size / 2, top - 6);
  ctx.textAlign = "right";
  for (let l = 0; l < d.n_layer; l++) ctx.fillText(`layer ${l + 1}`, left - 10, top + l * (size + gap) + size / 2);
  drawColourBar(ctx, left, top + d.n_layer * (size + gap) + 10, w);
  c.toBlob((blob) => {
    if (blob) download(blob, "kgpt-attention.png");
    else showError("Could not create the PNG.");
  }, "image/png");
}

/** [n_layer][n_head][side][side] nested arrays of `data` ([maps, side, side]). */
function nest(data, side, d) {
  const round = (v) => (v === 0 ? 0 : Number(v.toPrecision(9)));
  const out = [];
  for (let l = 0; l < d.n_layer; l++) {
    const heads = [];
    for (let h = 0; h < d.n_head; h++) {
      const base = (l * d.n_head + h) * side * side;
      const rows = [];
      for (let q = 0; q < side; q++) rows.push(Array.from(data.subarray(base + q * side, base + (q + 1) * side), round));
      heads.push(rows);
    }
    out.push(heads);
  }
  return out;
}

function exportJson() {
  const a = state.analysis;
  const d = state.display;
  if (!a || !d) return;
  const doc = {
    format: "micro-kannada-gpt attention v1",
    note: "attention[layer][head][query][key]: post-softmax weights; each row sums to 1; zero above the diagonal (causal mask).",
    model: { name: state.model.name, config: state.model.config, parameters: state.model.params },
    text: a.seen.join(""),
    tokens: a.seen,
    cropped: a.croppedTokens,
    unknown_skipped: a.unknown,
    attention: nest(a.attention, a.tokens, d),
  };
  if (d.view === "aksharas") {
    doc.aksharas = {
      note: "per-akshara attention: sum over the key's characters, mean over the query's characters",
      groups: d.groups,
      labels: d.groups.map(([s, e]) => a.seen.slice(s, e).join("")),
      attention: nest(d.data, d.side, d),
    };
  }
  download(new Blob([JSON.stringify(doc)], { type: "application/json" }), "kgpt-attention.json");
}

async function copyLink() {
  ui.link.value = location.href;
  try {
    await navigator.clipboard.writeText(location.href);
    ui.status.textContent = "Link copied.";
  } catch {
    ui.link.select();
    ui.status.textContent = "Select and copy the link above.";
  }
}

export function init() {
  ui.png.addEventListener("click", exportPng);
  ui.json.addEventListener("click", exportJson);
  ui.copy.addEventListener("click", copyLink);
  ui.link.value = location.href;
  on("hash", () => {
    ui.link.value = location.href;
    ui.status.textContent = textBox.value.length > HASH_TEXT_LIMIT ? `The text is longer than ${nf.format(HASH_TEXT_LIMIT)} characters, so the link carries only the settings.` : "";
  });
  on("buttons", () => {
    const has = !!(state.analysis && state.analysis.tokens);
    ui.png.disabled = !state.ready || !has;
    ui.json.disabled = !state.ready || !has;
  });
}
