// The live training-loss curve: every step's loss (thin), its exponential moving average
// (thick) and the held-out loss every few steps (dashed, with dots), on a canvas sized to its
// CSS box; the page's legend under it names the three.

const FONT = '11px "Noto Sans Kannada", system-ui, sans-serif';
/** The held-out curve's colour (style.css's legend swatch uses the same). */
const HELD_OUT_COLOR = "#ff8fb1";

export class LossChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.steps = [];
    this.losses = [];
    this.ema = [];
    /** [{step, loss}] of the held-out part. */
    this.heldOut = [];
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  reset() {
    this.steps = [];
    this.losses = [];
    this.ema = [];
    this.heldOut = [];
    this.draw();
  }

  pushHeldOut(step, loss) {
    this.heldOut.push({ step, loss });
    this.draw();
  }

  push(step, loss) {
    this.steps.push(step);
    this.losses.push(loss);
    const prev = this.ema.length ? this.ema[this.ema.length - 1] : loss;
    this.ema.push(this.ema.length ? 0.9 * prev + 0.1 * loss : loss);
    this.draw();
  }

  /** Smoothed loss (EMA, factor 0.9) or NaN before the first step. */
  get smoothed() {
    return this.ema.length ? this.ema[this.ema.length - 1] : NaN;
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const left = 40;
    const right = 10;
    const top = 10;
    const bottom = 22;
    const pw = w - left - right;
    const ph = h - top - bottom;
    ctx.font = FONT;
    ctx.fillStyle = "#9aa3af";
    ctx.strokeStyle = "#2a303b";
    ctx.lineWidth = 1;
    ctx.strokeRect(left + 0.5, top + 0.5, pw, ph);
    if (!this.losses.length) {
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("The loss curve appears here when training starts", left + pw / 2, top + ph / 2);
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const l of [...this.losses, ...this.heldOut.map((p) => p.loss)]) {
      if (l < lo) lo = l;
      if (l > hi) hi = l;
    }
    if (hi - lo < 1e-3) {
      hi += 0.05;
      lo -= 0.05;
    }
    const pad = (hi - lo) * 0.06;
    lo = Math.max(0, lo - pad);
    hi += pad;
    const s0 = this.steps[0];
    const s1 = Math.max(this.steps[this.steps.length - 1], s0 + 1);
    const X = (s) => left + ((s - s0) / (s1 - s0)) * pw;
    const Y = (l) => top + (1 - (l - lo) / (hi - lo)) * ph;
    // y grid and labels
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      const y = Y(v);
      ctx.strokeStyle = "#232834";
      ctx.beginPath();
      ctx.moveTo(left + 1, Math.round(y) + 0.5);
      ctx.lineTo(left + pw, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(Math.abs(v) < 1000 ? v.toFixed(2) : v.toPrecision(2), left - 5, y);
    }
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(`step ${s0}`, left, top + ph + 5);
    ctx.textAlign = "right";
    ctx.fillText(`step ${this.steps[this.steps.length - 1]}`, left + pw, top + ph + 5);
    const line = (values, color, width) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.lineJoin = "round";
      ctx.beginPath();
      values.forEach((v, i) => {
        const x = X(this.steps[i]);
        const y = Y(v);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      if (values.length === 1) ctx.arc(X(this.steps[0]), Y(values[0]), 2, 0, 2 * Math.PI);
      ctx.stroke();
    };
    line(this.losses, "rgba(94, 201, 98, 0.45)", 1);
    line(this.ema, "#fde725", 2);
    this.drawHeldOut(ctx, X, Y);
  }

  drawHeldOut(ctx, X, Y) {
    if (!this.heldOut.length) return;
    ctx.strokeStyle = HELD_OUT_COLOR;
    ctx.fillStyle = HELD_OUT_COLOR;
    ctx.lineWidth = 2;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    this.heldOut.forEach(({ step, loss }, i) => {
      if (i === 0) ctx.moveTo(X(step), Y(loss));
      else ctx.lineTo(X(step), Y(loss));
    });
    ctx.stroke();
    ctx.setLineDash([]);
    for (const { step, loss } of this.heldOut) {
      ctx.beginPath();
      ctx.arc(X(step), Y(loss), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}
