// The page ↔ model-worker protocol: every message type, once, with its fields. Both
// www/main.js (through its panels) and www/worker.js import these names; a message is
// `{type, ...fields}`. Positions use the wasm API's names: `tokens` are the positions the
// model reads (≤ block_size), `croppedTokens` the tokens before them that it does not read,
// `textTokens` all tokens of the text, `chars` all characters of the text (known or not).

/** Page → worker. */
export const ToWorker = Object.freeze({
  /** {url}: fetch and load our safetensors checkpoint. */
  LOAD_URL: "load-url",
  /** {bytes, name, vocabText?, vocabName?}: a user file: ours, or a gpt.py state_dict + the text of its vocabulary. */
  LOAD_BYTES: "load-bytes",
  /** {text, name}: an untrained model with the product config (no weights could be downloaded). */
  INIT_MODEL: "init-model",
  /** {id, text, cursor}: attention of the last block_size known characters, next-character probabilities after the cursor (a UTF-16 offset). */
  ANALYZE: "analyze",
  /** {id, text, n, temperature, topK, seed}: stream `n` characters after `text`. */
  GENERATE: "generate",
  /** {}: stop the generation. */
  STOP: "stop",
  /** {text, sourceName, mode: "finetune"|"scratch", preset, steps, batch, lr, seed, workers}: start or continue training (`workers` > 1: data-parallel over that many training workers, data-parallel.js). */
  TRAIN_START: "train-start",
  /** {}: pause after the current step. */
  TRAIN_PAUSE: "train-pause",
  /** {}: back to the weights from before training. */
  TRAIN_RESET: "train-reset",
  /** {}: the current weights as safetensors bytes. */
  GET_WEIGHTS: "get-weights",
  /** {id}: wasm memory size and loop flags (for soak tests). */
  STATS: "stats",
  /** {spec}: knock out these heads ("L.H,L.H,…", 0-based, "" = none) in every later forward. */
  SET_KNOCKOUT: "set-knockout",
  /** {id, text, source, maxWindows}: the heads' scores and roles on `text` (the intact model). */
  HEAD_SCORES: "head-scores",
  /** {id, text, cursor, maxWindows}: bits/char of the text (knocked out and intact) and the logit lens after the cursor. */
  INSPECT: "inspect",
  /** {}: the token embeddings' 2-D map and the position embeddings' cosine similarity. */
  EMBEDDING: "embedding",
});

/** Worker → page. */
export const FromWorker = Object.freeze({
  /** {kernel}: the wasm module is ready. */
  WASM: "wasm",
  /** {config, params, vocab, name, kind, kernel, loadMs?, note?, vocabName?, bytes?}: a model was installed. */
  MODEL: "model",
  /** {message}: a user file was not loaded; the current model stays. */
  LOAD_ERROR: "load-error",
  /**
   * {id, chars, textTokens, tokens, croppedTokens, unknown, unknownSamples, windowStart,
   *  cursorTokens, n_layer, n_head, seen, attention, next, reused, forwardMs, knockout, step, nonFinite?}:
   * the answer to ANALYZE. `seen` are the characters read, `attention` is
   * [n_layer, n_head, tokens, tokens], `next` is {top: [{id, ch, p}], after, position} or null,
   * `knockout` the knock-out set it was computed with (canonical "L.H,…"), `step` the model's
   * training step count.
   * `nonFinite`: the model's output is NaN/∞ (nothing to draw).
   */
  ANALYSIS: "analysis",
  /** {id, ch, count}: one generated character. */
  GEN_TOKEN: "gen-token",
  /** {id, count, ms, reason: "done"|"stopped"|"error"}: generation ended. */
  GEN_DONE: "gen-done",
  /** {mode, usable, chars, sourceName, heldOutChars}: a training session started (`heldOutChars` = 0: the text is too short to hold out a part). */
  TRAIN_BEGIN: "train-begin",
  /**
   * {step, target, loss, heldOut, ms, tokensPerSec, workers, timing}: one training step was applied (over `workers`
   * workers); `heldOut` is the held-out loss (nats/char) every few steps, else null; `timing` (workers > 1, else null)
   * is {workerMs (the slowest worker's computing), roundTripMs, addMs, applyMs}.
   */
  TRAIN_PROGRESS: "train-progress",
  /** {reason: "done"|"paused"|"error", step, target, message}: training stopped. */
  TRAIN_STOPPED: "train-stopped",
  /** {}: the weights are back to those from before training. */
  TRAIN_RESET: "train-reset",
  /** {bytes, name, steps}: the answer to GET_WEIGHTS. */
  WEIGHTS: "weights",
  /** {id, wasmMemoryBytes, training, generating}: the answer to STATS. */
  STATS: "stats",
  /** {spec}: the knock-out set now applied (canonical: sorted, "L.H,…", "" = none). */
  KNOCKOUT: "knockout",
  /**
   * {id, source, step, windows, heads: [{layer, head, prev_char, …, knockout_bits, role, role_score}]}: the answer
   * to HEAD_SCORES. This and the next two answer requests the page makes on its own: a failure
   * is {id, error} (shown by the panel, not in the error box).
   */
  HEAD_SCORES: "head-scores",
  /**
   * {id, knockout, bpc, bpcIntact, lens}: the answer to INSPECT. `bpc` (with the knock-out set)
   * and `bpcIntact` are null when the text is too short to measure (under 3 known characters); `lens` is
   * {rows: [[{id, ch, p}] top 5, one per layer], output (the top 5 of nextProbs), after, position} or
   * null (nothing before the cursor).
   */
  INSPECTION: "inspection",
  /** {points: [{id, char, class, x, y}], explained, classes, similarity: Float32Array, blockSize}: the answer to EMBEDDING. */
  EMBEDDING: "embedding",
  /** {context, id?, message}: a request failed: `context` is its type, "train" for a failed training step, "worker" for an unknown request. */
  ERROR: "error",
  /** {context, message}: a wasm trap: the page restarts the worker. */
  FATAL: "fatal",
});

/** The benchmark worker (www/bench-worker.js): page → {quick, vocabSize, build ("relaxed" or "simd128", wasm-build.js)}; → BenchReply. */
export const BenchReply = Object.freeze({
  /** {json, kernel, wallMs, userAgent}: the report, same keys as `kgpt bench`. */
  RESULT: "result",
  /** {message} */
  ERROR: "error",
});

/**
 * Model worker → training worker (www/train-worker.js; data-parallel training, www/data-parallel.js).
 * Every request carries an `id` its reply repeats.
 */
export const ToShard = Object.freeze({
  /** {id, bytes (safetensors), text, seed}: load the model and its training text (the coordinator's). */
  LOAD: "shard-load",
  /** {id, step, batch, first, end, summed, params (ArrayBuffer of paramCount f32)}: with these weights, the gradients of chunks first..end of step `step`'s batch (`summed`: as one block, their sum). */
  GRADIENTS: "shard-gradients",
});

/** Training worker → model worker. */
export const FromShard = Object.freeze({
  /** {id, kernel, params}: loaded (`params` = its paramCount). */
  READY: "shard-ready",
  /** {id, chunks, summed, tokens, grads (ArrayBuffer of chunks × paramCount f32, or paramCount if summed), rowLosses (ArrayBuffer of f32, one per row), ms}: the share's chunk gradients and row losses. */
  GRADIENTS: "shard-gradients",
  /** {id, message}: the request failed (nothing is kept from it). */
  ERROR: "shard-error",
});
