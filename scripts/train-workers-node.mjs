// The page's data-parallel training workers (www/train-shard.js) on Node worker_threads, for the
// training benchmark (scripts/bench-train-workers.mjs) and tests: `nodeTrainingWorker(pkgDir)`
// starts one (this file, run as a worker) and returns it behind the Web Worker interface that
// www/data-parallel.js's TrainingPool expects (postMessage with transfers, addEventListener for
// "message" / "error" / "messageerror", terminate). `loadPackage(dir)` loads a wasm-bindgen
// package of either target (`--target web`: ES module + init; `--target nodejs`: CommonJS).

import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const ROLE = "kgpt-training-worker";

/** The package in `dir` (kgpt.js + kgpt_bg.wasm), initialised. */
export async function loadPackage(dir) {
  const js = readdirSync(dir).find((f) => f.endsWith(".js") && !f.endsWith("_bg.js"));
  const wasm = readdirSync(dir).find((f) => f.endsWith("_bg.wasm"));
  if (!js || !wasm) throw new Error(`${dir} is not a wasm-bindgen package (kgpt.js + kgpt_bg.wasm)`);
  if (/^export /m.test(readFileSync(join(dir, js), "utf8"))) {
    const pkg = await import(pathToFileURL(join(dir, js)).href);
    await pkg.default({ module_or_path: readFileSync(join(dir, wasm)) });
    return pkg;
  }
  return createRequire(import.meta.url)(join(dir, js));
}

/** A training worker thread on the package in `pkgDir`, as a Web-Worker-like object. */
export function nodeTrainingWorker(pkgDir) {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { role: ROLE, pkg: pkgDir } });
  let terminated = false;
  return {
    postMessage: (msg, transfer = []) => worker.postMessage(msg, transfer),
    addEventListener(type, fn) {
      if (type === "message") worker.on("message", (data) => fn({ data }));
      else if (type === "messageerror") worker.on("messageerror", () => fn({}));
      else if (type === "error") {
        worker.on("error", (err) => fn({ message: err && err.message }));
        // a thread that ends by itself (not by terminate) is a failed worker too
        worker.on("exit", (code) => terminated || fn({ message: `the thread exited with code ${code}` }));
      }
    },
    terminate() {
      terminated = true;
      return worker.terminate();
    },
  };
}

if (!isMainThread && workerData && workerData.role === ROLE) {
  const { shardHandler } = await import("../www/train-shard.js");
  const handle = shardHandler(await loadPackage(workerData.pkg));
  parentPort.on("message", (msg) => {
    const [reply, transfer] = handle(msg);
    parentPort.postMessage(reply, transfer);
  });
}
