// The "Next character" panel: the model's top 10 guesses for the character after the cursor
// (probabilities at temperature 1, from the worker); clicking one inserts it.

import { segmentAksharas, aksharaLabel } from "../pkg/kgpt.js";
import { state } from "../state.js";
import { $, on } from "../app.js";
import { displayLabel, el, nf } from "../format.js";
import { insertAtCursor } from "./text.js";

const ui = { list: $("next-char"), context: $("next-context") };

/** The last few aksharas before UTF-16 offset `cursor` (at most ~10 characters), for display. */
export function contextBefore(text, cursor) {
  // never cut a surrogate pair: a caret set between its halves (setSelectionRange allows it)
  // would show half an emoji as U+FFFD
  const high = (i) => i >= 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xd800;
  const low = (i) => i >= 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00;
  if (high(cursor - 1) && low(cursor)) cursor--;
  let start = Math.max(0, cursor - 24);
  if (low(start) && high(start - 1)) start++;
  const chars = [...text.slice(start, cursor)];
  const truncated = start > 0;
  const flat = segmentAksharas(chars.join(""));
  const groups = [];
  for (let i = 0; i < flat.length; i += 2) groups.push(chars.slice(flat[i], flat[i + 1]).join(""));
  if (truncated && groups.length > 1) groups.shift(); // may be a partial akshara
  const show = (s) => (s === " " ? "␣" : aksharaLabel(s).replace(/\n/g, "↵"));
  let out = "";
  let n = 0;
  for (let i = groups.length - 1; i >= 0; i--) {
    const len = [...groups[i]].length;
    if (out && n + len > 10) return `…${show(out)}`;
    out = groups[i] + out;
    n += len;
  }
  return truncated ? `…${show(out)}` : show(out);
}

/** Words for the glyphs that stand for whitespace (read by screen readers instead of the glyph). */
const SPOKEN = { "␣": "space", "↵": "new line" };

/** One guess: a button named by its visible text (character, probability) plus screen-reader words; a click inserts it. */
function guess({ ch, p }) {
  const b = el("button", "next-item");
  b.type = "button";
  const label = displayLabel(ch);
  // The accessible name is the visible text (no aria-label, which must contain it: WCAG 2.5.3)
  // plus screen-reader-only words: "space"/"new line" for the ␣/↵ glyphs and the action.
  const spoken = SPOKEN[label] || null;
  const glyph = el("span", "next-char", label);
  if (spoken) glyph.setAttribute("aria-hidden", "true");
  const bar = el("span", "next-bar");
  bar.style.setProperty("--p", p.toFixed(4));
  const pct = p >= 0.001 ? `${(p * 100).toFixed(1)}%` : `${(p * 100).toFixed(2)}%`;
  b.append(glyph, el("span", "sr-only", spoken ? `${spoken} ` : " "), bar, el("span", "next-prob", pct), el("span", "sr-only", ". Insert at the cursor."));
  b.addEventListener("click", () => insertAtCursor(ch));
  const li = el("li");
  li.append(b);
  return li;
}

function render(a) {
  if (!a.next) {
    ui.context.textContent = a.textTokens ? "Place the cursor after some Kannada text to see what the model expects next." : "Type some Kannada text to see what the model expects next.";
    ui.list.replaceChildren();
    return;
  }
  ui.context.textContent = `After “${contextBefore(state.analysisText, state.analysisCursor)}” (character ${nf.format(a.next.position)} of ${nf.format(a.textTokens)}), probabilities at temperature 1:`;
  ui.list.replaceChildren(...a.next.top.map(guess));
}

export function init() {
  on("analysis", render, "next-char");
}
