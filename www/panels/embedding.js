// The "Embedding map" panel: every character of the vocabulary drawn as its glyph at its
// token embedding's first two principal components (#embedding-map), coloured by its class
// (vowel, consonant, vowel sign, …) with a legend; hover, or focus the map and use the arrow
// keys, to read a character's Unicode name, code point and class. Beside it the cosine similarity of the
// position embeddings (#position-similarity). Requested when a model loads and after training.

import { state } from "../state.js";
import { FromWorker, ToWorker } from "../protocol.js";
import { $, on, onWorker, post } from "../app.js";
import { VIRIDIS } from "../heatmap.js";
import { charName } from "../char-names.js";
import { displayLabel, el } from "../format.js";

const ui = {
  map: $("embedding-map"),
  legend: $("embedding-legend"),
  readout: $("embedding-readout"),
  sim: $("position-similarity"),
  simReadout: $("position-readout"),
  table: $("embedding-table"),
};

/** Class → [colour, how the legend names it]. */
const CLASSES = {
  vowel: ["#fde725", "vowel"],
  consonant: ["#5ec962", "consonant"],
  vowel_sign: ["#3fd0e0", "vowel sign"],
  virama: ["#ff7b7b", "virama"],
  modifier: ["#c99bff", "anusvara / visarga"],
  digit: ["#f0b35a", "digit"],
  punctuation: ["#b9c0cc", "punctuation"],
  space: ["#ffffff", "space / new line"],
  other: ["#7d8594", "other"],
};
const FONT = '"Noto Sans Kannada", system-ui, sans-serif';
const PAD = 22;

/** The last EMBEDDING message, where each point was drawn, the focused point. */
let data = null;
let placed = [];
let focused = -1;
let needed = false;

const codePoint = (ch) => [...ch].map((c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`).join(" ");
const className = (cls) => (CLASSES[cls] || CLASSES.other)[1];

/** Sizes a canvas to its CSS box; returns its 2-D context in CSS pixels, or null when hidden. */
function fit(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (!w || !h) return null;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

function drawMap() {
  const c = fit(ui.map);
  if (!c) return;
  const { ctx, w, h } = c;
  ctx.clearRect(0, 0, w, h);
  placed = [];
  if (!data) return;
  const xs = data.points.map((p) => p.x);
  const ys = data.points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (x) => PAD + ((x - x0) / (x1 - x0 || 1)) * (w - 2 * PAD);
  const Y = (y) => h - PAD - ((y - y0) / (y1 - y0 || 1)) * (h - 2 * PAD);
  ctx.strokeStyle = "#2a313d";
  ctx.beginPath();
  ctx.moveTo(PAD, Y(0));
  ctx.lineTo(w - PAD, Y(0));
  ctx.moveTo(X(0), PAD);
  ctx.lineTo(X(0), h - PAD);
  ctx.stroke();
  ctx.fillStyle = "#9aa3b0";
  ctx.font = `11px ${FONT}`;
  ctx.textAlign = "right";
  ctx.textBaseline = "bottom";
  ctx.fillText(`PC1 (${(data.explained[0] * 100).toFixed(0)}% of variance) →`, w - 4, h - 3);
  ctx.save();
  ctx.translate(9, h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(`PC2 (${(data.explained[1] * 100).toFixed(0)}% of variance) →`, 0, 0);
  ctx.restore();
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  data.points.forEach((p, i) => {
    const at = { x: X(p.x), y: Y(p.y), p };
    placed.push(at);
    if (i === focused) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(at.x, at.y, 13, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.font = `${i === focused ? 600 : 400} ${i === focused ? 20 : 16}px ${FONT}`;
    ctx.fillStyle = (CLASSES[p.class] || CLASSES.other)[0];
    ctx.fillText(displayLabel(p.char), at.x, at.y);
  });
}

function drawSimilarity() {
  const c = fit(ui.sim);
  if (!c) return;
  const { ctx, w, h } = c;
  ctx.clearRect(0, 0, w, h);
  if (!data) return;
  const n = data.blockSize;
  const img = new ImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const [r, g, b] = VIRIDIS[Math.round(Math.min(1, Math.max(0, (data.similarity[i] + 1) / 2)) * 255)];
    img.data.set([r, g, b, 255], i * 4);
  }
  const scratch = document.createElement("canvas");
  scratch.width = n;
  scratch.height = n;
  scratch.getContext("2d").putImageData(img, 0, 0);
  const side = Math.min(w, h);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, 0, 0, side, side);
}

function showPoint(i) {
  focused = i;
  drawMap();
  const p = data && data.points[i];
  if (!p) {
    ui.readout.textContent = "Hover a character, or focus the map and use the arrow keys.";
    return;
  }
  const glyph = el("span", "kn", displayLabel(p.char));
  glyph.lang = "kn";
  const name = charName(p.char);
  ui.readout.replaceChildren(glyph, ` ${name ? `${name} · ` : ""}${codePoint(p.char)} · ${className(p.class)} · (${p.x.toFixed(2)}, ${p.y.toFixed(2)})`);
}

function nearest(e) {
  const r = ui.map.getBoundingClientRect();
  const x = e.clientX - r.left;
  const y = e.clientY - r.top;
  let best = -1;
  let bestD = 14 * 14;
  placed.forEach((q, i) => {
    const d = (q.x - x) ** 2 + (q.y - y) ** 2;
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

function onKey(e) {
  if (!data) return;
  const n = data.points.length;
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
  if (e.key === "Home") showPoint(0);
  else if (e.key === "End") showPoint(n - 1);
  else if (step) showPoint((Math.max(0, focused) + step + n) % n);
  else return;
  e.preventDefault();
}

function onSimPointer(e) {
  if (!data) return;
  const r = ui.sim.getBoundingClientRect();
  const side = Math.min(r.width, r.height);
  const n = data.blockSize;
  const i = Math.floor(((e.clientY - r.top) / side) * n);
  const j = Math.floor(((e.clientX - r.left) / side) * n);
  if (i < 0 || j < 0 || i >= n || j >= n) return;
  ui.simReadout.textContent = `positions ${i} and ${j}: cosine similarity ${data.similarity[i * n + j].toFixed(2)}`;
}

function renderLegend() {
  const present = new Set(data ? data.points.map((p) => p.class) : []);
  const items = Object.entries(CLASSES)
    .filter(([cls]) => present.has(cls))
    .map(([cls, [colour, name]]) => {
      const swatch = el("span", "swatch");
      swatch.setAttribute("aria-hidden", "true");
      swatch.style.setProperty("--c", colour);
      const li = el("li");
      li.dataset.class = cls;
      li.append(swatch, name);
      return li;
    });
  ui.legend.replaceChildren(...items);
}

function renderTable() {
  const tbody = el("tbody");
  for (const p of data.points) {
    const tr = el("tr");
    const ch = el("td", "", displayLabel(p.char));
    ch.lang = "kn";
    tr.append(ch, el("td", "", charName(p.char) || codePoint(p.char)), el("td", "", className(p.class)), el("td", "num", p.x.toFixed(3)), el("td", "num", p.y.toFixed(3)));
    tbody.append(tr);
  }
  ui.table.tBodies[0].replaceWith(tbody);
}

function onEmbedding(msg) {
  if (msg.error) {
    ui.readout.textContent = `The embedding map could not be computed: ${msg.error}`;
    return;
  }
  data = msg;
  focused = -1;
  ui.map.dataset.points = String(msg.points.length);
  ui.map.setAttribute("aria-label", `Embedding map of ${msg.points.length} characters: the first two principal components explain ${(msg.explained[0] * 100).toFixed(0)}% and ${(msg.explained[1] * 100).toFixed(0)}% of the variance. Arrow keys step through the characters; the table below lists them.`);
  ui.sim.dataset.positions = String(msg.blockSize);
  renderLegend();
  renderTable();
  drawMap();
  drawSimilarity();
  showPoint(-1);
}

export function init() {
  onWorker(FromWorker.EMBEDDING, onEmbedding);
  ui.map.addEventListener("pointermove", (e) => {
    const i = nearest(e);
    if (i >= 0 && i !== focused) showPoint(i);
  });
  ui.map.addEventListener("keydown", onKey);
  ui.sim.addEventListener("pointermove", onSimPointer);
  const redraw = () => {
    drawMap();
    drawSimilarity();
  };
  new ResizeObserver(redraw).observe(ui.map);
  on("fonts", redraw);
  on("model", () => {
    needed = true;
  });
  // requested after the model's first analysis, and after training changed the embeddings
  on("analysis", () => {
    if (!needed || state.training) return;
    needed = false;
    post({ type: ToWorker.EMBEDDING });
  });
  on("train-stopped", () => {
    needed = false;
    post({ type: ToWorker.EMBEDDING });
  });
}
