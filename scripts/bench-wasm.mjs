#!/usr/bin/env node
// The `kgpt bench` benchmark compiled to WebAssembly, run under Node (>= 20): same measurements
// and JSON keys (runs[].forward_b1_t128_ms, gen_from_1tok_chars_per_s, gen_from_128tok_chars_per_s,
// train_b16_tokens_per_s, train_b32_tokens_per_s, ...), through the package's exported `runBench`.
//
//   node scripts/bench-wasm.mjs [--pkg DIR] [--quick] [--vocab-size N] [--json-out FILE]
//
// --pkg: a wasm-bindgen output directory, either `--target nodejs` (default: target/pkg-node, built by
// scripts/bench-compare.sh with
//   bash scripts/build-wasm.sh --target nodejs --out-dir target/pkg-node)
// or `--target web` (e.g. www/pkg, built by scripts/build-wasm.sh).
// The wasm is single-threaded, so there is one run (threads = 1).

import { createRequire } from "node:module";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function usage(msg) {
  if (msg) console.error(`bench-wasm.mjs: error: ${msg}`);
  console.error(
    "usage: node scripts/bench-wasm.mjs [--pkg DIR] [--quick] [--vocab-size N] [--json-out FILE]",
  );
  process.exit(msg ? 2 : 0);
}

const opts = { pkg: join(root, "target", "pkg-node"), quick: false, vocab: 89, out: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  if (a === "--pkg") opts.pkg = resolve(val());
  else if (a === "--quick") opts.quick = true;
  else if (a === "--vocab-size") {
    opts.vocab = Number.parseInt(val(), 10);
    if (!(opts.vocab >= 2)) usage("--vocab-size must be an integer >= 2");
  } else if (a === "--json-out") opts.out = resolve(val());
  else if (a === "-h" || a === "--help") usage();
  else usage(`unknown argument ${a}`);
}

if (!existsSync(opts.pkg)) {
  usage(
    `no wasm package at ${opts.pkg}; build it with\n  bash scripts/build-wasm.sh --target nodejs ` +
      `--out-dir target/pkg-node\n(or pass --pkg www/pkg after scripts/build-wasm.sh)`,
  );
}
const wasmFile = readdirSync(opts.pkg).find((f) => f.endsWith("_bg.wasm"));
const jsFile = readdirSync(opts.pkg).find((f) => f.endsWith(".js") && !f.endsWith("_bg.js"));
if (!wasmFile || !jsFile) usage(`${opts.pkg} does not look like a wasm-bindgen package (kgpt.js + kgpt_bg.wasm)`);

// Load: `--target web` packages are ES modules with a default init(); `--target nodejs` ones are
// CommonJS that instantiate on require.
const glue = readFileSync(join(opts.pkg, jsFile), "utf8");
const isEsm = /^export /m.test(glue);
let wasm;
if (isEsm) {
  wasm = await import(pathToFileURL(join(opts.pkg, jsFile)).href);
  const bytes = readFileSync(join(opts.pkg, wasmFile));
  await wasm.default({ module_or_path: bytes });
} else {
  wasm = createRequire(import.meta.url)(join(opts.pkg, jsFile));
}
if (typeof wasm.runBench !== "function") usage("the package does not export runBench");

const wasmBytes = readFileSync(join(opts.pkg, wasmFile));
const t0 = performance.now();
const report = JSON.parse(wasm.runBench(opts.quick, opts.vocab, () => performance.now()));
report.node = process.version;
report.wasm_bytes = statSync(join(opts.pkg, wasmFile)).size;
report.wasm_gzip_bytes = gzipSync(wasmBytes, { level: 9 }).length;
report.wall_s = (performance.now() - t0) / 1e3;
for (const r of report.runs) console.error(JSON.stringify(r));
const text = JSON.stringify(report, null, 1);
if (opts.out) writeFileSync(opts.out, text);
console.log(text);
