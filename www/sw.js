// Service worker: makes the viewer work offline once it has been opened.
//
// Install caches the app shell, both wasm builds, the fonts, the built-in text and the shipped weights.
// Every GET goes to the network first (so a new model or page version is picked up as soon as
// it is online) and falls back to the cache when the network fails; successful same-origin
// responses refresh the cache.

const CACHE = "kgpt-viewer-v1";
const SHELL = [
  "./",
  "index.html",
  "style.css",
  "main.js",
  "app.js",
  "state.js",
  "protocol.js",
  "analysis.js",
  "format.js",
  "heatmap.js",
  "chart.js",
  "inspect.js",
  "char-names.js",
  "panels/text.js",
  "panels/examples.js",
  "panels/strip.js",
  "panels/next-char.js",
  "panels/heads.js",
  "panels/knockout.js",
  "panels/roles.js",
  "panels/heads-table.js",
  "panels/lens.js",
  "panels/timeline.js",
  "panels/embedding.js",
  "panels/generation.js",
  "panels/training.js",
  "panels/weights.js",
  "panels/share.js",
  "panels/bench.js",
  "worker.js",
  "data-parallel.js",
  "train-worker.js",
  "train-shard.js",
  "bench-worker.js",
  "wasm-build.js",
  "icon.svg",
  "pkg/kgpt.js",
  "pkg/kgpt_bg.wasm",
  // the relaxed-SIMD build (wasm-build.js picks it where the browser validates relaxed SIMD)
  "pkg-relaxed/kgpt.js",
  "pkg-relaxed/kgpt_bg.wasm",
  "data/proverbs.txt",
  "fonts/noto-sans-kannada-kannada-400-normal.woff2",
  "fonts/noto-sans-kannada-kannada-600-normal.woff2",
  "fonts/noto-sans-kannada-latin-400-normal.woff2",
  "fonts/noto-sans-kannada-latin-600-normal.woff2",
  "fonts/OFL.txt",
  "../weights/kannada-gpt.safetensors",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // one missing file (e.g. no weights yet) must not prevent the rest from being cached
      await Promise.all(
        SHELL.map(async (path) => {
          const url = new URL(path, self.location).href;
          try {
            const res = await fetch(url, { cache: "no-cache" });
            if (res.status === 200) await cache.put(url, res);
          } catch {
            /* offline during install: cached on first use instead */
          }
        }),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      try {
        const res = await fetch(req);
        if (res.status === 200 && res.type === "basic") {
          const copy = res.clone();
          event.waitUntil(caches.open(CACHE).then((c) => c.put(req, copy)));
        }
        return res;
      } catch (err) {
        const cache = await caches.open(CACHE);
        const hit = await cache.match(req, { ignoreSearch: true });
        if (hit) return hit;
        if (req.mode === "navigate") {
          const shell = await cache.match(new URL("index.html", self.location).href);
          if (shell) return shell;
        }
        throw err;
      }
    })(),
  );
});
