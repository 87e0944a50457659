// Data-parallel training over K Web Workers, coordinated from the model worker (worker.js).
// Each training worker (train-worker.js) has its own wasm instance, the same weights and the
// same training text. A step's batch is cut into `gradientChunkCount(batch)` chunks of
// consecutive rows (at most 16, the wasm API's); per step:
//   1. the coordinator gives each worker a run of whole chunks (`shareChunks`) with the current
//      weights (one transferable buffer each);
//   2. every worker returns its chunks' gradients (the first worker their sum, one block: the
//      same additions the coordinator would make) and its rows' losses (`gradientChunks`);
//   3. the coordinator adds the replies in worker order as they arrive (`addGradients`), then
//      applies AdamW once (`applyGradientSum`); the next request carries the new weights.
// Every worker draws the same batch and keys dropout by row, so a step is a one-worker step on
// the same batch bit for bit, whatever K. If any worker fails or goes silent, the step is not
// applied: the pool rejects with a `TrainingWorkerError` and the coordinator stops training with
// its message. No SharedArrayBuffer: any static host works.

import { FromShard, ToShard } from "./protocol.js";

/** The `#train-workers` input's range (a step has at most 16 gradient chunks to share out). */
export const MAX_TRAIN_WORKERS = 16;

/** The default worker count: one per core the browser reports, within 1…MAX_TRAIN_WORKERS. */
export function defaultWorkerCount(hardwareConcurrency) {
  const n = Math.floor(Number(hardwareConcurrency));
  return Number.isFinite(n) ? Math.min(Math.max(n, 1), MAX_TRAIN_WORKERS) : 1;
}

/**
 * `[first, end)` chunk ranges splitting `chunks` chunks over `workers` (at most one worker per
 * chunk): contiguous, in order, sizes differing by at most one (the first ones larger).
 */
export function shareChunks(chunks, workers) {
  const k = Math.max(1, Math.min(workers, chunks));
  const base = Math.floor(chunks / k);
  const extra = chunks % k;
  const shares = [];
  let first = 0;
  for (let i = 0; i < k; i++) {
    const end = first + base + (i < extra ? 1 : 0);
    shares.push([first, end]);
    first = end;
  }
  return shares;
}

/** The row losses of the workers' replies ({rowLosses: ArrayBuffer}), in worker order, as one array. */
export function concatRowLosses(replies) {
  const out = new Float32Array(replies.reduce((n, r) => n + r.rowLosses.byteLength / 4, 0));
  let at = 0;
  for (const r of replies) {
    out.set(new Float32Array(r.rowLosses), at);
    at += r.rowLosses.byteLength / 4;
  }
  return out;
}

/** A training worker failed or went silent: the step it was part of was not applied. */
export class TrainingWorkerError extends Error {
  constructor(index, count, why) {
    super(`training worker ${index + 1} of ${count} ${why}`);
    this.name = "TrainingWorkerError";
  }
}

/** How long a worker may take to answer: generous, and longer once steps are known to be slow. */
const MIN_TIMEOUT_MS = 60000;
const TIMEOUT_STEP_FACTOR = 20;

/**
 * K training workers. `spawn(index)` returns a Worker (or anything with postMessage,
 * addEventListener("message" | "error" | "messageerror") and terminate).
 */
export class TrainingPool {
  constructor(count, spawn, { timeoutMs = MIN_TIMEOUT_MS } = {}) {
    this.count = count;
    this.baseTimeoutMs = timeoutMs;
    this.slowestMs = 0;
    this.nextId = 1;
    /** id → {resolve, reject, timer} of each request awaiting its reply. */
    this.pending = new Map();
    this.failure = null;
    this.workers = Array.from({ length: count }, (_, index) => {
      const w = spawn(index);
      w.addEventListener("message", (e) => this.onReply(index, e.data));
      w.addEventListener("error", (e) => {
        if (e && typeof e.preventDefault === "function") e.preventDefault();
        this.fail(new TrainingWorkerError(index, count, `stopped (${(e && e.message) || "an error in the worker"})`));
      });
      w.addEventListener("messageerror", () => this.fail(new TrainingWorkerError(index, count, "sent a message that could not be read")));
      return w;
    });
  }

  /** Ends every worker; pending requests reject. */
  terminate() {
    for (const w of this.workers) w.terminate();
    this.fail(new Error("the training workers were stopped"));
  }

  /** Rejects every pending request with `error` (one failed worker fails the whole step) and remembers the first failure. */
  fail(error) {
    if (!this.failure) this.failure = error;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(error);
    }
  }

  onReply(index, msg) {
    const p = this.pending.get(msg && msg.id);
    if (!p) return;
    if (msg.type === FromShard.ERROR) {
      this.fail(new TrainingWorkerError(index, this.count, `failed: ${msg.message}`));
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(msg.id);
    p.resolve(msg);
  }

  /** Sends worker `index` one request; resolves with its reply. */
  request(index, msg, transfer = []) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = Math.max(this.baseTimeoutMs, TIMEOUT_STEP_FACTOR * this.slowestMs);
      const timer = setTimeout(() => {
        this.fail(new TrainingWorkerError(index, this.count, `did not answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.workers[index].postMessage({ ...msg, id }, transfer);
    });
  }

  /** Loads the model (safetensors `bytes`) and training text into every worker; resolves with their kernel names. */
  async load({ bytes, text, seed }) {
    const replies = await Promise.all(this.workers.map((_, i) => this.request(i, { type: ToShard.LOAD, bytes, text, seed })));
    return replies.map((r) => r.kernel);
  }

  /**
   * The gradient of step `step`'s batch of `batch` rows (`chunks` gradient chunks) with weights
   * `params` (Float32Array; its buffer is transferred to the last worker, so it is the
   * caller's no longer), shared out over the workers: each reply is handed to
   * `add(grads: Float32Array, chunks, first)` in worker order as soon as it and those before it
   * are in (the model's addGradients). Resolves with {rowLosses, tokens, shares (chunks per
   * worker), timing: {workerMs (the slowest worker's computing), roundTripMs, addMs}}. Rejects
   * if any worker fails (or `add` throws); then nothing of this step may be applied.
   */
  async gradients({ step, batch, chunks, params, add }) {
    const t0 = performance.now();
    const shares = shareChunks(chunks, this.count);
    const pending = shares.map(([first, end], i) => {
      const copy = i === shares.length - 1 ? params : params.slice();
      const msg = { type: ToShard.GRADIENTS, step, batch, first, end, summed: i === 0, params: copy.buffer };
      return this.request(i, msg, [copy.buffer]);
    });
    // awaited in order below; a later one failing first must not be an unhandled rejection
    for (const p of pending) p.catch(() => {});
    const replies = [];
    let addMs = 0;
    for (const [i, p] of pending.entries()) {
      const r = await p;
      const t = performance.now();
      add(new Float32Array(r.grads), r.chunks, i === 0);
      addMs += performance.now() - t;
      replies.push(r);
    }
    const roundTripMs = performance.now() - t0;
    this.slowestMs = Math.max(this.slowestMs, roundTripMs);
    return {
      rowLosses: concatRowLosses(replies),
      tokens: replies.reduce((n, r) => n + r.tokens, 0),
      shares: shares.map(([a, b]) => b - a),
      timing: { workerMs: Math.max(...replies.map((r) => r.ms)), roundTripMs, addMs },
    };
  }
}
