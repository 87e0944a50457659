// Knock-out: a toggle under every heatmap ([data-knockout="L.H"], 0-based) and one per layer
// (the whole layer's attention), "Restore all heads", the set sent to the worker (its heads'
// outputs are zeroed before the output projection in every later forward), the link field
// `ko=L.H,…`, and #text-bpc: the bits per character of the text box with the heads knocked out,
// against the intact model. #attention-grid[data-knocked-out] names the set the drawn maps were
// computed with; #text-bpc[data-current] says whether its figure is of the text box as it is now.

import { state } from "../state.js";
import { FromWorker, ToWorker } from "../protocol.js";
import { $, on, onWorker, post, registerHashField, scheduleHash } from "../app.js";
import { scheduleAnalysis } from "../analysis.js";
import { BPC_WINDOWS, inspectionIsCurrent, scheduleInspect } from "../inspect.js";
import { el, plural } from "../format.js";

const ui = {
  grid: $("attention-grid"),
  layers: $("knockout-layers"),
  clear: $("knockout-clear"),
  bpc: $("text-bpc"),
};

/** "L.H" → its head toggle; layer → its layer toggle. */
let headToggles = new Map();
let layerToggles = [];

const headKey = (layer, head) => `${layer}.${head}`;

/** Sorted (layer, then head), without duplicates; drops entries that are not "L.H". */
export function canonical(list) {
  const seen = new Set();
  const out = [];
  for (const entry of list) {
    const m = /^(\d+)\.(\d+)$/.exec(entry.trim());
    if (!m) continue;
    const k = headKey(Number(m[1]), Number(m[2]));
    if (!seen.has(k)) {
      seen.add(k);
      out.push(k);
    }
  }
  const num = (k) => k.split(".").map(Number);
  return out.sort((a, b) => num(a)[0] - num(b)[0] || num(a)[1] - num(b)[1]);
}

/** The entries of the set that exist in the loaded model. */
function inRange(list) {
  if (!state.model) return list;
  const { n_layer, n_head } = state.model.config;
  return list.filter((k) => {
    const [l, h] = k.split(".").map(Number);
    return l < n_layer && h < n_head;
  });
}

/** Replaces the knock-out set, shows it on the toggles and sends it to the worker. */
export function setKnockout(list) {
  state.knockout = canonical(list);
  render();
  send();
  scheduleHash();
}

function send() {
  if (!state.ready) return;
  state.knockout = inRange(state.knockout);
  post({ type: ToWorker.SET_KNOCKOUT, spec: state.knockout.join(",") });
}

function toggleHead(key) {
  const set = new Set(state.knockout);
  if (set.has(key)) set.delete(key);
  else set.add(key);
  setKnockout([...set]);
}

function layerKeys(layer) {
  return Array.from({ length: state.model.config.n_head }, (_, h) => headKey(layer, h));
}

function toggleLayer(layer) {
  const keys = layerKeys(layer);
  const set = new Set(state.knockout);
  const all = keys.every((k) => set.has(k));
  for (const k of keys) {
    if (all) set.delete(k);
    else set.add(k);
  }
  setKnockout([...set]);
}

function render() {
  const set = new Set(state.knockout);
  for (const [key, { button, cell }] of headToggles) {
    const on = set.has(key);
    button.setAttribute("aria-pressed", String(on));
    cell.classList.toggle("knocked", on);
  }
  layerToggles.forEach((button, layer) => button.setAttribute("aria-pressed", String(layerKeys(layer).every((k) => set.has(k)))));
  ui.clear.disabled = !set.size;
}

/** A toggle button: visible text (long and short forms) plus the words a screen reader reads. */
function toggleButton(cls, long, short, spoken) {
  const b = el("button", `btn btn-toggle ${cls}`);
  b.type = "button";
  b.setAttribute("aria-pressed", "false");
  const l = el("span", "long", long);
  const s = el("span", "short", short);
  s.setAttribute("aria-hidden", "true");
  b.append(l, s, el("span", "sr-only", spoken));
  return b;
}

/** Adds the head toggles under the maps and one toggle per layer (the grid was rebuilt). */
function onGrid(maps) {
  headToggles = new Map();
  for (const m of maps) {
    const key = headKey(m.layer, m.head);
    const button = toggleButton("ko-toggle", "knock out", "⊘", ` layer ${m.layer + 1}, head ${m.head + 1}`);
    button.dataset.knockout = key;
    button.title = `Knock out layer ${m.layer + 1}, head ${m.head + 1} (its output becomes zero)`;
    button.addEventListener("click", () => toggleHead(key));
    m.foot.append(button);
    headToggles.set(key, { button, cell: m.cell });
  }
  const n_layer = maps.length ? maps[maps.length - 1].layer + 1 : 0;
  layerToggles = Array.from({ length: n_layer }, (_, l) => {
    const button = toggleButton("ko-layer", `Layer ${l + 1}`, `L${l + 1}`, " attention: knock out all its heads");
    button.dataset.knockoutLayer = String(l);
    button.addEventListener("click", () => toggleLayer(l));
    return button;
  });
  ui.layers.replaceChildren(...layerToggles);
  render();
}

function renderBpc(msg) {
  const ds = ui.bpc.dataset;
  if (msg.error) {
    ui.bpc.textContent = `Bits per character: could not be computed (${msg.error}).`;
    ds.bpc = "";
    ds.intact = "";
    return;
  }
  ds.knockedOut = msg.knockout;
  if (msg.bpc === null) {
    ui.bpc.textContent = "Bits per character: type a few more characters the model knows (it needs at least 3).";
    ds.bpc = "";
    ds.intact = "";
    return;
  }
  ds.bpc = String(msg.bpc);
  ds.intact = String(msg.bpcIntact);
  const what = `Bits per character on the text box (first ${plural(state.model.config.block_size * BPC_WINDOWS, "character")} at most): `;
  if (!msg.knockout) {
    ui.bpc.replaceChildren(what, el("strong", "", msg.bpcIntact.toFixed(3)), " (intact model). Knock heads out to see what they are worth.");
    return;
  }
  const delta = msg.bpc - msg.bpcIntact;
  const heads = msg.knockout.split(",").length;
  const change = el("strong", delta > 0 ? "worse" : "better", `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(3)}`);
  ui.bpc.replaceChildren(what, el("strong", "", msg.bpc.toFixed(3)), ` with ${plural(heads, "head")} knocked out, against ${msg.bpcIntact.toFixed(3)} intact: `, change, ".");
}

export function init() {
  on("grid", onGrid);
  ui.clear.addEventListener("click", () => setKnockout([]));
  // a new model starts intact in the worker: send the set again (the heads it has)
  on("model", () => {
    send();
    render();
    scheduleHash();
  });
  // (the page's set stays the truth: a reply to an older toggle must not undo a newer one)
  onWorker(FromWorker.KNOCKOUT, () => {
    scheduleAnalysis(null);
    scheduleInspect(0);
  });
  on(
    "analysis",
    (a) => {
      ui.grid.dataset.knockedOut = a.knockout ?? "";
    },
    "knock-out",
  );
  on("inspection", renderBpc, "knock-out");
  // data-current: the figure is of the text, cursor and set as they are now (typing makes it stale until the next inspection)
  const current = () => {
    ui.bpc.dataset.current = inspectionIsCurrent() ? "1" : "0";
  };
  on("inspection", current, "knock-out");
  on("analysis", current, "knock-out");
  registerHashField("ko", {
    get: () => (state.knockout.length ? state.knockout.join(",") : null),
    set: (v) => {
      const list = canonical(v ? v.split(",") : []);
      if (list.join(",") !== state.knockout.join(",")) setKnockout(list);
    },
  });
}
