// The "Text" panel: the text box (NFC as you type), Latin → Kannada phonetic typing with its
// mapping table, the wrap mode for very long lines, and the notices under the box (how many
// characters the model reads, unknown characters, the crop past block_size).

import { nfc, transliterate, transliterationTable } from "../pkg/kgpt.js";
import { state } from "../state.js";
import { $, HASH_TEXT_LIMIT, on, registerHashField, scheduleHash } from "../app.js";
import { scheduleAnalysis, sendPredicted } from "../analysis.js";
import { displayLabel, nf, plural } from "../format.js";

export const DEFAULT_TEXT = "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ";

const ui = {
  text: $("text"),
  info: $("text-info"),
  unknownNotice: $("unknown-notice"),
  cropNotice: $("crop-notice"),
  wrapNotice: $("wrap-notice"),
  phoneticToggle: $("phonetic-toggle"),
  phoneticBox: $("phonetic-box"),
  latin: $("latin"),
  latinPreview: $("latin-preview"),
  translitBody: document.querySelector("#translit-table tbody"),
};

/** The text box (the analysis requests read its value and cursor). */
export const textBox = ui.text;

/** The box's value as last normalised (NFC): a keystroke normalises only what it changed. */
let normalized = "";

/**
 * The edit under way (from its beforeinput): where the selection started, and whether the box
 * held the normalised value then; null when no edit is known.
 */
let edit = null;

/** Edits that change the text only next to the caret (the rest is the value before, unchanged). */
const LOCAL_EDITS = new Set(["insertText", "insertLineBreak", "insertParagraph", "insertFromPaste", "insertReplacementText", "deleteContentBackward", "deleteContentForward", "deleteWordBackward", "deleteWordForward", "deleteByCut"]);

/** How far the edited stretch is widened, at most, to reach a character NFC cannot merge across. */
const NFC_REACH = 64;

/**
 * The [start, end) stretch of `v` that may differ from NFC after input event `e`: what a local
 * edit (LOCAL_EDITS, on a normalised box) put between the selection's start and the caret,
 * widened to ASCII characters on both sides (an ASCII character never composes with what
 * precedes it, so NFC of the whole is NFC of the parts split before one); else the whole text.
 */
function editedStretch(v, caret, e) {
  const known = edit;
  edit = null;
  if (!known || !known.normalized || !e || !LOCAL_EDITS.has(e.inputType)) return [0, v.length];
  let start = Math.min(known.start, caret);
  for (let n = 0; start > 0 && (start >= v.length || v.charCodeAt(start) >= 0x80); n++) {
    if (n >= NFC_REACH) return [0, v.length];
    start--;
  }
  let end = caret;
  for (let n = 0; end < v.length && v.charCodeAt(end) >= 0x80; n++) {
    if (n >= NFC_REACH) return [0, v.length];
    end++;
  }
  return [start, end];
}

/**
 * Normalises the box to NFC, keeping the caret where it was; after a typed character (input
 * event `e`) only the stretch it changed is read, not the whole text.
 */
export function normalizeTextarea(e = null) {
  const v = ui.text.value;
  const caret = ui.text.selectionStart;
  const [start, end] = editedStretch(v, caret, e);
  const part = v.slice(start, end);
  const n = nfc(part);
  if (n === part) {
    normalized = v;
    return;
  }
  const before = start + nfc(v.slice(start, caret)).length;
  ui.text.value = v.slice(0, start) + n + v.slice(end);
  ui.text.setSelectionRange(before, before);
  normalized = ui.text.value;
}

/**
 * Browsers lay out a textarea paragraph as a whole: one 100 KB line of Kannada without line
 * breaks takes Chromium seconds per keystroke to re-wrap. Above LONG_LINE characters in a line
 * the box stops soft-wrapping (it scrolls sideways instead), which keeps typing instant.
 */
const LONG_LINE = 4000;

function longestLine(text) {
  if (text.length <= LONG_LINE) return text.length;
  let longest = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl;
    longest = Math.max(longest, end - start);
    if (nl < 0) return longest;
    start = nl + 1;
  }
}

export function updateWrapMode(text = ui.text.value) {
  const long = longestLine(text) > LONG_LINE;
  if (long !== ui.text.classList.contains("nowrap")) {
    ui.text.classList.toggle("nowrap", long);
    ui.wrapNotice.hidden = !long;
  }
}

function onBeforeInput(e) {
  // (the value is the very string kept after the last normalisation unless something else set it)
  edit = { start: ui.text.selectionStart, normalized: ui.text.value === normalized };
  predict(e);
  // switch before a big paste is laid out, not after
  const incoming = e.data || (e.dataTransfer ? e.dataTransfer.getData("text/plain") : "");
  if (incoming && incoming.length > LONG_LINE && !ui.text.classList.contains("nowrap") && longestLine(incoming) > LONG_LINE) {
    ui.text.classList.add("nowrap");
    ui.wrapNotice.hidden = false;
  }
}

/**
 * A typed character: asks for the analysis of the text it is about to make now, before the
 * browser edits the box (the worker computes meanwhile). Not when NFC would change the
 * characters around it, during a composition or phonetic typing (the text then differs).
 */
function predict(e) {
  if (e.inputType !== "insertText" || !e.data || e.isComposing || state.composing || state.phonetic.on || ui.text.readOnly || !edit.normalized) return;
  const v = ui.text.value;
  const { selectionStart: s, selectionEnd: end } = ui.text;
  const around = v.slice(Math.max(0, s - 4), s) + e.data + v.slice(end, end + 4);
  if (nfc(around) !== around) return;
  sendPredicted(e.timeStamp, v.slice(0, s) + e.data + v.slice(end), s + e.data.length);
}

function onTextInput(e) {
  if (state.composing || e.isComposing) {
    scheduleAnalysis(e.timeStamp);
    return;
  }
  normalizeTextarea(e);
  updateWrapMode();
  if (state.phonetic.on) commitLatin();
  scheduleAnalysis(e.timeStamp);
  scheduleHash();
}

function setPhonetic(on) {
  state.phonetic.on = on;
  ui.phoneticToggle.checked = on;
  ui.phoneticBox.hidden = !on;
  commitLatin();
  scheduleHash();
}

function onLatinInput(e) {
  const kannada = transliterate(ui.latin.value);
  ui.latinPreview.textContent = kannada;
  ui.text.value = nfc(state.phonetic.base + kannada);
  ui.text.setSelectionRange(ui.text.value.length, ui.text.value.length);
  scheduleAnalysis(e.timeStamp);
  scheduleHash();
}

/** Ends the Latin word being typed: the box's text becomes the base of the next one. */
export function commitLatin() {
  state.phonetic.base = ui.text.value;
  ui.latin.value = "";
  ui.latinPreview.textContent = "";
}

function buildTranslitTable() {
  const frag = document.createDocumentFragment();
  for (const [latin, kannada, note] of transliterationTable()) {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = latin;
    a.append(code);
    const b = document.createElement("td");
    b.lang = "kn";
    b.textContent = kannada;
    const c = document.createElement("td");
    c.textContent = note;
    tr.append(a, b, c);
    frag.append(tr);
  }
  ui.translitBody.replaceChildren(frag);
}

/** Inserts `ch` at the caret (the next-character list) as if typed. */
export function insertAtCursor(ch) {
  if (ui.text.readOnly) return;
  const { selectionStart: s, selectionEnd: e } = ui.text;
  ui.text.setRangeText(ch, s, e, "end");
  ui.text.focus();
  ui.text.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Replaces the text (an example, a link) as if typed, caret at the end. */
export function setText(text) {
  ui.text.value = text;
  ui.text.setSelectionRange(text.length, text.length);
  ui.text.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Types `latin` into an empty box with phonetic typing on (the Examples panel). */
export function typeLatin(latin) {
  ui.text.value = "";
  setPhonetic(true);
  ui.latin.value = latin;
  ui.latin.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Appends a generated character (no input event: the generation panel schedules the analysis). */
export function appendText(ch) {
  ui.text.value += ch;
  ui.text.scrollTop = ui.text.scrollHeight;
}

/** Read-only while generating; back to NFC, wrap mode and phonetic base after. */
export function setGenerating(on) {
  ui.text.readOnly = on;
  if (on) {
    ui.text.setSelectionRange(ui.text.value.length, ui.text.value.length);
    return;
  }
  normalizeTextarea();
  updateWrapMode();
  if (state.phonetic.on) commitLatin();
}

function renderNotices(a) {
  ui.info.textContent = `${plural(a.chars, "character")} · the model reads ${nf.format(a.tokens)}`;
  if (a.unknown) {
    const sample = a.unknownSamples.map(([ch]) => `“${displayLabel(ch)}”`).join(" ");
    const more = a.unknownSamples.length >= 12 ? " …" : "";
    ui.unknownNotice.textContent = `${nf.format(a.unknown)} character${a.unknown === 1 ? " is" : "s are"} not in the model's vocabulary and ${a.unknown === 1 ? "was" : "were"} skipped: ${sample}${more}`;
    ui.unknownNotice.hidden = false;
  } else {
    ui.unknownNotice.hidden = true;
  }
  const cropped = a.croppedTokens;
  if (cropped) {
    ui.cropNotice.textContent = `The text is longer than the model's block size (${state.model.config.block_size} characters): it sees only the last ${a.tokens}; ${nf.format(cropped)} earlier character${cropped === 1 ? " is" : "s are"} not used.`;
    ui.cropNotice.hidden = false;
  } else {
    ui.cropNotice.hidden = true;
  }
}

function wire() {
  ui.text.addEventListener("compositionstart", () => {
    state.composing = true;
  });
  ui.text.addEventListener("compositionend", (e) => {
    state.composing = false;
    onTextInput(e);
  });
  ui.text.addEventListener("beforeinput", onBeforeInput);
  ui.text.addEventListener("input", onTextInput);
  // #text-input (the text box's label) stands for the text box in automation: focusing it
  // focuses the box, and its `value` is the box's value
  const alias = $("text-input");
  alias.addEventListener("focus", () => ui.text.focus());
  Object.defineProperty(alias, "value", {
    get: () => ui.text.value,
    set: (v) => {
      ui.text.value = String(v);
      ui.text.dispatchEvent(new Event("input", { bubbles: true }));
    },
  });
  document.addEventListener("selectionchange", () => {
    if (document.activeElement === ui.text && ui.text.selectionStart !== state.lastCursor && state.ready) scheduleAnalysis(null);
  });
  ui.phoneticToggle.addEventListener("change", () => {
    setPhonetic(ui.phoneticToggle.checked);
    if (state.phonetic.on) ui.latin.focus();
  });
  ui.latin.addEventListener("input", onLatinInput);
  ui.latin.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      commitLatin();
    }
  });
}

/** Once the page's wasm runs: the mapping table, and the text of the link or the default. */
export function start(fromLink) {
  buildTranslitTable();
  if (!fromLink) ui.text.value = DEFAULT_TEXT;
  normalizeTextarea();
  updateWrapMode();
}

/** Wires the panel (no wasm calls: the page's wasm may still be loading). */
export function init() {
  wire();
  on("analysis", renderNotices, "notices");
  // a new model (or a restarted worker) ends any generation
  const unlock = () => {
    ui.text.readOnly = false;
  };
  on("model", unlock);
  on("worker-restart", unlock);
  registerHashField("text", {
    get: () => (ui.text.value.length <= HASH_TEXT_LIMIT ? ui.text.value : null),
    set: (v) => {
      if (v !== null) ui.text.value = nfc(v);
    },
  });
  registerHashField("ph", {
    get: () => (state.phonetic.on ? "1" : null),
    set: (v) => setPhonetic(v === "1"),
  });
}
