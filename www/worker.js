// The model's Web Worker: owns the wasm `Model` and does every forward pass, generation step
// and training step here, so typing, drawing and scrolling on the page never wait for them.
// The messages are listed once, with their fields, in protocol.js. Long loops (generation,
// training) yield to the event loop between steps so STOP, TRAIN_PAUSE and ANALYZE are served
// in between. Tokens, probabilities and the product config come from the wasm API (Rust's
// tokenizer, softmax and Config), never re-implemented here.

import { FromWorker, ToWorker } from "./protocol.js";
import { loadWasmBuild, pickWasmBuild } from "./wasm-build.js";
import { TrainingPool, shareChunks } from "./data-parallel.js";

// The wasm package's exports, set once `wasmReady` resolves (every handler awaits it first):
// the relaxed-SIMD build where the browser has it, else simd128 (wasm-build.js).
let KvCache, Model, Sampler, gradientChunkCount, kernelName, productConfigJson;

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

/** The worker's state: one model, its keystroke cache, the running loops. */
const W = Object.seal({
  /** The wasm Model every request uses (null until the first load). */
  model: null,
  /** {config, params, vocab, name, kind, kernel, ...} of `model`, as sent in MODEL. */
  info: null,
  /**
   * The keystroke KvCache: keys, values, attention and logits of the last analysed window, so
   * appending text computes only the new positions. Reset with the model.
   */
  kvCache: null,
  /** The running generation: {id, stop}. */
  generation: null,
  /** The training session: {text, seed, target, batch, lr, running, model}. */
  training: null,
  /** {bytes, info} of the model before training, for TRAIN_RESET. */
  snapshot: null,
  /** The wasm instance's exports (for the memory size). */
  wasm: null,
  /** Which wasm build runs ("relaxed" or "simd128", wasm-build.js): training workers load the same. */
  build: null,
  /** performance.now() of the last yield to the event loop. */
  lastYield: 0,
  /** The intact model's bits/char of the last inspected text: {model, step, text, bpc} (knock-outs do not change it). */
  intactBpc: null,
  /**
   * The keystroke analysis's summary of the text before its checkpoint (see `tokenizeWindow`):
   * {model, text (that part of the text), chars, tokens, unknown, unknownSamples}, or null.
   */
  textHead: null,
  /** The last analysed text, cursor and its cursorTokens (the inspection's lens reuses them). */
  lastAnalysis: null,
});

const wasmReady = loadWasmBuild(pickWasmBuild(self.location.href)).then(({ pkg, exports, build }) => {
  ({ KvCache, Model, Sampler, gradientChunkCount, kernelName, productConfigJson } = pkg);
  W.wasm = exports;
  W.build = build;
  post({ type: FromWorker.WASM, kernel: kernelName() });
});

/**
 * Lets queued messages (stop, pause, analyze) run between steps of a long loop. A macrotask
 * (setTimeout) is what lets the page's messages in; doing it at most every YIELD_MS keeps
 * generation fast while the heatmaps still follow (~15 frames/s) and Stop answers at once.
 */
const YIELD_MS = 60;
function yieldToEvents() {
  const now = performance.now();
  if (now - W.lastYield < YIELD_MS) return Promise.resolve();
  W.lastYield = now;
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function errorMessage(err) {
  if (err && typeof err.message === "string") return err.message;
  return String(err);
}

/** The wasm API's error `name` for a checkpoint without vocabulary (src/wasm/model.rs). */
const MISSING_VOCABULARY = "MissingVocabularyError";

/** Replaces the current model (the old one is freed once no loop can touch it). */
function install(m, meta) {
  stopLoops();
  const old = W.model;
  W.model = m;
  const config = JSON.parse(m.configJson());
  W.info = { config, params: m.paramCount(), vocab: Array.from(m.vocab()), kernel: kernelName(), ...meta };
  if (W.kvCache) W.kvCache.free();
  W.kvCache = null;
  if (old && old !== m) old.free();
  post({ type: FromWorker.MODEL, ...W.info });
}

function stopLoops() {
  if (W.generation) W.generation.stop = true;
  if (W.training) W.training.running = false;
}

async function loadUrl({ url }) {
  await wasmReady;
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`Could not download the model from ${url}: ${errorMessage(err)}`);
  }
  if (!res.ok) throw new Error(`Could not download the model from ${url}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const t1 = performance.now();
  const m = Model.fromSafetensors(bytes);
  const t2 = performance.now();
  W.training = null;
  W.snapshot = null;
  install(m, {
    name: decodeURIComponent(url.split("/").pop() || url),
    kind: "shipped",
    bytes: bytes.length,
    loadMs: t2 - t0,
    downloadMs: t1 - t0,
    parseMs: t2 - t1,
  });
}

/** A user's weights file: ours (carries its vocabulary) or a gpt.py state_dict + vocabulary text. */
function modelFromFile(u8, vocabText) {
  if (vocabText == null) return { m: Model.fromSafetensors(u8), note: null };
  try {
    return { m: Model.fromStateDict(u8, vocabText), note: null };
  } catch (err) {
    // our own checkpoints carry their vocabulary: accept them, say the .txt was not used
    try {
      return { m: Model.fromSafetensors(u8), note: "vocabulary file not used: these weights carry their own" };
    } catch {
      throw err;
    }
  }
}

async function loadBytes({ bytes, vocabText, name, vocabName }) {
  await wasmReady;
  const t0 = performance.now();
  const u8 = new Uint8Array(bytes);
  let loaded;
  try {
    loaded = modelFromFile(u8, vocabText);
  } catch (err) {
    let message = `Could not load “${name}”: ${errorMessage(err).replace(/\.$/, "")}.`;
    // the page's own hint, keyed on the error's kind (not on the library's wording)
    if (err && err.name === MISSING_VOCABULARY) {
      message += " If it is a gpt.py state_dict, also choose its training text under “Vocabulary (.txt)”.";
    }
    message += " The current model is still loaded.";
    post({ type: FromWorker.LOAD_ERROR, message });
    return;
  }
  const { m, note } = loaded;
  W.training = null;
  W.snapshot = null;
  const stateDict = vocabText != null && !note;
  install(m, {
    name,
    note,
    vocabName: stateDict ? vocabName : null,
    kind: stateDict ? "state_dict" : "file",
    bytes: u8.length,
    loadMs: performance.now() - t0,
  });
}

/** True if no value is NaN or ±Infinity. */
function allFinite(values) {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x - x !== 0) return false;
  }
  return true;
}

/** True if the model's logits for `ids` are all finite (a cheap health check after a step). */
function outputFinite(m, ids) {
  if (!ids.length) return true;
  const out = m.forward(ids);
  try {
    return allFinite(out.logits());
  } finally {
    out.free();
  }
}

/** The `k` most likely next characters: [{id, ch, p}]. */
function topK(probs, k) {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
  return order.slice(0, k).map((id) => ({ id, ch: W.info.vocab[id], p: probs[id] }));
}

/** The model's tokens of `text` (as plain values; the wasm object is freed). */
function tokenize(text, cursor) {
  const t = W.model.tokenize(text, cursor);
  try {
    return { ids: t.ids(), offsets: t.offsets(), chars: t.chars, unknown: t.unknown, unknownSamples: t.unknownSamples(), cursorTokens: t.cursorTokens };
  } finally {
    t.free();
  }
}

/**
 * Next-character probabilities after the first `cursorTokens` tokens of the text (`tok` from
 * tokenizeWindow, `cropped` the tokens before the window). Inside the window the cache has
 * them; before it, a forward of the block before the cursor (nextProbs crops to block_size, as
 * the cache does), tokenizing the text up to the cursor when the ids after the checkpoint do
 * not hold that block.
 */
function nextAfterCursor(tok, cropped, text, cursor) {
  const { cursorTokens, headTokens } = tok;
  if (cursorTokens <= 0) return null;
  let probs;
  let ids = tok.ids;
  let end = cursorTokens - headTokens;
  if (cursorTokens > cropped) {
    probs = W.kvCache.probsAt(cursorTokens - 1 - cropped, 1.0);
  } else {
    if (end < W.info.config.block_size && headTokens > 0) {
      ids = tokenize(text.slice(0, cursor), cursor).ids;
      end = ids.length;
    }
    probs = W.model.nextProbs(ids.subarray(0, end), 1.0);
  }
  return { probs, next: { top: topK(probs, 10), after: W.info.vocab[ids[end - 1]], position: cursorTokens } };
}

/** The ANALYSIS fields that describe the text (before any forward). */
function textFields(id, tok, text) {
  return {
    type: FromWorker.ANALYSIS,
    id,
    chars: tok.chars,
    textTokens: tok.textTokens,
    tokens: 0,
    croppedTokens: 0,
    unknown: tok.unknown,
    unknownSamples: tok.unknownSamples,
    windowStart: text.length,
    cursorTokens: tok.cursorTokens,
    n_layer: W.info.config.n_layer,
    n_head: W.info.config.n_head,
    knockout: W.model.knockout,
    step: W.model.stepCount(),
  };
}

/**
 * A text's tokens summarised without their ids: known and unknown characters of `text`.
 * `samples` merges `more` (the later part's samples) into `first`'s, as one tokenize would list them.
 */
function mergeSamples(first, more) {
  const out = first.map(([ch, n]) => [ch, n]);
  for (const [ch, n] of more) {
    const same = out.find(([c]) => c === ch);
    if (same) same[1] += n;
    else if (out.length < UNKNOWN_SAMPLES) out.push([ch, n]);
  }
  return out;
}

/** As many distinct unknown characters as Tokens.unknownSamples lists (src/wasm/model.rs). */
const UNKNOWN_SAMPLES = 12;

/**
 * The checkpoint moves when the text after it holds more than TAIL_MAX × block_size known
 * characters, to leave TAIL_KEEP × block_size after it: a keystroke then tokenizes at most
 * TAIL_MAX windows, whatever the text's length.
 */
const TAIL_MAX = 6;
const TAIL_KEEP = 2;

/**
 * The keystroke's tokens without tokenizing the whole text: the text before a checkpoint is
 * kept summarised (`W.textHead`: characters, known and unknown counts, unknown samples) for as
 * long as the new text starts with it (typing after it; a 100 KB text is read once), and only
 * the rest (≥ the block_size characters the model reads) is tokenized. Returns the fields
 * `tokenize` has, for the whole text: `ids` and `offsets` cover the part after the checkpoint
 * (`headTokens` ids come before them; offsets are into the whole text), `cursorTokens` counts
 * from the text's start, or is null when the cursor lies before the checkpoint.
 */
function tokenizeWindow(text, cursor) {
  const block = W.info.config.block_size;
  let head = W.textHead;
  if (!head || head.model !== W.model || !text.startsWith(head.text)) head = { model: W.model, text: "", chars: 0, tokens: 0, unknown: 0, unknownSamples: [] };
  let start = head.text.length;
  let tail = tokenize(text.slice(start), Math.max(0, cursor - start));
  if (tail.ids.length < block && head.tokens > 0) {
    // the text after the checkpoint was cut to less than a window: start over
    head = { model: W.model, text: "", chars: 0, tokens: 0, unknown: 0, unknownSamples: [] };
    start = 0;
    tail = tokenize(text, cursor);
  }
  if (tail.ids.length > TAIL_MAX * block) {
    // move the checkpoint forward (tokenizing the part it passes once more)
    const cut = start + tail.offsets[tail.ids.length - TAIL_KEEP * block];
    const passed = tokenize(text.slice(start, cut), 0);
    head = {
      model: W.model,
      text: text.slice(0, cut),
      chars: head.chars + passed.chars,
      tokens: head.tokens + passed.ids.length,
      unknown: head.unknown + passed.unknown,
      unknownSamples: mergeSamples(head.unknownSamples, passed.unknownSamples),
    };
    start = cut;
    tail = tokenize(text.slice(start), Math.max(0, cursor - start));
  }
  W.textHead = head;
  const offsets = start ? tail.offsets.map((o) => o + start) : tail.offsets;
  return {
    ids: tail.ids,
    offsets,
    headTokens: head.tokens,
    chars: head.chars + tail.chars,
    textTokens: head.tokens + tail.ids.length,
    unknown: head.unknown + tail.unknown,
    unknownSamples: mergeSamples(head.unknownSamples, tail.unknownSamples),
    cursorTokens: cursor >= start ? head.tokens + tail.cursorTokens : null,
  };
}

function analyze({ id, text, cursor }) {
  if (!W.model) return;
  const t0 = performance.now();
  const tok = tokenizeWindow(text, cursor);
  // a cursor before the checkpoint (rare: the caret moved far back in a long text) counts from the start
  if (tok.cursorTokens === null) tok.cursorTokens = tokenize(text.slice(0, cursor), cursor).ids.length;
  const base = textFields(id, tok, text);
  const nothing = { seen: [], attention: null, next: null };
  W.lastAnalysis = { text, cursor, cursorTokens: tok.cursorTokens };
  if (!tok.ids.length) {
    post({ ...base, ...nothing, forwardMs: performance.now() - t0 });
    return;
  }
  // The cache reads the last block_size ids: appending re-uses every earlier position; past
  // block_size the window shifts and gpt.py's absolute positions change, so it rebuilds the
  // window in one batched pass.
  if (!W.kvCache) W.kvCache = new KvCache(W.model);
  const reused = W.kvCache.sync(W.model, tok.ids);
  const { tokens } = W.kvCache;
  const croppedTokens = tok.headTokens + W.kvCache.croppedTokens;
  const windowStart = tok.offsets[W.kvCache.croppedTokens];
  const after = nextAfterCursor(tok, croppedTokens, text, cursor);
  if (!W.kvCache.outputFinite() || (after && !allFinite(after.probs))) {
    // finite weights can still overflow (a loaded file with huge weights, a wild training
    // step): say so instead of drawing NaN
    post({ ...base, windowStart, ...nothing, nonFinite: true, forwardMs: performance.now() - t0 });
    return;
  }
  const attention = W.kvCache.attention();
  const seen = Array.from(tok.ids.subarray(W.kvCache.croppedTokens), (i) => W.info.vocab[i]);
  post({ ...base, tokens, croppedTokens, windowStart, seen, attention, next: after && after.next, reused, forwardMs: performance.now() - t0 }, [attention.buffer]);
}

/** One generated character from `cache`; after a weights change (training) it starts over from `windowOf()`. */
function sampleOne(m, cache, windowOf, { temperature, topK: k }, sampler) {
  try {
    return cache.sampleAppend(m, temperature, k, sampler);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) throw err;
    cache.sync(m, windowOf());
    return cache.sampleAppend(m, temperature, k, sampler);
  }
}

async function generate(msg) {
  if (!W.model) return;
  const { id, text, n, seed } = msg;
  if (W.generation) W.generation.stop = true;
  const me = { id, stop: false };
  W.generation = me;
  const m = W.model;
  const context = Array.from(tokenize(text, text.length).ids);
  const sampler = new Sampler(seed >>> 0);
  // Its own cache (the keystroke cache follows the text box, which the user may edit
  // meanwhile): each new character costs one position, a crop past block_size one rebuild.
  const cache = new KvCache(m);
  // (sync reads the last block_size ids, like gpt.py's crop)
  const windowOf = () => Uint32Array.from(context);
  const t0 = performance.now();
  let count = 0;
  let reason = "done";
  try {
    cache.sync(m, windowOf());
    while (count < n) {
      if (me.stop || W.model !== m) {
        reason = "stopped";
        break;
      }
      const next = sampleOne(m, cache, windowOf, msg, sampler);
      context.push(next);
      count++;
      post({ type: FromWorker.GEN_TOKEN, id, ch: W.info.vocab[next], count });
      await yieldToEvents();
    }
  } catch (err) {
    reason = "error";
    if (err instanceof WebAssembly.RuntimeError) post({ type: FromWorker.FATAL, context: ToWorker.GENERATE, message: `the model crashed (${errorMessage(err)})` });
    else post({ type: FromWorker.ERROR, context: ToWorker.GENERATE, message: `Generation failed: ${errorMessage(err)}` });
  } finally {
    sampler.free();
    cache.free();
    if (W.generation === me) W.generation = null;
    post({ type: FromWorker.GEN_DONE, id, count, ms: performance.now() - t0, reason });
  }
}

/** An untrained model with the product config and the vocabulary of `text` (no weights found). */
async function initModel({ text, name }) {
  await wasmReady;
  const m = Model.init(text, productConfigJson(), 1337);
  W.training = null;
  W.snapshot = null;
  install(m, { name, kind: "untrained" });
}

/** Preset configs for training from scratch ("loaded" = the loaded model's; vocab_size is the text's). */
function scratchConfig(preset) {
  switch (preset) {
    case "small":
      return { n_embd: 32, n_head: 2, n_layer: 2, block_size: 64, dropout: 0.0 };
    case "medium":
      return { n_embd: 48, n_head: 4, n_layer: 3, block_size: 96, dropout: 0.1 };
    default: {
      const { vocab_size: _fromText, ...loaded } = W.info.config;
      return loaded;
    }
  }
}

/** A new training session (fine-tune the model, or a fresh one from scratch); posts TRAIN_BEGIN. */
function beginTraining(msg) {
  const before = { bytes: W.model.toSafetensors(), info: { ...W.info } };
  const seed = msg.seed >>> 0;
  let usable;
  if (msg.mode === "scratch") {
    const fresh = Model.init(msg.text, JSON.stringify(scratchConfig(msg.preset)), seed);
    try {
      usable = fresh.setTrainingText(msg.text, seed);
    } catch (err) {
      fresh.free();
      throw err;
    }
    install(fresh, { name: `trained from scratch (${msg.sourceName})`, kind: "scratch" });
  } else {
    usable = W.model.setTrainingText(msg.text, seed);
  }
  W.snapshot = before;
  W.training = { target: 0, text: msg.text, seed, running: false, model: W.model };
  post({ type: FromWorker.TRAIN_BEGIN, mode: msg.mode, usable, chars: [...msg.text].length, sourceName: msg.sourceName, heldOutChars: W.model.heldOutChars });
}

const lastGood = (step) => (step ? `the weights are those of the last good step (${step})` : "the weights are those from before training");
const capital = (text) => text[0].toUpperCase() + text.slice(1);

/**
 * One training update of session `s` by `update()` (which returns the loss: a trainStep, or
 * applyGradientSum of the training workers' gradients): {loss}, or {message} saying why it failed
 * (the update not applied, or undone).
 */
function trainOne(m, s, probe, update) {
  const done = m.stepCount();
  let loss;
  try {
    loss = update();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) throw err;
    const why = errorMessage(err).replace(/\.$/, "");
    return {
      message:
        `Training step ${done + 1} failed: ${why}.` +
        (/not applied/.test(why) ? "" : " The update was not applied.") +
        ` ${capital(lastGood(done))}. Lower the learning rate and press Continue, or Reset.`,
    };
  }
  if (!(Number.isFinite(loss) && outputFinite(m, probe))) {
    // A step can pass the library's checks (finite loss, gradient and weights) and still
    // leave weights whose forward pass overflows to NaN: undo it (weights and AdamW state).
    m.undoLastStep();
    return {
      message:
        `Training step ${done + 1} made the model's output non-finite (NaN or ∞): the update was undone and ` +
        `${lastGood(done)}. Lower the learning rate and press Continue, or Reset.`,
    };
  }
  return { loss };
}

/** K training workers (train-worker.js, the same wasm build) loaded with `m`'s weights and the session's text. */
async function startTrainingPool(count, m, s) {
  const url = new URL(`./train-worker.js?build=${W.build}`, import.meta.url);
  const pool = new TrainingPool(count, () => new Worker(url, { type: "module" }));
  try {
    const kernels = await pool.load({ bytes: m.toSafetensors(), text: s.text, seed: s.seed });
    const other = kernels.findIndex((k) => k !== kernelName());
    if (other >= 0) throw new Error(`training worker ${other + 1} runs the ${kernels[other]} kernel, this one ${kernelName()}: their gradients would round differently`);
  } catch (err) {
    pool.terminate();
    throw err;
  }
  return pool;
}

/** Steps between two held-out losses (each costs up to HELD_OUT_WINDOWS eval forwards). */
const HELD_OUT_EVERY = 5;
const HELD_OUT_WINDOWS = 4;

/** The held-out loss (nats/char) of `m`, or null when nothing is held out. */
function heldOutLoss(m) {
  if (!m.heldOutChars) return null;
  const loss = m.heldOutLoss(HELD_OUT_WINDOWS);
  return loss === undefined ? null : loss;
}

/**
 * One step of session `s` over the training workers in `pool`: {result (as trainOne's), timing},
 * or {dropped: true} when the session was reset or its model replaced meanwhile (nothing applied).
 * A failed worker is a result with its message: the step is not applied.
 */
async function dataParallelStep(pool, m, s, { step, chunks, probe, current }) {
  const live = () => W.training === s && W.model === m;
  // each reply is added to the model's gradient sum as it arrives (never after a reset or a new
  // model: `m` may be freed then)
  const add = (grads, count, first) => {
    if (!live()) throw new Error("training was reset");
    m.addGradients(grads, count, first);
  };
  let shares;
  try {
    shares = await pool.gradients({ step, batch: s.batch, chunks, params: m.params(), add });
  } catch (err) {
    if (!current()) return { dropped: true };
    const message = `Training step ${step + 1} was not applied: ${errorMessage(err)}. ${capital(lastGood(step))}. Press Continue to start the workers again, or set Training workers to 1.`;
    return { result: { message }, timing: null };
  }
  // a pause takes effect after this step, as with one worker
  if (!live()) return { dropped: true };
  const t = performance.now();
  const result = trainOne(m, s, probe, () => m.applyGradientSum(shares.rowLosses, s.lr));
  return { result, timing: { ...shares.timing, applyMs: performance.now() - t } };
}

async function trainStart(msg) {
  if (!W.model) return;
  if (W.training && W.training.running) return;
  if (W.generation) W.generation.stop = true;
  if (!W.training) beginTraining(msg);
  else if (msg.text !== W.training.text) {
    W.model.setTrainingText(msg.text, W.training.seed);
    W.training.text = msg.text;
  }
  const s = W.training;
  const m = W.model;
  if (m.stepCount() >= s.target) s.target = m.stepCount() + msg.steps;
  // workers: 1 trains here (trainStep); K > 1 shares each step's gradient chunks out over K
  // training workers (data-parallel.js), at most one per chunk
  const chunks = gradientChunkCount(msg.batch);
  const workers = shareChunks(chunks, msg.workers || 1).length;
  Object.assign(s, { batch: msg.batch, lr: msg.lr, workers, running: true });
  const textIds = tokenize(s.text, 0).ids;
  const perStep = s.batch * Math.min(W.info.config.block_size, textIds.length - 1);
  // a window of the training text: after every step the model must still give finite logits on it
  const probe = textIds.slice(0, Math.min(W.info.config.block_size, 32));
  let reason = "done";
  let message = null;
  // the model's own step count (applied steps; a failed or undone one is not counted). Read
  // only while `m` is the installed model: a replaced model is freed.
  let step = m.stepCount();
  const startStep = step;
  const current = () => s.running && W.training === s && W.model === m;
  const fail = (text) => {
    message = text;
    s.running = false;
    reason = "error";
    post({ type: FromWorker.ERROR, context: "train", message });
  };
  let pool = null;
  try {
    if (workers > 1) {
      try {
        pool = await startTrainingPool(workers, m, s);
      } catch (err) {
        if (current()) fail(`The ${workers} training workers did not start: ${errorMessage(err)}. Set Training workers to 1 to train in one worker.`);
        else reason = "paused";
      }
    }
    while (reason === "done" && step < s.target) {
      if (!current()) {
        reason = "paused";
        break;
      }
      const t0 = performance.now();
      let result;
      let timing = null;
      if (pool) {
        const outcome = await dataParallelStep(pool, m, s, { step, chunks, probe, current });
        if (outcome.dropped) {
          reason = "paused";
          break;
        }
        ({ result, timing } = outcome);
      } else {
        result = trainOne(m, s, probe, () => m.trainStep(s.batch, s.lr));
      }
      if (result.message) {
        fail(result.message);
        break;
      }
      const ms = performance.now() - t0;
      step = m.stepCount();
      const heldOut = step % HELD_OUT_EVERY === 0 || step >= s.target || step === startStep + 1 ? heldOutLoss(m) : null;
      post({ type: FromWorker.TRAIN_PROGRESS, step, target: s.target, loss: result.loss, heldOut, ms, tokensPerSec: (perStep / ms) * 1000, workers, timing });
      await yieldToEvents();
    }
  } finally {
    if (pool) pool.terminate();
  }
  if (W.training === s) s.running = false;
  post({ type: FromWorker.TRAIN_STOPPED, reason, step, target: s.target, message });
}

function trainReset() {
  if (W.training) W.training.running = false;
  W.training = null;
  if (W.snapshot) {
    const { bytes, info: before } = W.snapshot;
    W.snapshot = null;
    const m = Model.fromSafetensors(bytes);
    const { config: _c, params: _p, vocab: _v, kernel: _k, ...meta } = before;
    install(m, meta);
  }
  post({ type: FromWorker.TRAIN_RESET });
}

function getWeights() {
  if (!W.model) return;
  const bytes = W.model.toSafetensors();
  post({ type: FromWorker.WEIGHTS, bytes: bytes.buffer, name: W.info.name, steps: W.training ? W.model.stepCount() : 0 }, [bytes.buffer]);
}

function stats({ id }) {
  post({
    type: FromWorker.STATS,
    id,
    wasmMemoryBytes: W.wasm ? W.wasm.memory.buffer.byteLength : 0,
    training: !!(W.training && W.training.running),
    generating: !!W.generation,
  });
}

function setKnockout({ spec }) {
  if (!W.model) return;
  W.model.setKnockout(spec);
  post({ type: FromWorker.KNOCKOUT, spec: W.model.knockout });
}

/**
 * Answers a request the page makes on its own (scores, inspection, embedding map): `head`
 * ({type, id}) with `work()`'s fields (`transfer`: buffers to move, not copy); a failure other than a trap becomes the answer's `error`, which the panel
 * shows, instead of the error box (the user did not ask for it).
 */
function answer(head, work) {
  let fields;
  try {
    fields = work();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) throw err;
    post({ ...head, error: errorMessage(err) });
    return;
  }
  const { transfer, ...rest } = fields;
  post({ ...head, ...rest }, transfer);
}

function headScores({ id, text, source, maxWindows }) {
  if (!W.model) return;
  answer({ type: FromWorker.HEAD_SCORES, id }, () => ({ source, step: W.model.stepCount(), ...JSON.parse(W.model.headScores(windowsPrefix(text, maxWindows), maxWindows)) }));
}

/** The model's vocabulary as a Set (per model info; for scanning texts without the tokenizer). */
const vocabSets = new WeakMap();
function vocabSet() {
  if (!vocabSets.has(W.info)) vocabSets.set(W.info, new Set(W.info.vocab));
  return vocabSets.get(W.info);
}

/**
 * The start of `text` that its first `maxWindows` windows read (bitsPerChar, headScores: windows
 * of block_size + 1 known characters, `block_size` apart): measuring it gives the same figures
 * as the whole text, without tokenizing a long text to the end.
 */
function windowsPrefix(text, maxWindows) {
  const need = maxWindows * W.info.config.block_size + 1;
  const known = vocabSet();
  let n = 0;
  let i = 0;
  for (const ch of text) {
    i += ch.length;
    if (known.has(ch) && ++n >= need) return text.slice(0, i);
  }
  return text;
}

/**
 * The intact model's bits/char of `text` (cached: knock-outs do not change it): {bpc, computed},
 * bpc null when the text is too short (the wasm API throws).
 */
function intactBpc(m, text, maxWindows) {
  const step = m.stepCount();
  const c = W.intactBpc;
  if (c && c.model === m && c.step === step && c.text === text) return { bpc: c.bpc, computed: false };
  let bpc;
  try {
    bpc = m.bitsPerChar(text, maxWindows, false);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) throw err;
    return { bpc: null, computed: false };
  }
  W.intactBpc = { model: m, step, text, bpc };
  return { bpc, computed: true };
}

/**
 * Lets a keystroke's ANALYZE that arrived meanwhile run before the next part of a longer job
 * (the inspection: bits/char, then the lens); throws if the model was replaced meanwhile.
 */
async function betweenJobs(m) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (W.model !== m) throw new Error("the model changed");
}

/** Tokens before the cursor: how many (the text's start to the cursor), and the last block_size or more of their ids. */
function idsBeforeCursor(text, cursor) {
  const block = W.info.config.block_size;
  const last = W.lastAnalysis;
  if (last && last.cursor === cursor && last.text === text) {
    // the keystroke analysis counted them: tokenize only the stretch before the cursor
    const from = Math.max(0, cursor - 8 * block);
    const ids = tokenize(text.slice(from, cursor), cursor - from).ids;
    if (from === 0 || ids.length >= block) return { count: last.cursorTokens, ids };
  }
  const ids = tokenize(text.slice(0, cursor), cursor).ids;
  return { count: ids.length, ids };
}

/** The logit lens after the cursor: the top 5 of every layer, or null with nothing before the cursor. */
function lensAfterCursor(text, cursor) {
  const { count, ids: before } = idsBeforeCursor(text, cursor);
  if (count <= 0 || !before.length) return null;
  const position = Math.min(before.length, W.info.config.block_size) - 1;
  const lens = W.model.logitLens(before, position);
  const v = W.info.vocab.length;
  const rows = [];
  for (let l = 0; l * v < lens.length; l++) rows.push(topK(lens.subarray(l * v, (l + 1) * v), 5));
  // the model's output through its own path (nextProbs), beside the lens of the last block
  const output = topK(W.model.nextProbs(before, 1.0), 5);
  return { rows, output, after: W.info.vocab[before[before.length - 1]], position: count };
}

/**
 * The inspection, in parts (intact bits/char; bits/char with the knock-out set; the lens) with
 * a yield between them, so a keystroke waits for at most one part; bits/char reads only the
 * windows it measures. A knock-out set changed during a yield is measured again.
 */
async function inspect({ id, text, cursor, maxWindows }) {
  if (!W.model) return;
  const m = W.model;
  const head = { type: FromWorker.INSPECTION, id };
  let fields;
  try {
    const measured = windowsPrefix(text, maxWindows);
    const intact = intactBpc(m, measured, maxWindows);
    if (intact.computed) await betweenJobs(m);
    for (;;) {
      const knockout = m.knockout;
      const bpc = intact.bpc === null || !knockout ? intact.bpc : m.bitsPerChar(measured, maxWindows, true);
      if (knockout) await betweenJobs(m);
      if (m.knockout !== knockout) continue;
      fields = { knockout, bpc, bpcIntact: intact.bpc, lens: lensAfterCursor(text, cursor) };
      break;
    }
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) throw err;
    post({ ...head, error: errorMessage(err) });
    return;
  }
  post({ ...head, ...fields });
}

function embedding() {
  if (!W.model) return;
  answer({ type: FromWorker.EMBEDDING }, () => {
    const map = JSON.parse(W.model.embeddingMap());
    const similarity = W.model.positionSimilarity();
    return { ...map, similarity, blockSize: W.info.config.block_size, transfer: [similarity.buffer] };
  });
}

const handlers = {
  [ToWorker.LOAD_URL]: loadUrl,
  [ToWorker.LOAD_BYTES]: loadBytes,
  [ToWorker.INIT_MODEL]: initModel,
  [ToWorker.ANALYZE]: analyze,
  [ToWorker.GENERATE]: generate,
  [ToWorker.STOP]: () => {
    if (W.generation) W.generation.stop = true;
  },
  [ToWorker.TRAIN_START]: trainStart,
  [ToWorker.TRAIN_PAUSE]: () => {
    if (W.training) W.training.running = false;
  },
  [ToWorker.TRAIN_RESET]: trainReset,
  [ToWorker.GET_WEIGHTS]: getWeights,
  [ToWorker.STATS]: stats,
  [ToWorker.SET_KNOCKOUT]: setKnockout,
  [ToWorker.HEAD_SCORES]: headScores,
  [ToWorker.INSPECT]: inspect,
  [ToWorker.EMBEDDING]: embedding,
};

self.onmessage = async (e) => {
  const msg = e.data;
  const handler = Object.hasOwn(handlers, msg && msg.type) ? handlers[msg.type] : null;
  if (!handler) {
    post({ type: FromWorker.ERROR, context: "worker", message: `Unknown request ${JSON.stringify(msg && msg.type)}` });
    return;
  }
  try {
    await wasmReady;
    await handler(msg);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      // a trap inside the wasm: its state can no longer be trusted, the page restarts the worker
      post({ type: FromWorker.FATAL, context: msg.type, message: `the model crashed (${errorMessage(err)})` });
      return;
    }
    post({ type: FromWorker.ERROR, context: msg.type, id: msg.id, message: errorMessage(err) });
  }
};
