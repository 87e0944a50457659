// The model's Web Worker: owns the wasm `Model` and does every forward pass, generation step
// and training step here, so typing, drawing and scrolling on the page never wait for them.
//
// Protocol (page → worker, all `{type, ...}`):
//   load-url {url}                        fetch and load our safetensors checkpoint
//   load-bytes {bytes, vocabText?, name}  a user file: ours, or gpt.py state_dict + vocabulary text
//   init-model {text, name}               an untrained model (when no weights can be downloaded)
//   analyze {id, text, cursor}            forward of the last block_size known chars: attention,
//                                         next-character probabilities after the cursor
//   generate {id, text, n, temperature, topK, seed} / stop
//   train-start {...} / train-pause / train-reset
//   get-weights                           the current weights as safetensors bytes
//   stats {id}                            wasm memory size (for soak tests)
// Replies: wasm, model, load-error, analysis (with `nonFinite` and nothing to draw when the
// model's output is NaN/∞), gen-token, gen-done, train-begin, train-progress, train-stopped
// (with the error `message` when a step failed), train-reset, weights, stats, error, fatal (a
// wasm trap: the page restarts us). Long loops (generation, training) yield to the
// event loop after every step so `stop`, `train-pause` and `analyze` are served in between.

import init, { KvSession, Model, Sampler, kernelName } from "./pkg/kgpt.js";

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

let model = null;
/** {config, params, vocab, name, kind, loadMs, kernel} of `model`. */
let info = null;
/** Code point → id for the BMP; other code points in `astral`. -1 = not in the vocabulary. */
let lut = new Int32Array(65536).fill(-1);
let astral = new Map();
/** Reused scan buffers (grown as needed). */
let idsBuf = new Uint32Array(1024);
let posBuf = new Uint32Array(1024);

/**
 * The keystroke session: keys, values, attention and logits of the last analysed window, so
 * appending text computes only the new positions (kv_cache.rs). Reset with the model.
 */
let session = null;
let generation = null; // {id, stop}
let training = null; // session
let snapshot = null; // {bytes, info} of the model before training, for "Reset"

let wasm = null; // the instance's exports (for the memory size)
const wasmReady = init().then((exports) => {
  wasm = exports;
  post({ type: "wasm", kernel: kernelName() });
});

/**
 * Lets queued messages (stop, pause, analyze) run between steps of a long loop. A macrotask
 * (setTimeout) is what lets the page's messages in; doing it at most every YIELD_MS keeps
 * generation fast while the heatmaps still follow (~15 frames/s) and Stop answers at once.
 */
const YIELD_MS = 60;
let lastYield = 0;
function yieldToEvents() {
  const now = performance.now();
  if (now - lastYield < YIELD_MS) return Promise.resolve();
  lastYield = now;
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function errorMessage(err) {
  if (err && typeof err.message === "string") return err.message;
  return String(err);
}

/** Replaces the current model (the old one is freed once no loop can touch it). */
function install(m, meta) {
  stopLoops();
  const old = model;
  model = m;
  const config = JSON.parse(m.configJson());
  const vocab = Array.from(m.vocab());
  lut = new Int32Array(65536).fill(-1);
  astral = new Map();
  vocab.forEach((ch, id) => {
    const cp = ch.codePointAt(0);
    if (cp < 0x10000) lut[cp] = id;
    else astral.set(cp, id);
  });
  info = { config, params: m.paramCount(), vocab, kernel: kernelName(), ...meta };
  if (session) session.free();
  session = null;
  if (old && old !== m) old.free();
  post({ type: "model", ...info });
}

function stopLoops() {
  if (generation) generation.stop = true;
  if (training) training.running = false;
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
  training = null;
  snapshot = null;
  install(m, {
    name: decodeURIComponent(url.split("/").pop() || url),
    kind: "shipped",
    bytes: bytes.length,
    loadMs: t2 - t0,
    downloadMs: t1 - t0,
    parseMs: t2 - t1,
  });
}

async function loadBytes({ bytes, vocabText, name, vocabName }) {
  await wasmReady;
  const t0 = performance.now();
  const u8 = new Uint8Array(bytes);
  let m;
  let note = null;
  try {
    if (vocabText != null) {
      try {
        m = Model.fromStateDict(u8, vocabText);
      } catch (err) {
        // our own checkpoints carry their vocabulary: accept them, say the .txt was not used
        try {
          m = Model.fromSafetensors(u8);
          note = "vocabulary file not used: these weights carry their own";
        } catch {
          throw err;
        }
      }
    } else {
      m = Model.fromSafetensors(u8);
    }
  } catch (err) {
    let message = `Could not load “${name}”: ${errorMessage(err)}.`;
    if (vocabText == null && /no vocabulary/i.test(message)) {
      message += " If it is a gpt.py state_dict, also choose its training text under “Vocabulary (.txt)”.";
    }
    message += " The current model is still loaded.";
    post({ type: "load-error", message });
    return;
  }
  training = null;
  snapshot = null;
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

/**
 * Maps `text` (already NFC) to ids, skipping characters outside the vocabulary.
 * Returns the ids, each id's UTF-16 offset, the unknown count with up to 12 distinct samples,
 * and `cursorK`: how many known characters come before UTF-16 offset `cursor`.
 */
function scan(text, cursor) {
  const n = text.length;
  if (idsBuf.length < n) {
    idsBuf = new Uint32Array(n + 1024);
    posBuf = new Uint32Array(n + 1024);
  }
  let k = 0;
  let unknown = 0;
  let chars = 0;
  let cursorK = -1;
  const samples = new Map();
  for (let i = 0; i < n; ) {
    if (cursorK < 0 && i >= cursor) cursorK = k;
    const c = text.charCodeAt(i);
    let cp = c;
    let w = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        w = 2;
      }
    }
    const id = cp < 0x10000 ? lut[cp] : astral.has(cp) ? astral.get(cp) : -1;
    if (id >= 0) {
      idsBuf[k] = id;
      posBuf[k] = i;
      k++;
    } else {
      unknown++;
      const ch = text.slice(i, i + w);
      if (samples.has(ch)) samples.set(ch, samples.get(ch) + 1);
      else if (samples.size < 12) samples.set(ch, 1);
    }
    i += w;
    chars++;
  }
  if (cursorK < 0) cursorK = k;
  return { ids: idsBuf.subarray(0, k), pos: posBuf.subarray(0, k), unknown, chars, samples: [...samples], cursorK };
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

function softmaxRow(logits, offset, v) {
  let max = -Infinity;
  for (let i = 0; i < v; i++) max = Math.max(max, logits[offset + i]);
  const p = new Float64Array(v);
  let z = 0;
  for (let i = 0; i < v; i++) {
    p[i] = Math.exp(logits[offset + i] - max);
    z += p[i];
  }
  for (let i = 0; i < v; i++) p[i] /= z;
  return p;
}

function topK(probs, k) {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
  return order.slice(0, k).map((id) => ({ id, ch: info.vocab[id], p: probs[id] }));
}

function analyze({ id, text, cursor }) {
  if (!model) return;
  const t0 = performance.now();
  const block = info.config.block_size;
  const { ids, pos, unknown, chars, samples, cursorK } = scan(text, cursor);
  const total = ids.length;
  const t = Math.min(total, block);
  const start = total - t;
  const base = {
    type: "analysis",
    id,
    total,
    chars,
    t,
    cropped: start,
    unknown,
    unknownSamples: samples,
    windowStart: t ? pos[start] : text.length,
    cursorK,
    layers: info.config.n_layer,
    heads: info.config.n_head,
  };
  if (!t) {
    post({ ...base, seen: [], attention: null, next: null, forwardMs: performance.now() - t0 });
    return;
  }
  const seenIds = ids.slice(start, total);
  // Appending re-uses every earlier position; past block_size the window shifts and gpt.py's
  // absolute positions change, so the session rebuilds it in one batched pass.
  if (!session) session = new KvSession(model);
  const reused = session.sync(model, seenIds);
  const attention = session.attention();
  const logits = session.logits();
  const v = info.vocab.length;
  let next = null;
  let probs = null;
  if (cursorK > 0) {
    if (cursorK > start) {
      probs = softmaxRow(logits, (cursorK - 1 - start) * v, v);
    } else {
      const ctx = ids.slice(Math.max(0, cursorK - block), cursorK);
      probs = Float64Array.from(model.nextProbs(ctx, 1.0));
    }
    const context = cursorK > start ? info.vocab[seenIds[cursorK - 1 - start]] : info.vocab[ids[cursorK - 1]];
    next = { top: topK(probs, 10), after: context, position: cursorK };
  }
  if (!allFinite(logits) || (probs && !allFinite(probs))) {
    // finite weights can still overflow (a loaded file with huge weights, a wild training
    // step): say so instead of drawing NaN. A NaN attention weight reaches its position's
    // logits, so checking the [T, V] logits covers the [L, H, T, T] attention at 1/20 the cost.
    post({ ...base, t: 0, cropped: 0, seen: [], attention: null, next: null, nonFinite: true, forwardMs: performance.now() - t0 });
    return;
  }
  const seen = Array.from(seenIds, (i) => info.vocab[i]);
  post({ ...base, seen, attention, next, reused, forwardMs: performance.now() - t0 }, [attention.buffer]);
}

async function generate({ id, text, n, temperature, topK: k, seed }) {
  if (!model) return;
  if (generation) generation.stop = true;
  const me = { id, stop: false };
  generation = me;
  const m = model;
  const block = info.config.block_size;
  const ctx = Array.from(scan(text, text.length).ids);
  const sampler = new Sampler(seed >>> 0);
  // Its own cache (the keystroke session follows the text box, which the user may edit
  // meanwhile): each new character costs one position, a crop past block_size one rebuild.
  const cache = new KvSession(m);
  const windowOf = () => Uint32Array.from(ctx.length > block ? ctx.slice(ctx.length - block) : ctx);
  const t0 = performance.now();
  let count = 0;
  let reason = "done";
  try {
    cache.sync(m, windowOf());
    while (count < n) {
      if (me.stop || model !== m) {
        reason = "stopped";
        break;
      }
      let next;
      try {
        next = cache.sampleAppend(m, temperature, k, sampler);
      } catch (err) {
        if (err instanceof WebAssembly.RuntimeError) throw err;
        cache.sync(m, windowOf()); // the weights changed (training): start over from the text
        next = cache.sampleAppend(m, temperature, k, sampler);
      }
      ctx.push(next);
      count++;
      post({ type: "gen-token", id, ch: info.vocab[next], count });
      await yieldToEvents();
    }
  } catch (err) {
    reason = "error";
    if (err instanceof WebAssembly.RuntimeError) post({ type: "fatal", context: "generate", message: `the model crashed (${errorMessage(err)})` });
    else post({ type: "error", context: "generate", message: `Generation failed: ${errorMessage(err)}` });
  } finally {
    sampler.free();
    cache.free();
    if (generation === me) generation = null;
    post({ type: "gen-done", id, count, ms: performance.now() - t0, reason });
  }
}

/** An untrained model with the product config and the vocabulary of `text` (no weights found). */
async function initModel({ text, name }) {
  await wasmReady;
  const m = Model.init(text, 64, 4, 4, 128, 0.1, 1337);
  training = null;
  snapshot = null;
  install(m, { name, kind: "untrained" });
}

/** Preset sizes for training from scratch ("loaded" = the loaded model's shape). */
function scratchConfig(preset) {
  const c = info.config;
  switch (preset) {
    case "small":
      return { n_embd: 32, n_head: 2, n_layer: 2, block_size: 64, dropout: 0.0 };
    case "medium":
      return { n_embd: 48, n_head: 4, n_layer: 3, block_size: 96, dropout: 0.1 };
    default:
      return { n_embd: c.n_embd, n_head: c.n_head, n_layer: c.n_layer, block_size: c.block_size, dropout: c.dropout };
  }
}

async function trainStart(msg) {
  if (!model) return;
  if (training && training.running) return;
  if (generation) generation.stop = true;
  if (!training) {
    const before = { bytes: model.toSafetensors(), info: { ...info } };
    if (msg.mode === "scratch") {
      const c = scratchConfig(msg.preset);
      const fresh = Model.init(msg.text, c.n_embd, c.n_head, c.n_layer, c.block_size, c.dropout, msg.seed >>> 0);
      try {
        fresh.setTrainingText(msg.text, msg.seed >>> 0);
      } catch (err) {
        fresh.free();
        throw err;
      }
      install(fresh, { name: `trained from scratch (${msg.sourceName})`, kind: "scratch" });
    } else {
      model.setTrainingText(msg.text, msg.seed >>> 0);
    }
    snapshot = before;
    training = { done: 0, target: 0, text: msg.text, seed: msg.seed >>> 0, running: false, model };
    const usable = scan(msg.text, 0).ids.length;
    post({ type: "train-begin", mode: msg.mode, usable, chars: [...msg.text].length, sourceName: msg.sourceName });
  } else if (msg.text !== training.text) {
    model.setTrainingText(msg.text, training.seed);
    training.text = msg.text;
  }
  const s = training;
  if (s.done >= s.target) s.target = s.done + msg.steps;
  s.batch = msg.batch;
  s.lr = msg.lr;
  s.running = true;
  const m = model;
  const block = info.config.block_size;
  const textIds = scan(s.text, 0).ids;
  const perStep = s.batch * Math.min(block, textIds.length - 1);
  // a window of the training text: after every step the model must still give finite logits on it
  const probe = Uint32Array.from(textIds.subarray(0, Math.min(block, 32)));
  const lastGood = (step) => (step ? `the weights are those of the last good step (${step})` : "the weights are those from before training");
  const capital = (text) => text[0].toUpperCase() + text.slice(1);
  let reason = "done";
  let message = null;
  while (s.done < s.target) {
    if (!s.running || training !== s || model !== m) {
      reason = "paused";
      break;
    }
    const t0 = performance.now();
    let loss;
    try {
      loss = m.trainStep(s.batch, s.lr);
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw err;
      const why = errorMessage(err).replace(/\.$/, "");
      message =
        `Training step ${s.done + 1} failed: ${why}.` +
        (/not applied/.test(why) ? "" : " The update was not applied.") +
        ` ${capital(lastGood(s.done))}. Lower the learning rate and press Continue, or Reset.`;
    }
    if (message === null && !(Number.isFinite(loss) && outputFinite(m, probe))) {
      // A step can pass the library's checks (finite loss, gradient and weights) and still
      // leave weights whose forward pass overflows to NaN: undo it (weights and AdamW state).
      m.undoLastStep();
      message =
        `Training step ${s.done + 1} made the model's output non-finite (NaN or ∞): the update was undone and ` +
        `${lastGood(s.done)}. Lower the learning rate and press Continue, or Reset.`;
    }
    if (message !== null) {
      s.running = false;
      reason = "error";
      post({ type: "error", context: "train", message });
      break;
    }
    const ms = performance.now() - t0;
    s.done++;
    post({ type: "train-progress", step: s.done, target: s.target, loss, ms, tokensPerSec: (perStep / ms) * 1000 });
    await yieldToEvents();
  }
  if (training === s) s.running = false;
  post({ type: "train-stopped", reason, step: s.done, target: s.target, message });
}

function trainReset() {
  if (training) training.running = false;
  training = null;
  if (snapshot) {
    const { bytes, info: before } = snapshot;
    snapshot = null;
    const m = Model.fromSafetensors(bytes);
    const { config: _c, params: _p, vocab: _v, kernel: _k, ...meta } = before;
    install(m, meta);
  }
  post({ type: "train-reset" });
}

function getWeights() {
  if (!model) return;
  const bytes = model.toSafetensors();
  post({ type: "weights", bytes: bytes.buffer, name: info.name, steps: training ? training.done : 0 }, [bytes.buffer]);
}

const handlers = {
  "load-url": loadUrl,
  "load-bytes": loadBytes,
  "init-model": initModel,
  analyze,
  generate,
  stop: () => {
    if (generation) generation.stop = true;
  },
  "train-start": trainStart,
  "train-pause": () => {
    if (training) training.running = false;
  },
  "train-reset": trainReset,
  "get-weights": getWeights,
  stats: ({ id }) => post({ type: "stats", id, wasmMemoryBytes: wasm ? wasm.memory.buffer.byteLength : 0, training: !!(training && training.running), generating: !!generation }),
};

self.onmessage = async (e) => {
  const msg = e.data;
  const handler = handlers[msg && msg.type];
  if (!handler) {
    post({ type: "error", context: "worker", message: `Unknown request ${JSON.stringify(msg && msg.type)}` });
    return;
  }
  try {
    await wasmReady;
    await handler(msg);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      // a trap inside the wasm: its state can no longer be trusted, the page restarts the worker
      post({ type: "fatal", context: msg.type, message: `the model crashed (${errorMessage(err)})` });
      return;
    }
    post({ type: "error", context: msg.type, id: msg.id, message: errorMessage(err) });
  }
};
