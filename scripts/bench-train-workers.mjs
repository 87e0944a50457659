#!/usr/bin/env node
// In-page training's data-parallel path under Node: training tokens/s of the shipped model
// (weights/kannada-gpt.safetensors) on the built-in proverbs with 1 worker (trainStep in this
// thread) and K training workers (worker_threads running the page's www/train-shard.js, the
// coordinator being the page's www/data-parallel.js TrainingPool with addGradients /
// applyGradientSum). Worker counts are interleaved within each round; the losses of every count
// must be identical (bit for bit) or the script fails.
//
//   node scripts/bench-train-workers.mjs [--pkg DIR] [--workers 1,2] [--rounds N] [--steps N]
//                                        [--batch N] [--quick] [--json-out FILE]
//
// --pkg: a wasm-bindgen package (default www/pkg, built by scripts/build-wasm.sh; a relaxed-SIMD
// one makes the script restart itself with --experimental-wasm-relaxed-simd on Node 20).
// Defaults: --workers 1,2 --rounds 3 --steps 8 --batch 16 (--quick: 1 round of 3 steps).

import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { relaxedSimdValidates } from "../www/wasm-build.js";
import { TrainingPool } from "../www/data-parallel.js";
import { loadPackage, nodeTrainingWorker } from "./train-workers-node.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

function usage(msg) {
  if (msg) console.error(`bench-train-workers.mjs: error: ${msg}`);
  console.error("usage: node scripts/bench-train-workers.mjs [--pkg DIR] [--workers 1,2] [--rounds N] [--steps N] [--batch N] [--quick] [--json-out FILE]");
  process.exit(msg ? 2 : 0);
}

const opts = { pkg: join(root, "www/pkg"), workers: [1, 2], rounds: 3, steps: 8, batch: 16, out: null };
const argv = process.argv.slice(2);
const positiveInt = (flag, v, max = Infinity) => {
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= 1 && n <= max)) usage(`${flag} must be an integer in 1..${max}, not “${v}”`);
  return n;
};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  if (a === "--pkg") opts.pkg = resolve(val());
  else if (a === "--workers") opts.workers = val().split(",").map((w) => positiveInt("--workers", w, 16));
  else if (a === "--rounds") opts.rounds = positiveInt(a, val());
  else if (a === "--steps") opts.steps = positiveInt(a, val());
  else if (a === "--batch") opts.batch = positiveInt(a, val(), 512);
  else if (a === "--quick") Object.assign(opts, { rounds: 1, steps: 3 });
  else if (a === "--json-out") opts.out = resolve(val());
  else if (a === "-h" || a === "--help") usage();
  else usage(`unknown argument ${a}`);
}

let wasmFile;
try {
  wasmFile = join(opts.pkg, readdirSync(opts.pkg).find((f) => f.endsWith("_bg.wasm")) || "kgpt_bg.wasm");
  readFileSync(wasmFile);
} catch {
  usage(`no wasm package at ${opts.pkg}; build it with bash scripts/build-wasm.sh`);
}
if (!WebAssembly.validate(readFileSync(wasmFile)) && !relaxedSimdValidates()) {
  if (process.execArgv.includes(RELAXED_FLAG)) usage(`${opts.pkg} does not validate even with relaxed SIMD on`);
  const child = spawnSync(process.execPath, [...process.execArgv, RELAXED_FLAG, ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const pkg = await loadPackage(opts.pkg);
const WEIGHTS = readFileSync(join(root, "weights/kannada-gpt.safetensors"));
const TEXT = pkg.nfc(readFileSync(join(root, "www/data/proverbs.txt"), "utf8"));
const SEED = 7;
const LR = 1e-3;

function freshModel() {
  const m = pkg.Model.fromSafetensors(new Uint8Array(WEIGHTS));
  m.setTrainingText(TEXT, SEED);
  return m;
}

/** `opts.steps` steps (after one untimed step) with `k` workers: {tokensPerSec, losses}. */
async function run(k) {
  const m = freshModel();
  const window = Math.min(JSON.parse(m.configJson()).block_size, TEXT.length);
  const chunks = pkg.gradientChunkCount(opts.batch);
  let pool = null;
  try {
    let step;
    if (k === 1) step = () => m.trainStep(opts.batch, LR);
    else {
      pool = new TrainingPool(k, () => nodeTrainingWorker(opts.pkg));
      await pool.load({ bytes: WEIGHTS, text: TEXT, seed: SEED });
      const add = (grads, count, first) => m.addGradients(grads, count, first);
      step = async () => {
        const shares = await pool.gradients({ step: m.stepCount(), batch: opts.batch, chunks, params: m.params(), add });
        return m.applyGradientSum(shares.rowLosses, LR);
      };
    }
    const losses = [await step()];
    const t0 = performance.now();
    for (let i = 0; i < opts.steps; i++) losses.push(await step());
    const s = (performance.now() - t0) / 1000;
    return { tokensPerSec: (opts.steps * opts.batch * window) / s, losses };
  } finally {
    if (pool) pool.terminate();
    m.free();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const perWorkers = Object.fromEntries(opts.workers.map((k) => [k, []]));
let reference = null;
for (let round = 0; round < opts.rounds; round++) {
  for (const k of opts.workers) {
    const r = await run(k);
    if (reference === null) reference = r.losses;
    else if (r.losses.some((l, i) => l !== reference[i])) {
      console.error(`bench-train-workers.mjs: error: ${k} workers trained differently: losses ${r.losses} vs ${reference}`);
      process.exit(1);
    }
    perWorkers[k].push(r.tokensPerSec);
    console.error(JSON.stringify({ round, workers: k, tokens_per_s: Math.round(r.tokensPerSec) }));
  }
}
const base = opts.workers[0];
const report = {
  kernels: pkg.kernelName(),
  node: process.version,
  batch: opts.batch,
  steps: opts.steps,
  rounds: opts.rounds,
  runs: opts.workers.map((k) => {
    const ratios = perWorkers[k].map((x, i) => x / perWorkers[base][i]);
    return {
      workers: k,
      tokens_per_s: median(perWorkers[k]),
      tokens_per_s_rounds: perWorkers[k],
      [`vs_${base}_worker${base > 1 ? "s" : ""}`]: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
    };
  }),
};
const text = JSON.stringify(report, null, 1);
if (opts.out) writeFileSync(opts.out, text);
console.log(text);
