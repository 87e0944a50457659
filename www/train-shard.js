// One training worker's work in data-parallel training (www/data-parallel.js): hold a copy of
// the model and its training text, and answer "the gradients of chunks first..end of step s's
// batch with these weights" (the wasm API's gradientChunks). No optimizer lives here: the
// coordinator applies the averaged gradient once and sends the new weights with every request.
// Kept apart from train-worker.js (which only wires it to `self`) so tests can run it in Node.

import { FromShard, ToShard } from "./protocol.js";

const errorMessage = (err) => (err && typeof err.message === "string" ? err.message : String(err));

/**
 * A message handler over the wasm package `pkg` (its Model, kernelName): `handle(msg)` returns
 * `[reply, transfer]`; a failed request is a FromShard.ERROR reply, never a throw.
 */
export function shardHandler(pkg) {
  let model = null;
  function load({ id, bytes, text, seed }) {
    if (model) model.free();
    model = null;
    const m = pkg.Model.fromSafetensors(new Uint8Array(bytes));
    try {
      m.setTrainingText(text, seed);
    } catch (err) {
      m.free();
      throw err;
    }
    model = m;
    return [{ type: FromShard.READY, id, kernel: pkg.kernelName(), params: m.paramCount() }, []];
  }
  function gradients({ id, step, batch, first, end, summed, params }) {
    if (!model) throw new Error("no model loaded");
    const t0 = performance.now();
    model.setParams(new Float32Array(params));
    const share = model.gradientChunks(batch, first, end, step, !!summed);
    try {
      const grads = share.grads();
      const rowLosses = share.rowLosses();
      const reply = { type: FromShard.GRADIENTS, id, chunks: share.chunks, summed: share.summed, tokens: share.tokens, grads: grads.buffer, rowLosses: rowLosses.buffer, ms: performance.now() - t0 };
      return [reply, [grads.buffer, rowLosses.buffer]];
    } finally {
      share.free();
    }
  }
  return function handle(msg) {
    try {
      if (msg.type === ToShard.LOAD) return load(msg);
      if (msg.type === ToShard.GRADIENTS) return gradients(msg);
      throw new Error(`unknown request “${msg.type}”`);
    } catch (err) {
      return [{ type: FromShard.ERROR, id: msg.id, message: errorMessage(err) }, []];
    }
  };
}
