// Small helpers every panel uses: number formats, labels for characters, clamped input
// values, downloads.

import { aksharaLabel } from "./pkg/kgpt.js";

export const nf = new Intl.NumberFormat("en");

/** "1 character" / "3 characters". */
export const plural = (n, word) => `${nf.format(n)} ${word}${n === 1 ? "" : "s"}`;

/** A loss for display: 3 decimals, or 4 significant digits once it is huge (divergence). */
export const fmtLoss = (v) => (Math.abs(v) < 1e5 ? v.toFixed(3) : v.toPrecision(4));

/** Labels for a character or akshara on axes, in the strip and in tooltips. */
export function displayLabel(s) {
  if (s === " ") return "␣";
  if (s === "\n") return "↵";
  if (s === "\t") return "⇥";
  if (s === "\r") return "␍";
  if (/^[\u0000-\u001f\u007f]$/.test(s)) return `U+${s.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  return aksharaLabel(s);
}

/** An integer input's value clamped to lo..hi (`fallback` if it is not a number). */
export function intIn(input, lo, hi, fallback) {
  const v = Number.parseInt(input.value, 10);
  if (!Number.isFinite(v)) return fallback;
  return Math.min(hi, Math.max(lo, v));
}

/** A number input's value clamped to lo..hi (`fallback` if it is not a number). */
export function numIn(input, lo, hi, fallback) {
  const v = Number.parseFloat(input.value);
  if (!Number.isFinite(v)) return fallback;
  return Math.min(hi, Math.max(lo, v));
}

/** Saves `blob` as `name` through a temporary link. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

/** A new element with a class and text (text only through textContent). */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
