// Drawing causal attention maps: the viridis colour scale, the 16-map grid (layers × heads),
// the large single-head view, the legend, and the per-akshara aggregation.
//
// Every map is T×T (or G×G in the akshara view): rows are queries (the character doing the
// looking), columns are keys (the characters it may look at). Cells above the diagonal are the
// causal mask (a character cannot see later ones) and get the "masked" colour, never a weight.
// Pixels are written once per redraw into a small N×N canvas through a 256-entry lookup table,
// then scaled up with nearest-neighbour sampling, so 16 maps of 128×128 cost a few milliseconds.

// matplotlib's viridis, 256 entries (perceptually uniform, readable in greyscale and by most
// colour-blind readers), as RRGGBB hex.
const VIRIDIS_HEX =
  "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769" +
  "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a" +
  "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85" +
  "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b" +
  "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d" +
  "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e" +
  "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e" +
  "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d" +
  "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88" +
  "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81" +
  "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74" +
  "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863" +
  "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d" +
  "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32" +
  "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a" +
  "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";

/** `[r, g, b]` for index 0..255. */
export const VIRIDIS = Array.from({ length: 256 }, (_, i) => [0, 2, 4].map((o) => parseInt(VIRIDIS_HEX.slice(i * 6 + o, i * 6 + o + 2), 16)));

/** Colour of masked cells (above the diagonal): the page background, slightly lifted. */
export const MASK_RGB = [30, 34, 43];

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const pack = ([r, g, b]) => (LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0);
const LUT32 = Uint32Array.from(VIRIDIS, pack);
const MASK32 = pack(MASK_RGB);

export const SCALES = {
  linear: { label: "linear", fn: (v) => v, ticks: [0, 0.25, 0.5, 0.75, 1] },
  sqrt: { label: "square root", fn: (v) => Math.sqrt(v), ticks: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1] },
};

/** Position 0..1 of weight `v` on the colour scale. */
export function scalePos(v, scale) {
  const s = SCALES[scale] || SCALES.linear;
  return Math.min(1, Math.max(0, s.fn(v)));
}

/** CSS colour of weight `v`. */
export function cssColor(v, scale) {
  const [r, g, b] = VIRIDIS[Math.round(scalePos(v, scale) * 255)];
  return `rgb(${r}, ${g}, ${b})`;
}

/** A weight with 3 decimals, as the tooltip, the table and the readout show it. */
export const fmt3 = (v) => v.toFixed(3);

/**
 * Per-akshara attention: for query group Q and key group K,
 *   A[Q][K] = mean over q in Q of ( sum over k in K of a[q][k] ).
 * Summing over keys keeps each row a probability distribution (rows still sum to 1); averaging
 * over queries weighs every character of a cluster equally. Keys after the query inside its own
 * group are masked (zero), so a diagonal cell holds what the group's characters gave each other.
 *
 * `att` is [maps, T, T]; `groups` is [[start, end), ...] covering 0..T. Returns [maps, G, G].
 */
export function aggregateGroups(att, maps, t, groups) {
  const g = groups.length;
  const out = new Float32Array(maps * g * g);
  const keyGroup = new Int32Array(t);
  groups.forEach(([s, e], gi) => keyGroup.fill(gi, s, e));
  const rowSums = new Float64Array(g);
  for (let m = 0; m < maps; m++) {
    const base = m * t * t;
    const obase = m * g * g;
    for (let gq = 0; gq < g; gq++) {
      const [qs, qe] = groups[gq];
      rowSums.fill(0);
      for (let q = qs; q < qe; q++) {
        const row = base + q * t;
        for (let k = 0; k <= q; k++) rowSums[keyGroup[k]] += att[row + k];
      }
      const inv = 1 / (qe - qs);
      for (let gk = 0; gk <= gq; gk++) out[obase + gq * g + gk] = rowSums[gk] * inv;
    }
  }
  return out;
}

/** Geometry of a square map of `css` CSS pixels: label margin, plot origin and cell size. */
export function geometry(css, n, dpr, { labels = true, big = false } = {}) {
  const margin = labels && css >= 110 ? (big ? 34 : 18) : 0;
  const pad = 2;
  const plot = Math.max(1, css - margin - pad);
  return { css, dpr, n, margin, plot, x0: margin, y0: margin, cell: plot / Math.max(1, n), big };
}

/** The (query, key) cell under CSS point (x, y) of a map, or null outside the plot. */
export function cellAt(geom, x, y) {
  const k = Math.floor((x - geom.x0) / geom.cell);
  const q = Math.floor((y - geom.y0) / geom.cell);
  if (q < 0 || k < 0 || q >= geom.n || k >= geom.n) return null;
  return { q, k };
}

const FONT_FAMILY = '"Noto Sans Kannada", system-ui, sans-serif';
const LABEL_COLOR = "#b9c0cc";

/**
 * Axis labels (keys along the top, queries down the left) drawn once into a transparent canvas
 * of the map's size; every map with the same geometry reuses it. Labels are thinned to every
 * `step`-th index when cells are too small to hold them all.
 */
export function renderLabelLayer(geom, labels, reuse = null) {
  const w = Math.round(geom.css * geom.dpr);
  const layer = reuse || makeCanvas(w, w);
  if (layer.width !== w || layer.height !== w) {
    layer.width = w;
    layer.height = w;
  }
  const ctx = layer.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, w, w);
  if (!geom.margin || !labels.length) return layer;
  ctx.scale(geom.dpr, geom.dpr);
  const fs = geom.big ? Math.min(16, Math.max(10, geom.cell * 0.8)) : Math.min(12, Math.max(9, geom.cell * 0.85));
  ctx.font = `${fs}px ${FONT_FAMILY}`;
  ctx.fillStyle = LABEL_COLOR;
  let maxW = 0;
  for (const l of new Set(labels)) maxW = Math.max(maxW, ctx.measureText(l).width);
  const stepTop = Math.max(1, Math.ceil((maxW + 3) / geom.cell));
  const stepLeft = Math.max(1, Math.ceil((fs * 1.15) / geom.cell));
  const step = Math.max(stepTop, stepLeft);
  const maxLabelW = geom.margin - 4;
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  for (let i = 0; i < labels.length; i += step) {
    const x = geom.x0 + (i + 0.5) * geom.cell;
    ctx.fillText(labels[i], x, geom.margin - 5, Math.max(maxLabelW, geom.cell * step));
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i < labels.length; i += step) {
    const y = geom.y0 + (i + 0.5) * geom.cell;
    ctx.fillText(labels[i], geom.margin - 4, y, maxLabelW);
  }
  return layer;
}

export function makeCanvas(w, h) {
  const c = document.createElement("canvas");
  c.width = Math.max(1, w);
  c.height = Math.max(1, h);
  return c;
}

/**
 * Writes map `m` of `data` ([maps, n, n]) into the top-left res×res pixels of `scratch`
 * (composeMap reads that corner): one pixel per cell, or, for a map with more cells than
 * pixels on screen (`res` < n), the cell nearest-neighbour scaling would show at each pixel,
 * so drawing it 1:1 gives the same image for a fraction of the work (36 maps of 256 × 256 in
 * ~120 px each). The scratch canvas and its ImageData only grow (in steps of 64): resizing a
 * canvas costs more than painting it, and typing grows n by one.
 */
export function paintCells(scratch, data, m, n, scale, res = n) {
  scratch.res = res;
  if (!n) return;
  const cap = Math.max(scratch.width, Math.ceil(res / 64) * 64);
  if (scratch.width !== cap || scratch.height !== cap) {
    scratch.width = cap;
    scratch.height = cap;
    scratch.img = null;
  }
  const ctx = scratch.getContext("2d");
  if (!scratch.img) scratch.img = ctx.createImageData(cap, cap);
  const img = scratch.img;
  const px = new Uint32Array(img.data.buffer);
  const base = m * n * n;
  const f = (SCALES[scale] || SCALES.linear).fn;
  const linear = scale !== "sqrt";
  // cell of pixel j: as drawImage samples a source of n pixels drawn into res (pixel centres)
  const cellOf = res === n ? null : Int32Array.from({ length: res }, (_, j) => Math.min(n - 1, Math.floor(((j + 0.5) * n) / res)));
  for (let j = 0; j < res; j++) {
    const q = cellOf ? cellOf[j] : j;
    const row = base + q * n;
    const prow = j * cap;
    let i = 0;
    for (; i < res; i++) {
      const k = cellOf ? cellOf[i] : i;
      if (k > q) break;
      let v = data[row + k];
      if (!linear) v = f(v);
      v = v <= 0 ? 0 : v >= 1 ? 255 : (v * 255 + 0.5) | 0;
      px[prow + i] = LUT32[v];
    }
    px.fill(MASK32, prow + i, prow + res);
  }
  // (only the res × res corner is uploaded)
  ctx.putImageData(img, 0, 0, 0, 0, res, res);
}

/** Composes a map: cells scaled up, labels, and an optional highlight of a query row / cell. */
export function composeMap(canvas, geom, scratch, labelLayer, highlight) {
  const ctx = canvas.getContext("2d");
  const d = geom.dpr;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!geom.n) return;
  ctx.imageSmoothingEnabled = false;
  const x0 = Math.round(geom.x0 * d);
  const size = Math.round(geom.plot * d);
  const res = scratch.res || geom.n;
  ctx.drawImage(scratch, 0, 0, res, res, x0, x0, size, size);
  if (labelLayer) ctx.drawImage(labelLayer, 0, 0);
  if (highlight) {
    const c = geom.cell * d;
    ctx.lineWidth = Math.max(1, d);
    if (highlight.q != null) {
      ctx.strokeStyle = "rgba(255, 255, 255, 0.55)";
      ctx.strokeRect(x0 + 0.5, x0 + highlight.q * c + 0.5, (highlight.q + 1) * c - 1, c - 1);
    }
    if (highlight.k != null && highlight.q != null) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = Math.max(1.5, 1.5 * d);
      ctx.strokeRect(x0 + highlight.k * c, x0 + highlight.q * c, Math.max(c, 2), Math.max(c, 2));
    }
  }
}

/** The colour legend: a gradient bar with tick values in weight units. */
export function drawLegend(canvas, scale) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 260;
  const cssH = canvas.clientHeight || 34;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const padX = 10;
  const barW = cssW - 2 * padX;
  const barH = 12;
  for (let x = 0; x < barW; x++) {
    const [r, g, b] = VIRIDIS[Math.round((x / Math.max(1, barW - 1)) * 255)];
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(padX + x, 2, 1.5, barH);
  }
  ctx.font = `11px ${FONT_FAMILY}`;
  ctx.fillStyle = LABEL_COLOR;
  ctx.strokeStyle = LABEL_COLOR;
  ctx.textBaseline = "top";
  const ticks = (SCALES[scale] || SCALES.linear).ticks;
  let lastRight = -Infinity;
  ticks.forEach((v, i) => {
    const x = padX + scalePos(v, scale) * (barW - 1);
    const label = v === 0 || v === 1 ? String(v) : String(v);
    const w = ctx.measureText(label).width;
    ctx.textAlign = i === 0 ? "left" : i === ticks.length - 1 ? "right" : "center";
    const left = ctx.textAlign === "left" ? x : ctx.textAlign === "right" ? x - w : x - w / 2;
    ctx.beginPath();
    ctx.moveTo(Math.round(x) + 0.5, 2 + barH);
    ctx.lineTo(Math.round(x) + 0.5, 2 + barH + 3);
    ctx.stroke();
    if (left > lastRight + 4) {
      ctx.fillText(label, x, 2 + barH + 5);
      lastRight = left + w;
    }
  });
}

/** Cells a redraw paints at once beyond the maps on screen (16 maps of 128 × 128: ~2 ms here). */
const SYNC_CELLS = 16 * 128 * 128;

/**
 * The grid of maps: rows = layers, columns = heads, built from the config. Each map is a
 * `<canvas data-layer data-head>` inside a `<button>` (keyboard: Tab to a head, Enter opens
 * the large view), in a cell with a caption (`map.caption`) and a footer the panels add their
 * controls to (`map.foot`, through `onBuilt(maps)`).
 */
export class AttentionGrid {
  constructor(root, { onOpen, onHover, onLeave, onBuilt, onAllDrawn }) {
    this.root = root;
    this.onBuilt = onBuilt;
    this.onOpen = onOpen;
    this.onHover = onHover;
    this.onLeave = onLeave;
    this.onAllDrawn = onAllDrawn;
    this.maps = [];
    this.view = null;
    this.labelLayer = null;
    this.geom = null;
    /** Maps whose cells are older than `view` (off screen at the last redraw): drawn when idle or once visible. */
    this.stale = new Set();
    this.idleHandle = 0;
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(root);
    // which maps are on screen (or near it): a redraw paints those first, the rest when idle
    this.intersection = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: "100px" });
  }

  onIntersect(entries) {
    let painted = false;
    for (const e of entries) {
      const map = e.target.kgptMap;
      if (!map) continue;
      map.onScreen = e.isIntersecting;
      if (map.onScreen && this.stale.has(map)) {
        this.paint(map);
        painted = true;
      }
    }
    if (painted && !this.stale.size) this.allDrawn();
  }

  /** (Re)builds the DOM for `n_layer` × `n_head` maps (the config's names). */
  configure(n_layer, n_head) {
    if (this.n_layer === n_layer && this.n_head === n_head) return;
    this.n_layer = n_layer;
    this.n_head = n_head;
    this.root.replaceChildren();
    this.root.style.setProperty("--heads", String(n_head));
    this.intersection.disconnect();
    this.stale.clear();
    this.maps = [];
    const corner = document.createElement("div");
    corner.className = "grid-corner";
    corner.setAttribute("aria-hidden", "true");
    this.root.append(corner);
    for (let h = 0; h < n_head; h++) {
      const el = document.createElement("div");
      el.className = "grid-col-head";
      el.setAttribute("aria-hidden", "true");
      el.append(spanned("long", `Head ${h + 1}`), spanned("short", `H${h + 1}`));
      this.root.append(el);
    }
    for (let l = 0; l < n_layer; l++) {
      const rh = document.createElement("div");
      rh.className = "grid-row-head";
      rh.setAttribute("aria-hidden", "true");
      rh.append(spanned("long", `Layer ${l + 1}`), spanned("short", `L${l + 1}`));
      this.root.append(rh);
      for (let h = 0; h < n_head; h++) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "head-map";
        button.dataset.layer = String(l);
        button.dataset.head = String(h);
        const canvas = document.createElement("canvas");
        canvas.dataset.layer = String(l);
        canvas.dataset.head = String(h);
        canvas.setAttribute("aria-hidden", "true");
        canvas.width = 1;
        canvas.height = 1;
        button.append(canvas);
        // the map, and under it its caption (the head's role) and the panels' controls (knock-out)
        const cell = document.createElement("div");
        cell.className = "head-cell";
        const foot = document.createElement("div");
        foot.className = "head-foot";
        const caption = spanned("head-role", "");
        foot.append(caption);
        cell.append(button, foot);
        // (onScreen: true until the IntersectionObserver's first report says otherwise)
        const map = { layer: l, head: h, index: l * n_head + h, button, canvas, cell, foot, caption, roleText: "", ariaLabel: "", scratch: makeCanvas(1, 1), highlight: null, onScreen: true };
        canvas.kgptMap = map;
        this.intersection.observe(canvas);
        button.addEventListener("click", () => this.onOpen(l, h));
        canvas.addEventListener("pointermove", (e) => this.pointer(map, e));
        canvas.addEventListener("pointerleave", () => {
          if (map.highlight) {
            map.highlight = null;
            this.compose(map);
          }
          this.onLeave();
        });
        this.maps.push(map);
        this.root.append(cell);
      }
    }
    this.updateLabels();
    if (this.onBuilt) this.onBuilt(this.maps);
    this.resize();
  }

  pointer(map, e) {
    if (!this.view || !this.geom) return;
    const r = map.canvas.getBoundingClientRect();
    const cell = cellAt(this.geom, e.clientX - r.left, e.clientY - r.top);
    const prev = map.highlight;
    map.highlight = cell;
    if (!cell) {
      if (prev) this.compose(map);
      this.onLeave();
      return;
    }
    if (!prev || prev.q !== cell.q || prev.k !== cell.k) this.compose(map);
    this.onHover({ layer: map.layer, head: map.head, q: cell.q, k: cell.k, clientX: e.clientX, clientY: e.clientY, pointerType: e.pointerType });
  }

  resize() {
    const first = this.maps[0];
    if (!first) return;
    const css = first.canvas.clientWidth;
    if (!css) return;
    const dpr = window.devicePixelRatio || 1;
    const px = Math.round(css * dpr);
    if (this.geom && this.geom.css === css && this.geom.dpr === dpr && first.canvas.width === px) return;
    for (const m of this.maps) {
      m.canvas.width = px;
      m.canvas.height = px;
    }
    this.cssSize = css;
    this.dpr = dpr;
    this.redraw(true);
  }

  updateLabels() {
    const n = this.view ? this.view.side : 0;
    for (const m of this.maps) {
      const what = `Attention of layer ${m.layer + 1}, head ${m.head + 1}${m.roleText ? ` (${m.roleText})` : ""}`;
      const label = n
        ? `${what}: ${n} × ${n} map, rows are the characters looking (queries), columns the earlier characters they look at (keys). Press to enlarge with values.`
        : `${what} (no text yet)`;
      // (unchanged on most keystrokes: no attribute write, no accessibility-tree update)
      if (m.ariaLabel !== label) m.button.setAttribute("aria-label", label);
      m.ariaLabel = label;
    }
  }

  /**
   * New data: `view` = the page's display {side, data: Float32Array [n_layer * n_head, side, side], labels, scale}.
   * The display already drawn (the same object: nothing changed) is not drawn again.
   */
  update(view) {
    if (view === this.view && this.geom) return;
    this.view = view;
    this.updateLabels();
    this.redraw(true);
  }

  /** The labels must be drawn again (the Kannada font arrived). */
  invalidateLabels() {
    this.labelKey = null;
  }

  redraw(full) {
    if (!this.view || !this.cssSize) return;
    const { side: n, data, labels, scale } = this.view;
    this.geom = geometry(this.cssSize, n, this.dpr, { labels: true });
    // pixels of the plot on screen (composeMap's size): more cells than that are painted decimated
    this.res = Math.max(1, Math.min(n, Math.round(this.geom.plot * this.dpr)));
    // the axis labels are drawn once per geometry and text, not per redraw
    const labelKey = `${this.geom.css}|${this.geom.dpr}|${n}|${labels.join("\u0000")}`;
    if (labelKey !== this.labelKey || !this.labelLayer) {
      this.labelLayer = renderLabelLayer(this.geom, labels, this.labelLayer);
      this.labelKey = labelKey;
    }
    if (!full) {
      // (labels only: the cells stay; a map still to be painted gets its labels then)
      for (const m of this.maps) if (!this.stale.has(m)) this.compose(m);
      return;
    }
    this.stale.clear();
    // the maps on screen now; those off screen too while the cells stay within SYNC_CELLS (the
    // shipped model's 16 maps of 128 × 128 are all drawn at once), the rest after the frame
    let cells = 0;
    for (const m of this.maps) {
      if (m.onScreen) {
        paintCells(m.scratch, data, m.index, n, scale, this.res);
        this.compose(m);
        cells += this.res * this.res;
      }
    }
    for (const m of this.maps) {
      if (m.onScreen) continue;
      if (cells + this.res * this.res <= SYNC_CELLS) {
        paintCells(m.scratch, data, m.index, n, scale, this.res);
        this.compose(m);
        cells += this.res * this.res;
      } else {
        this.stale.add(m);
      }
    }
    if (this.stale.size) this.scheduleIdle();
    else this.allDrawn();
  }

  /** Paints one map from the current view (it was off screen at the last redraw). */
  paint(map) {
    if (!this.stale.delete(map) || !this.view) return;
    const { side: n, data, scale } = this.view;
    paintCells(map.scratch, data, map.index, n, scale, this.res);
    this.compose(map);
  }

  /**
   * Paints the off-screen maps once the visible ones are on screen (after the next frame), in
   * tasks of at most ~8 ms, so a keystroke's answer waits for one such task at most.
   */
  scheduleIdle() {
    if (this.idleHandle) return;
    const run = () => {
      this.idleHandle = 0;
      const until = performance.now() + 8;
      for (const m of this.stale) {
        this.paint(m);
        if (performance.now() >= until) break;
      }
      if (this.stale.size) this.idleHandle = setTimeout(run, 0);
      else this.allDrawn();
    };
    this.idleHandle = requestAnimationFrame(() => {
      this.idleHandle = setTimeout(run, 0);
    });
  }

  /** Paints every map still to be painted now (an export reads them all). */
  flush() {
    for (const m of [...this.stale]) this.paint(m);
    this.allDrawn();
  }

  allDrawn() {
    if (this.onAllDrawn && this.view) this.onAllDrawn();
  }

  compose(map) {
    if (!this.geom) return;
    composeMap(map.canvas, this.geom, map.scratch, this.labelLayer, map.highlight);
  }

  /** Highlights a cell in one map (used by the large view to mirror its cursor). */
  clearHighlights() {
    for (const m of this.maps) {
      if (m.highlight) {
        m.highlight = null;
        this.compose(m);
      }
    }
  }
}

function spanned(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

/** The enlarged single head, with a keyboard cursor (arrow keys) and pointer hover / tap. */
export class LargeView {
  constructor(canvas, { onCell }) {
    this.canvas = canvas;
    this.onCell = onCell;
    this.scratch = makeCanvas(1, 1);
    this.cursor = null;
    this.view = null;
    this.map = 0;
    canvas.addEventListener("pointermove", (e) => this.pointer(e));
    canvas.addEventListener("pointerdown", (e) => this.pointer(e));
    canvas.addEventListener("keydown", (e) => this.key(e));
    this.resizeObserver = new ResizeObserver(() => this.draw(true));
    this.resizeObserver.observe(canvas);
  }

  show(view, mapIndex) {
    this.view = view;
    this.map = mapIndex;
    if (this.cursor && (this.cursor.q >= view.side || this.cursor.k >= view.side)) this.cursor = null;
    this.draw(true);
  }

  draw(full) {
    if (!this.view) return;
    const css = this.canvas.clientWidth;
    if (!css) return;
    const dpr = window.devicePixelRatio || 1;
    const px = Math.round(css * dpr);
    if (this.canvas.width !== px) {
      this.canvas.width = px;
      this.canvas.height = px;
      full = true;
    }
    const { side: n, data, labels, scale } = this.view;
    this.geom = geometry(css, n, dpr, { labels: true, big: true });
    if (full) {
      paintCells(this.scratch, data, this.map, n, scale);
      this.labelLayer = renderLabelLayer(this.geom, labels, this.labelLayer);
    }
    composeMap(this.canvas, this.geom, this.scratch, this.labelLayer, this.cursor);
  }

  pointer(e) {
    if (!this.geom) return;
    const r = this.canvas.getBoundingClientRect();
    const cell = cellAt(this.geom, e.clientX - r.left, e.clientY - r.top);
    if (!cell) return;
    this.setCursor(cell, e);
  }

  setCursor(cell, e) {
    this.cursor = cell;
    this.draw(false);
    this.onCell({ ...cell, map: this.map, clientX: e?.clientX, clientY: e?.clientY });
  }

  key(e) {
    if (!this.view || !this.view.side) return;
    const n = this.view.side;
    const c = this.cursor || { q: n - 1, k: n - 1 };
    let { q, k } = c;
    switch (e.key) {
      case "ArrowUp": q = Math.max(0, q - 1); k = Math.min(k, q); break;
      case "ArrowDown": q = Math.min(n - 1, q + 1); break;
      case "ArrowLeft": k = Math.max(0, k - 1); break;
      case "ArrowRight": k = Math.min(q, k + 1); break;
      case "Home": k = 0; break;
      case "End": k = q; break;
      case "PageUp": q = Math.max(0, q - 8); k = Math.min(k, q); break;
      case "PageDown": q = Math.min(n - 1, q + 8); break;
      default: return;
    }
    e.preventDefault();
    this.setCursor({ q, k });
  }
}
