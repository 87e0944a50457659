// The "Heads" panel: #heads-table, one row per head with every score of the last HEAD_SCORES
// answer, sortable by any column (a button in each header; aria-sort says which), each score
// explained in a sentence (#heads-legend). Clicking a row (or Enter on its head button) opens
// that head's large view.

import { state } from "../state.js";
import { $, on } from "../app.js";
import { el } from "../format.js";
import { openHead } from "./heads.js";
import { ROLE_NAMES } from "./roles.js";

/**
 * The columns: `key` is the wasm API's field, `label` the header, `digits` the decimals shown,
 * `unit` true for scores in 0..1 (shaded by value), `what` the sentence the legend shows.
 */
const COLUMNS = [
  { key: "head", label: "Head", what: "Layer and head, numbered from 1 (the link's ko= and kgpt --ablate count from 0)." },
  { key: "role", label: "Role", what: "The score with the largest evidence, if that evidence is at least 0.3; “mixed” when none reaches it (ties go to first, self, previous, induction, akshara, conjunct, word start)." },
  { key: "role_score", label: "Score", digits: 2, unit: true, what: "The evidence that decided the role: the score itself for first, self, previous and induction; for akshara, conjunct and word start the score minus what the head's distance profile alone would put there." },
  { key: "prev_char", label: "Prev.", digits: 2, unit: true, what: "Attention on the character just before the query (mean over all queries)." },
  { key: "self", label: "Self", digits: 2, unit: true, what: "Attention on the query's own position." },
  { key: "first", label: "First", digits: 2, unit: true, what: "Attention on the first character of the window." },
  { key: "mean_distance", label: "Distance", digits: 1, what: "How far back the head looks: the attention-weighted distance to the key, in characters." },
  { key: "entropy_bits", label: "Entropy", digits: 2, what: "How spread the attention is, in bits: 0 = all on one key, log₂(q+1) = even over all of them." },
  { key: "same_akshara", label: "Akshara", digits: 2, unit: true, what: "Attention on earlier characters of the query's own akshara (syllable), over queries inside one." },
  { key: "conjunct", label: "Conjunct", digits: 2, unit: true, what: "For a consonant right after a virama (್): attention on the consonant before that virama, the cluster's first half." },
  { key: "word_start", label: "Word start", digits: 2, unit: true, what: "Attention on the first character of the query's word, over queries not at a word start." },
  { key: "induction", label: "Induction", digits: 2, unit: true, what: "On a random text repeated once: attention on the key right after the previous occurrence of the query's character (copying)." },
  { key: "knockout_bits", label: "Knock-out Δ", digits: 3, what: "How many bits per character the same text costs more when this head alone is knocked out: how much the model needs it." },
];

const ui = { table: $("heads-table"), legend: $("heads-legend") };

/** The sort: column key and direction (1 ascending, −1 descending). */
let sortKey = "head";
let sortDir = 1;

function sortValue(h, key) {
  if (key === "head") return h.layer * 1000 + h.head;
  if (key === "role") return ROLE_NAMES[h.role] || h.role;
  return h[key];
}

function sorted(heads) {
  return [...heads].sort((a, b) => {
    const x = sortValue(a, sortKey);
    const y = sortValue(b, sortKey);
    const c = typeof x === "string" ? x.localeCompare(y) : x - y;
    return sortDir * c || a.layer - b.layer || a.head - b.head;
  });
}

function headerRow() {
  const tr = el("tr");
  for (const c of COLUMNS) {
    const th = el("th");
    th.scope = "col";
    th.setAttribute("aria-sort", c.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    const b = el("button", "sort-button", c.label);
    b.type = "button";
    b.dataset.sort = c.key;
    b.title = c.what;
    const arrow = el("span", "sort-arrow", c.key === sortKey ? (sortDir > 0 ? "▲" : "▼") : "");
    arrow.setAttribute("aria-hidden", "true");
    b.append(arrow);
    b.addEventListener("click", () => sortBy(c.key));
    th.append(b);
    tr.append(th);
  }
  return tr;
}

function sortBy(key) {
  if (key === sortKey) sortDir = -sortDir;
  else {
    sortKey = key;
    // scores: largest first; the head and role columns: in order
    sortDir = key === "head" || key === "role" ? 1 : -1;
  }
  render();
  const b = ui.table.querySelector(`button[data-sort="${key}"]`);
  if (b) b.focus();
}

function scoreCell(h, c, maxBits) {
  const v = h[c.key];
  const td = el("td", "num", Number.isFinite(v) ? v.toFixed(c.digits) : "—");
  const shade = c.unit ? v : c.key === "knockout_bits" && maxBits > 0 ? Math.max(0, v) / maxBits : null;
  if (shade !== null && Number.isFinite(shade)) {
    td.classList.add("shaded");
    td.style.setProperty("--v", Math.min(1, Math.max(0, shade)).toFixed(3));
  }
  if (c.key === h.role) td.classList.add("is-role");
  // (the column's name, shown beside the value when a narrow screen stacks the row)
  td.dataset.label = c.label;
  return td;
}

function row(h, maxBits) {
  const tr = el("tr");
  tr.dataset.layer = String(h.layer);
  tr.dataset.head = String(h.head);
  tr.dataset.role = h.role;
  const th = el("th");
  th.scope = "row";
  const open = el("button", "head-open", `L${h.layer + 1} H${h.head + 1}`);
  open.type = "button";
  open.title = `Open layer ${h.layer + 1}, head ${h.head + 1}`;
  th.append(open);
  const role = el("td", "role-cell", ROLE_NAMES[h.role] || h.role);
  role.dataset.label = "Role";
  tr.append(th, role);
  for (const c of COLUMNS.slice(2)) tr.append(scoreCell(h, c, maxBits));
  // the whole row opens the head; its button (no handler of its own: the click bubbles here)
  // gives keyboard users Tab + Enter
  tr.addEventListener("click", () => openHead(h.layer, h.head));
  return tr;
}

function render() {
  const s = state.headScores;
  const cap = el("caption", "sr-only", "Every head's scores; the buttons in the header row sort by a column, a row's head button opens that head.");
  const thead = el("thead");
  thead.append(headerRow());
  const tbody = el("tbody");
  if (s) {
    const maxBits = Math.max(0, ...s.heads.map((h) => h.knockout_bits));
    for (const h of sorted(s.heads)) tbody.append(row(h, maxBits));
  } else {
    const tr = el("tr");
    const td = el("td", "muted", "The scores appear once the model is loaded.");
    td.colSpan = COLUMNS.length;
    tr.append(td);
    tbody.append(tr);
  }
  ui.table.replaceChildren(cap, thead, tbody);
}

function renderLegend() {
  const items = [];
  for (const c of COLUMNS) {
    const div = el("div");
    const dt = el("dt", "", c.label);
    if (c.key !== "head") dt.append(" ", el("code", "", c.key));
    div.append(dt, el("dd", "", c.what));
    items.push(div);
  }
  ui.legend.replaceChildren(...items);
}

export function init() {
  renderLegend();
  render();
  on("head-scores", render, "heads-table");
}
