// A training worker of data-parallel training (www/data-parallel.js starts K of them from the
// model worker): its own wasm instance of the build named in its URL (`?build=relaxed` or
// `simd128`, the model worker's, so every worker rounds alike), answering ToShard requests.

import { FromShard } from "./protocol.js";
import { loadWasmBuild } from "./wasm-build.js";
import { shardHandler } from "./train-shard.js";

const build = new URL(self.location.href).searchParams.get("build") === "simd128" ? "simd128" : "relaxed";
const handlerReady = loadWasmBuild(build).then(({ pkg }) => shardHandler(pkg));

self.onmessage = async (event) => {
  let handle;
  try {
    handle = await handlerReady;
  } catch (err) {
    self.postMessage({ type: FromShard.ERROR, id: event.data.id, message: `its wasm module did not load (${err && err.message ? err.message : err})` });
    return;
  }
  const [reply, transfer] = handle(event.data);
  self.postMessage(reply, transfer);
};
