#!/usr/bin/env node
// The `kgpt bench` benchmark compiled to WebAssembly, run under Node (>= 20): same measurements
// and JSON keys (runs[].forward_b1_t128_ms, gen_from_1tok_chars_per_s, gen_from_128tok_chars_per_s,
// train_b16_tokens_per_s, train_b32_tokens_per_s, ...), through the package's exported `runBench`.
//
//   node scripts/bench-wasm.mjs [--pkg DIR]... [--rounds N] [--quick] [--vocab-size N] [--json-out FILE]
//
// --pkg: a wasm-bindgen output directory, either `--target nodejs` or `--target web` (e.g. www/pkg,
// www/pkg-relaxed, built by scripts/build-wasm.sh). Repeat it to compare builds. Default:
// target/pkg-node and, when it exists, target/pkg-node-relaxed (scripts/bench-compare.sh builds both
// with `bash scripts/build-wasm.sh --target nodejs --out-dir target/pkg-node`).
// --rounds: run every package's benchmark N times, interleaved (A B A B ...), so a noisy machine
// slows all builds alike; the report keeps every round and the median relaxed/simd128 ratios.
// Node 20 needs --experimental-wasm-relaxed-simd for the relaxed build: the script restarts itself
// with it when a package needs it. The wasm is single-threaded, so there is one run (threads = 1).
// The top-level report is the first package's first round (what bench-compare.sh reads); `builds`
// has all of them.

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import { relaxedSimdValidates } from "../www/wasm-build.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

function usage(msg) {
  if (msg) console.error(`bench-wasm.mjs: error: ${msg}`);
  console.error(
    "usage: node scripts/bench-wasm.mjs [--pkg DIR]... [--rounds N] [--quick] [--vocab-size N] [--json-out FILE]",
  );
  process.exit(msg ? 2 : 0);
}

const opts = { pkgs: [], rounds: 1, quick: false, vocab: 89, out: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  if (a === "--pkg") opts.pkgs.push(resolve(val()));
  else if (a === "--rounds") {
    opts.rounds = Number.parseInt(val(), 10);
    if (!(opts.rounds >= 1)) usage("--rounds must be an integer >= 1");
  } else if (a === "--quick") opts.quick = true;
  else if (a === "--vocab-size") {
    opts.vocab = Number.parseInt(val(), 10);
    if (!(opts.vocab >= 2)) usage("--vocab-size must be an integer >= 2");
  } else if (a === "--json-out") opts.out = resolve(val());
  else if (a === "-h" || a === "--help") usage();
  else usage(`unknown argument ${a}`);
}
if (opts.pkgs.length === 0) {
  opts.pkgs.push(join(root, "target", "pkg-node"));
  if (existsSync(join(root, "target", "pkg-node-relaxed"))) opts.pkgs.push(join(root, "target", "pkg-node-relaxed"));
}

/** {js, wasm} file names of a wasm-bindgen package (exits with a usage message if it is not one). */
function packageFiles(dir) {
  if (!existsSync(dir)) {
    usage(
      `no wasm package at ${dir}; build it with\n  bash scripts/build-wasm.sh --target nodejs ` +
        `--out-dir target/pkg-node\n(or pass --pkg www/pkg after scripts/build-wasm.sh)`,
    );
  }
  const wasm = readdirSync(dir).find((f) => f.endsWith("_bg.wasm"));
  const js = readdirSync(dir).find((f) => f.endsWith(".js") && !f.endsWith("_bg.js"));
  if (!wasm || !js) usage(`${dir} does not look like a wasm-bindgen package (kgpt.js + kgpt_bg.wasm)`);
  return { js, wasm };
}

/** True when the module at `file` needs an engine feature this Node lacks (relaxed SIMD, on Node 20). */
function needsRelaxedFlag(file) {
  return !WebAssembly.validate(readFileSync(file)) && !relaxedSimdValidates();
}

const files = opts.pkgs.map((dir) => ({ dir, ...packageFiles(dir) }));
if (files.some((f) => needsRelaxedFlag(join(f.dir, f.wasm)))) {
  if (process.execArgv.includes(RELAXED_FLAG)) usage("a package does not validate even with relaxed SIMD on");
  // Node 20: relaxed SIMD is behind a flag; run again with it (every package in that one process)
  const child = spawnSync(process.execPath, [...process.execArgv, RELAXED_FLAG, ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

/** Loads a package: `--target web` ones are ES modules with a default init(); `--target nodejs` ones CommonJS. */
async function load({ dir, js, wasm }) {
  const glue = readFileSync(join(dir, js), "utf8");
  if (/^export /m.test(glue)) {
    const pkg = await import(pathToFileURL(join(dir, js)).href);
    await pkg.default({ module_or_path: readFileSync(join(dir, wasm)) });
    return pkg;
  }
  return createRequire(import.meta.url)(join(dir, js));
}

const builds = [];
for (const f of files) {
  const pkg = await load(f);
  if (typeof pkg.runBench !== "function") usage(`${f.dir}: the package does not export runBench`);
  const bytes = readFileSync(join(f.dir, f.wasm));
  builds.push({
    pkg: f.dir,
    kernels: pkg.kernelName(),
    wasm_bytes: statSync(join(f.dir, f.wasm)).size,
    wasm_gzip_bytes: gzipSync(bytes, { level: 9 }).length,
    run: pkg.runBench,
    reports: [],
  });
}

// Interleaved rounds: A B A B ... (the machine's load drifts; ratios within a round are fair).
for (let round = 0; round < opts.rounds; round++) {
  for (const b of builds) {
    const t0 = performance.now();
    const report = JSON.parse(b.run(opts.quick, opts.vocab, () => performance.now()));
    report.wall_s = (performance.now() - t0) / 1e3;
    b.reports.push(report);
    for (const r of report.runs) console.error(JSON.stringify({ kernels: b.kernels, round, ...r }));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const RATIO_KEYS = ["forward_b1_t128_ms", "forward_b1_t128_ms_min", "gen_from_1tok_chars_per_s", "gen_from_128tok_chars_per_s", "train_b16_tokens_per_s", "train_b32_tokens_per_s"];
/** Per key: the median, min and max over rounds of b's figure / base's figure (same round). */
function ratios(b, base) {
  const out = {};
  for (const k of RATIO_KEYS) {
    const rs = b.reports.map((r, i) => r.runs[0][k] / base.reports[i].runs[0][k]).filter(Number.isFinite);
    if (rs.length) out[k] = { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) };
  }
  return out;
}

const first = builds[0];
const report = {
  ...first.reports[0],
  node: process.version,
  node_flags: process.execArgv,
  wasm_bytes: first.wasm_bytes,
  wasm_gzip_bytes: first.wasm_gzip_bytes,
  builds: builds.map(({ run: _run, ...b }) => b),
};
const relaxed = builds.find((b) => b.kernels.includes("relaxed"));
const simd = builds.find((b) => !b.kernels.includes("relaxed"));
if (relaxed && simd) report.relaxed_vs_simd128 = ratios(relaxed, simd);
const text = JSON.stringify(report, null, 1);
if (opts.out) writeFileSync(opts.out, text);
console.log(text);
