// Data-parallel training (www/data-parallel.js, www/train-shard.js) under Node with the real
// wasm build: K in-process training workers running the page's shard handler must give, step
// for step, what one worker's trainStep gives on the same batch (≤ 1e-5, dropout 0.1 on), for
// K = 1, 2, 3 with uneven shares; a worker that fails, goes silent or crashes mid-step makes the
// step reject, so nothing of it is applied. The page's own path (worker.js with real nested
// Web Workers, `#train-workers`) is covered in generate-train.test.mjs.
//
//     node --test tests/e2e/data-parallel.test.mjs   (needs www/pkg: bash scripts/build-wasm.sh)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ROOT } from "./helpers.mjs";

const pkg = await import(join(ROOT, "www/pkg/kgpt.js"));
await pkg.default({ module_or_path: readFileSync(join(ROOT, "www/pkg/kgpt_bg.wasm")) });
const { TrainingPool, TrainingWorkerError, concatRowLosses, defaultWorkerCount, shareChunks } = await import(join(ROOT, "www/data-parallel.js"));
const { shardHandler } = await import(join(ROOT, "www/train-shard.js"));
const { FromShard, ToShard } = await import(join(ROOT, "www/protocol.js"));

// product_gpt: the shipped shape (4 × 4 × 64, block 128) with dropout 0.1.
const WEIGHTS = readFileSync(join(ROOT, "tests/fixtures/product_gpt.safetensors"));
const TEXT = readFileSync(join(ROOT, "www/data/proverbs.txt"), "utf8");
const SEED = 7;
const LR = 3e-3;

/**
 * A training worker in this process: the page's shard handler behind the Worker interface
 * (replies asynchronously, like postMessage). `fault(msg)` may return "error" (an `error` event,
 * as when the worker's script throws), "silent" (never answers) or "reject" (an error reply).
 */
class InProcessWorker {
  constructor(fault = () => null) {
    this.handle = shardHandler(pkg);
    this.listeners = { message: [], error: [], messageerror: [] };
    this.fault = fault;
    this.terminated = false;
  }
  addEventListener(type, fn) {
    this.listeners[type].push(fn);
  }
  dispatch(type, event) {
    for (const fn of this.listeners[type]) fn(event);
  }
  postMessage(msg) {
    const copy = structuredClone(msg);
    setTimeout(() => {
      if (this.terminated) return;
      const fault = this.fault(copy);
      if (fault === "silent") return;
      if (fault === "error") return this.dispatch("error", { message: "Uncaught RangeError: out of memory", preventDefault() {} });
      if (fault === "reject") return this.dispatch("message", { data: { type: FromShard.ERROR, id: copy.id, message: "unreachable executed" } });
      const [reply] = this.handle(copy);
      this.dispatch("message", { data: reply });
    }, 0);
  }
  terminate() {
    this.terminated = true;
  }
}

function model() {
  const m = pkg.Model.fromSafetensors(new Uint8Array(WEIGHTS));
  m.setTrainingText(TEXT, SEED);
  return m;
}


describe("data-parallel training", () => {
  test("shares: runs of whole chunks, in order, sizes within one, never empty", () => {
    assert.deepEqual(shareChunks(8, 1), [[0, 8]]);
    assert.deepEqual(shareChunks(8, 3), [[0, 3], [3, 6], [6, 8]]);
    assert.deepEqual(shareChunks(5, 2), [[0, 3], [3, 5]]);
    assert.deepEqual(shareChunks(2, 5), [[0, 1], [1, 2]]);
    assert.deepEqual(shareChunks(1, 16), [[0, 1]]);
    assert.deepEqual([pkg.gradientChunkCount(1), pkg.gradientChunkCount(8), pkg.gradientChunkCount(16), pkg.gradientChunkCount(512)], [1, 8, 16, 16]);
    assert.deepEqual([defaultWorkerCount(2), defaultWorkerCount(64), defaultWorkerCount(undefined), defaultWorkerCount(0)], [2, 16, 1, 1]);
  });

  test("the row losses are joined in worker order", () => {
    const part = (l) => ({ rowLosses: Float32Array.from(l).buffer });
    assert.deepEqual(Array.from(concatRowLosses([part([0.5]), part([0.25, 0.125])])), [0.5, 0.25, 0.125]);
  });

  for (const [workers, batch] of [[1, 5], [2, 5], [3, 5], [3, 8], [5, 20]]) {
    test(`${workers} workers, batch ${batch}: every step is one worker's trainStep bit for bit (losses and weights)`, async (t) => {
      const one = model();
      const coordinator = model();
      const pool = new TrainingPool(workers, () => new InProcessWorker());
      try {
        const kernels = await pool.load({ bytes: WEIGHTS, text: TEXT, seed: SEED });
        assert.deepEqual(kernels, Array(workers).fill(pkg.kernelName()));
        const chunks = pkg.gradientChunkCount(batch);
        const losses = [];
        for (let step = 0; step < 3; step++) {
          const want = one.trainStep(batch, LR);
          const added = [];
          const add = (grads, count, first) => {
            added.push([grads.length / coordinator.paramCount(), count, first]);
            coordinator.addGradients(grads, count, first);
          };
          const shares = await pool.gradients({ step: coordinator.stepCount(), batch, chunks, params: coordinator.params(), add });
          const counts = shareChunks(chunks, workers).map(([a, b]) => b - a);
          assert.deepEqual(shares.shares, counts);
          // in worker order; the first worker's chunks arrive as one summed block
          assert.deepEqual(added, counts.map((c, i) => [i === 0 ? 1 : c, c, i === 0]));
          assert.equal(shares.rowLosses.length, batch);
          assert.equal(shares.tokens, batch * 128);
          const got = coordinator.applyGradientSum(shares.rowLosses, LR);
          assert.equal(got, want, `step ${step}`);
          assert.deepEqual(coordinator.params(), one.params(), `step ${step}: the weights differ`);
          losses.push(got);
        }
        assert.equal(coordinator.stepCount(), 3);
        assert.ok(losses[2] < losses[0], `training lowers the loss: ${losses}`);
        t.diagnostic(`chunks per worker ${JSON.stringify(shareChunks(chunks, workers).map(([a, b]) => b - a))}; losses ${losses.map((l) => l.toFixed(6))}`);
      } finally {
        pool.terminate();
        one.free();
        coordinator.free();
      }
    });
  }

  test("real threads: 2 worker_threads running train-shard.js train what trainStep trains, bit for bit", async () => {
    const { nodeTrainingWorker } = await import(join(ROOT, "scripts/train-workers-node.mjs"));
    const one = model();
    const coordinator = model();
    const pool = new TrainingPool(2, () => nodeTrainingWorker(join(ROOT, "www/pkg")));
    try {
      assert.deepEqual(await pool.load({ bytes: WEIGHTS, text: TEXT, seed: SEED }), [pkg.kernelName(), pkg.kernelName()]);
      const add = (grads, count, first) => coordinator.addGradients(grads, count, first);
      for (let step = 0; step < 2; step++) {
        const want = one.trainStep(8, LR);
        const shares = await pool.gradients({ step, batch: 8, chunks: 8, params: coordinator.params(), add });
        assert.equal(coordinator.applyGradientSum(shares.rowLosses, LR), want);
        assert.deepEqual(coordinator.params(), one.params());
      }
    } finally {
      pool.terminate();
      one.free();
      coordinator.free();
    }
  });

  for (const fault of ["error", "silent", "reject"]) {
    test(`a worker that ${{ error: "crashes", silent: "goes silent", reject: "fails" }[fault]} mid-step: the step rejects and nothing is applied`, async () => {
      const coordinator = model();
      let requests = 0;
      // worker 2 of 3 fails its second gradient request
      const pool = new TrainingPool(3, (i) => new InProcessWorker((msg) => (i === 1 && msg.type === ToShard.GRADIENTS && ++requests === 2 ? fault : null)), { timeoutMs: 300 });
      try {
        await pool.load({ bytes: WEIGHTS, text: TEXT, seed: SEED });
        const add = (grads, count, first) => coordinator.addGradients(grads, count, first);
        const first = await pool.gradients({ step: 0, batch: 6, chunks: 6, params: coordinator.params(), add });
        coordinator.applyGradientSum(first.rowLosses, LR);
        const before = coordinator.params();
        await assert.rejects(pool.gradients({ step: 1, batch: 6, chunks: 6, params: coordinator.params(), add }), (err) => {
          assert.ok(err instanceof TrainingWorkerError, String(err));
          assert.match(err.message, /^training worker 2 of 3 /);
          assert.match(err.message, fault === "silent" ? /did not answer within/ : fault === "error" ? /out of memory/ : /unreachable/);
          return true;
        });
        // the coordinator applies nothing after a rejection: weights and step as before, and
        // the half-assembled sum (worker 1's share) cannot be applied
        assert.equal(coordinator.stepCount(), 1);
        assert.deepEqual(coordinator.params(), before);
        assert.throws(() => coordinator.applyGradientSum(first.rowLosses, LR), /chunks/);
        assert.deepEqual(coordinator.params(), before);
        // a failed pool refuses further steps rather than mixing old and new workers
        await assert.rejects(pool.gradients({ step: 1, batch: 6, chunks: 6, params: before, add }), TrainingWorkerError);
      } finally {
        pool.terminate();
        coordinator.free();
      }
    });
  }

  test("bad requests are error replies, never throws", () => {
    const handle = shardHandler(pkg);
    const [noModel] = handle({ type: ToShard.GRADIENTS, id: 1, step: 0, batch: 2, first: 0, end: 1, params: new ArrayBuffer(4) });
    assert.equal(noModel.type, FromShard.ERROR);
    assert.match(noModel.message, /no model/);
    const [bad] = handle({ type: ToShard.LOAD, id: 2, bytes: new Uint8Array([1, 2, 3]).buffer, text: TEXT, seed: 1 });
    assert.equal(bad.type, FromShard.ERROR);
    const [ok] = handle({ type: ToShard.LOAD, id: 3, bytes: WEIGHTS.buffer.slice(WEIGHTS.byteOffset, WEIGHTS.byteOffset + WEIGHTS.length), text: TEXT, seed: 1 });
    assert.equal(ok.type, FromShard.READY);
    const [wrongLength] = handle({ type: ToShard.GRADIENTS, id: 4, step: 0, batch: 2, first: 0, end: 1, params: new ArrayBuffer(8) });
    assert.match(wrongLength.message, /parameters/);
    const [unknown] = handle({ type: "nonsense", id: 5 });
    assert.match(unknown.message, /unknown request/);
  });
});
