#!/usr/bin/env node
// Static file server for the Micro-KannadaGPT browser viewer (Node >= 20, no dependencies).
//
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1]
//
// Serves www/ at /, and the repository's weights/ directory at /weights/.
// Only GET and HEAD; no directory listings (a directory serves its index.html);
// path traversal (.., encoded separators, NUL, symlinks leaving the root) is rejected.
// Every response carries a strict Content-Security-Policy ('wasm-unsafe-eval' lets the page
// compile WebAssembly without allowing JS eval).

import { createServer } from "node:http";
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WWW = join(ROOT, "www");
const WEIGHTS = join(ROOT, "weights");

export const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
  "img-src 'self' data: blob:; worker-src 'self'";

export const MIME = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
  ".safetensors": "application/octet-stream",
  ".bin": "application/octet-stream",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".otf": "font/otf",
  ".webmanifest": "application/manifest+json",
};

function parseArgs(argv) {
  const opts = { port: Number(process.env.PORT || 8080), host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [key, inline] = a.includes("=") ? a.split(/=(.*)/s, 2) : [a, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (key === "--port" || key === "-p") opts.port = Number(value());
    else if (key === "--host") opts.host = value();
    else if (key === "--help" || key === "-h") {
      console.log("usage: node scripts/serve.mjs [--port 8080] [--host 127.0.0.1]");
      process.exit(0);
    } else {
      console.error(`serve.mjs: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error("serve.mjs: --port must be an integer 0..65535");
    process.exit(2);
  }
  return opts;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/** Map a URL path to [baseDir, relative segments] or null if it is not acceptable. */
function route(pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const segments = decoded.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === ".." || s === ".")) return null;
  if (segments[0] === "weights") return { base: WEIGHTS, rel: segments.slice(1) };
  return { base: WWW, rel: segments };
}

function inside(base, p) {
  return p === base || p.startsWith(base + sep);
}

async function resolveFile(base, rel) {
  let file = resolve(base, ...rel);
  if (!inside(base, file)) return null;
  let st;
  try {
    st = await stat(file);
    if (st.isDirectory()) {
      file = join(file, "index.html");
      st = await stat(file);
    }
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  // follow symlinks and re-check containment against the real base directory
  try {
    const [realBase, realFile] = await Promise.all([realpath(base), realpath(file)]);
    if (!inside(realBase, realFile)) return null;
  } catch {
    return null;
  }
  return { file, st };
}

export function createStaticServer() {
  return createServer(async (req, res) => {
    res.setHeader("Content-Security-Policy", CSP);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cache-Control", "no-cache");
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "method not allowed\n", { Allow: "GET, HEAD" });
      return;
    }
    let url;
    try {
      url = new URL(req.url, "http://localhost");
    } catch {
      send(res, 400, "bad request\n");
      return;
    }
    // reject traversal in the raw path too (URL() would silently normalise "/a/../b")
    const rawPath = req.url.split(/[?#]/, 1)[0];
    if (/(^|\/|%2f|%5c|\\)(\.|%2e){2}($|\/|%2f|%5c|\\)/i.test(rawPath)) {
      send(res, 400, "bad path\n");
      return;
    }
    const r = route(url.pathname);
    if (!r) {
      send(res, 400, "bad path\n");
      return;
    }
    const found = await resolveFile(r.base, r.rel);
    if (!found) {
      send(res, 404, "not found\n");
      return;
    }
    // a directory URL without trailing slash: redirect so relative URLs in index.html work
    if (found.file.endsWith(`${sep}index.html`) && !url.pathname.endsWith("/") && !url.pathname.endsWith("index.html")) {
      send(res, 301, "moved\n", { Location: url.pathname + "/" + url.search });
      return;
    }
    const type = MIME[extname(found.file).toLowerCase()] || "application/octet-stream";
    const etag = `W/"${found.st.size.toString(16)}-${Math.floor(found.st.mtimeMs).toString(16)}"`;
    const headers = {
      "Content-Type": type,
      "Content-Length": found.st.size,
      "Last-Modified": found.st.mtime.toUTCString(),
      ETag: etag,
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, { ETag: etag });
      res.end();
      return;
    }
    res.writeHead(200, headers);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stream = createReadStream(found.file);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
  });
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { port, host } = parseArgs(process.argv.slice(2));
  const server = createStaticServer();
  server.on("error", (err) => {
    console.error(`serve.mjs: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const addr = server.address();
    console.log(`serving ${WWW} (and ${WEIGHTS} at /weights/) on http://${host}:${addr.port}/`);
  });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
      setTimeout(() => process.exit(0), 1000).unref();
    });
  }
}
