// The page's state: every field the panels share, declared once with what it means. The
// object is sealed, so assigning a field that is not declared here throws (ES modules are
// strict). DOM handles and timers stay private to the panel that owns them.

export const state = Object.seal({
  // --- the model worker (app.js) ---
  /** The model's Web Worker (restarted when it dies). */
  worker: null,
  /** performance.now() of the worker's recent restarts (more than 3 a minute: give up). */
  restarts: [],
  /** Resolvers waiting for a STATS reply, oldest first. */
  statsWaiters: [],
  /** The page's own wasm instance (text helpers only, no model), once started. */
  pageWasm: null,

  // --- the model ---
  /** The worker's MODEL message: {config, params, vocab, name, kind, kernel, loadMs, ...}; null before the first. */
  model: null,
  /** The model's vocabulary as a Set of characters (strip: which characters it reads). */
  vocabSet: new Set(),
  /** True while a model is loaded and the worker answers. */
  ready: false,
  /** True once the page's wasm and the text box are set up (analyses may be sent). */
  uiReady: false,

  // --- analysis requests (analysis.js): at most one in flight, keystrokes coalesced ---
  /** The last ANALYSIS message (see protocol.js), or null. */
  analysis: null,
  /** The text box's value that `analysis` was computed from. */
  analysisText: "",
  /** The cursor (UTF-16 offset) that `analysis` was computed for. */
  analysisCursor: 0,
  /** True while an ANALYZE request is unanswered. */
  inflight: false,
  /** performance.now() of the request in flight (the watchdog's reference). */
  sentAt: 0,
  /** Event time of the earliest keystroke not yet drawn, or null. */
  pendingSince: null,
  /** True if something changed (text, cursor, model) since the request in flight was sent. */
  pendingAny: false,
  /** Time the request in flight stands for (its earliest keystroke, or when it was sent). */
  reqStart: 0,
  /** performance.now() when the earliest keystroke not yet sent reached scheduleAnalysis, or null. */
  pendingHandledAt: null,
  /** The profile of the request in flight: when its keystroke reached scheduleAnalysis, and when postMessage returned. */
  reqHandledAt: 0,
  reqPostedAt: 0,
  /** True if the request in flight answers a keystroke (data-from-key). */
  reqFromKey: false,
  /** True if the request in flight was sent at a keystroke's beforeinput, for the text it was about to make (analysis.js sendPredicted). */
  reqPredicted: false,
  /** The text and cursor of the request in flight. */
  reqText: "",
  reqCursor: 0,
  /** Id of the last ANALYZE request. */
  reqId: 0,
  /** Redraw counter (data-seq on #attention-grid). */
  redraws: 0,
  /** The cursor position last sent (a caret move re-analyses). */
  lastCursor: -1,

  // --- what the maps show (heads panel) ---
  /** "chars" or "aksharas". */
  view: "chars",
  /** Colour scale: "linear" or "sqrt". */
  scale: "linear",
  /**
   * The maps' data: {side, data, labels, groups, maps, n_layer, n_head, scale, view}: `side` is
   * the number of rows (characters, or aksharas in the akshara view), `data` is
   * [maps, side, side], `groups` the [start, end) token range of each row.
   */
  display: null,
  /** {layer, head} (0-based) of the open large view, or null. */
  selected: null,
  /** {q, k} of the large view's current cell, or null. */
  largeCell: null,
  /** {layer, head} named in the link, opened once the first maps exist. */
  pendingHead: null,

  // --- inside the model (roles, knock-out, logit lens, heads forming) ---
  /** The knocked-out heads as the page holds them: "L.H" (0-based), sorted by layer then head. */
  knockout: [],
  /** The last HEAD_SCORES message ({source, step, windows, heads}) of the current model, or null. */
  headScores: null,
  /** The last INSPECTION message (bits/char of the text box, the logit lens) with the `text` and `cursor` it was asked for, or null. */
  inspection: null,
  /**
   * The heads forming: snapshots of the text box's heatmaps while training, oldest first, at
   * most 64: {step, seen, tokens, n_layer, n_head, attention (Uint8Array: each map's lower triangle, weight × 255), roles}.
   */
  snapshots: [],
  /** Index into `snapshots` the grid replays, or null (the grid shows the live model). */
  replay: null,

  // --- the text box (text panel) ---
  /** Phonetic typing: on, and the Kannada text before the Latin word being typed. */
  phonetic: { on: false, base: "" },
  /** True during an IME composition. */
  composing: false,

  // --- generation ---
  /** True while generating. */
  generating: false,
  /** Id of the current generation (older GEN_TOKENs are ignored). */
  genId: 0,

  // --- training ---
  /** True while training steps run. */
  training: false,
  /** True from the first TRAIN_BEGIN until Reset or a new model (Start says "Continue"). */
  trainSession: false,
  /** The chosen training .txt (NFC) and its name. */
  trainFileText: null,
  trainFileName: "",
  /** The clamped-learning-rate note, shown with TRAIN_BEGIN. */
  lrNote: "",
  /** The built-in proverbs (NFC), once fetched. */
  builtinText: null,

  // --- bring your own weights ---
  /** The vocabulary .txt for a gpt.py state_dict, and its name. */
  vocabText: null,
  vocabName: "",
  /** The last weights file chosen (reloaded when a vocabulary file follows). */
  lastWeightsFile: null,

  // --- errors ---
  /** Kind of the message in #error ("load", "nonfinite", "general"), or null. */
  errorKind: null,
});
