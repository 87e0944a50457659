// The published site, as GitHub Pages serves it: scripts/build-site.sh assembles it (the Pages
// workflow runs the same script), a plain static file server sends it with content types and
// NO other headers (no CSP header: the page's policy comes from its <meta> tag), and the smoke
// path runs on it: the root redirects to www/, the model loads, 16 maps, typing redraws every
// map, generate, offline reload through the service worker, no console errors or CSP violations.
//
// Uses the www/pkg that is already built (scripts/build-wasm.sh) and builds it when it is missing.
//
//   node --test tests/e2e/site.test.mjs

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { after, before, describe, test } from "node:test";
import { canvasImages, launch, newPage, problems, redrawCount, ROOT, screenshotPath, settle, waitForRedraw } from "./helpers.mjs";

// What a static host like GitHub Pages sends: a content type per extension, nothing else.
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".wasm": "application/wasm",
  ".woff2": "font/woff2",
  ".ts": "application/typescript",
};

/** A plain static server for `dir` on a free port: GET/HEAD, index.html for folders, 404 else. */
function staticServer(dir) {
  const served = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = normalize(join(dir, path));
    if (file !== dir && !file.startsWith(dir + sep)) {
      res.writeHead(404).end();
      return;
    }
    try {
      let st = await stat(file);
      if (st.isDirectory()) {
        if (!path.endsWith("/")) {
          res.writeHead(301, { Location: path + "/" }).end();
          return;
        }
        file = join(file, "index.html");
        st = await stat(file);
      }
      served.push(path);
      res.writeHead(200, { "Content-Type": TYPES[extname(file)] || "application/octet-stream", "Content-Length": st.size });
      if (req.method === "HEAD") res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found");
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}/`, served, stop: () => new Promise((r) => server.close(r)) });
    });
  });
}

const env = { dir: null, server: null, browser: null };
before(async () => {
  env.dir = mkdtempSync(join(tmpdir(), "kgpt-site-"));
  const site = join(env.dir, "_site");
  const prebuilt = ["www/pkg", "www/pkg-relaxed"].every((d) => existsSync(join(ROOT, d, "kgpt_bg.wasm")) && existsSync(join(ROOT, d, "kgpt.js")));
  execFileSync("bash", [join(ROOT, "scripts/build-site.sh"), "--out", site, ...(prebuilt ? ["--no-build"] : [])], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  env.site = site;
  env.server = await staticServer(site);
  env.browser = await launch();
});
after(async () => {
  await env.browser?.close();
  await env.server?.stop();
  if (env.dir) rmSync(env.dir, { recursive: true, force: true });
});

describe("the published site (_site/ from scripts/build-site.sh, served like GitHub Pages)", () => {
  test("has the layout the Pages workflow publishes", () => {
    for (const f of ["index.html", "www/index.html", "www/main.js", "www/worker.js", "www/sw.js", "www/pkg/kgpt.js", "www/pkg/kgpt_bg.wasm", "www/pkg-relaxed/kgpt.js", "www/pkg-relaxed/kgpt_bg.wasm", "www/fonts/OFL.txt", "www/data/proverbs.txt", "weights/kannada-gpt.safetensors"]) {
      assert.ok(existsSync(join(env.site, f)), f);
    }
    for (const f of ["www/pkg/.gitignore", "www/pkg/.built-from", "www/pkg-relaxed/.gitignore", "www/pkg-relaxed/.built-from"]) assert.ok(!existsSync(join(env.site, f)), `${f} is not published`);
  });

  test("smoke path: redirect, load, 16 maps, typing, generate, offline reload, no errors", async () => {
    const res = await fetch(env.server.url + "www/pkg/kgpt_bg.wasm");
    assert.equal(res.headers.get("content-type"), "application/wasm");
    assert.equal(res.headers.get("content-security-policy"), null, "the server sends no CSP header");
    await res.arrayBuffer();

    const page = await newPage(env.browser, { serviceWorkers: "allow" });
    // the site's root redirects to the page (a <meta> refresh, as published)
    await page.goto(env.server.url);
    await page.waitForURL(/\/www\/$/, { timeout: 15000 });
    await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 30000 });
    await waitForRedraw(page, 0);
    assert.match(await page.textContent("#status"), /4 layers × 4 heads/);
    // the CSP from the <meta> tag is in force: an inline script is refused
    const cspBlocked = await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__inlineRan = true";
      document.head.append(s);
      return window.__inlineRan !== true;
    });
    assert.ok(cspBlocked, "the <meta> CSP blocks inline scripts");
    await page.waitForFunction(() => window.__csp.some((c) => /^script-src/.test(c)));
    for (let i = 0; i < 50 && !page.problems.some((p) => /Content Security Policy/.test(p)); i++) await page.waitForTimeout(100);
    // that refusal was the test's own doing
    await page.evaluate(() => (window.__csp = []));
    page.problems.length = 0;

    assert.equal(await page.locator("#attention-grid canvas[data-layer][data-head]").count(), 16);
    const before = await canvasImages(page);
    const seq = await redrawCount(page);
    await page.locator("#text-input").pressSequentially(" ಕನ್ನಡ");
    await waitForRedraw(page, seq);
    await settle(page);
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "21");
    const typed = await canvasImages(page);
    assert.equal(Object.keys(typed).length, 16);
    for (const [k, img] of Object.entries(typed)) assert.notEqual(img, before[k], `canvas ${k} redrawn`);

    await page.fill("#gen-length", "60");
    await page.click("#generate-button");
    await page.waitForFunction(() => /^Generated 60 characters/.test(document.querySelector("#gen-status").textContent), null, { timeout: 60000 });
    assert.ok([...(await page.inputValue("#text-input"))].length > 21, "generation appended text");
    await settle(page);

    // offline: the service worker (scope /www/) serves the page, the wasm and ../weights/
    await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null, { timeout: 30000 });
    await page.waitForFunction(
      async () => {
        const keys = (await (await caches.open("kgpt-viewer-v1")).keys()).map((r) => new URL(r.url).pathname);
        return ["/www/", "/www/pkg/kgpt_bg.wasm", "/www/pkg-relaxed/kgpt_bg.wasm", "/weights/kannada-gpt.safetensors"].every((p) => keys.includes(p));
      },
      null,
      { timeout: 30000 },
    );
    const requestsOnline = env.server.served.length;
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 30000 });
    await waitForRedraw(page, 0);
    assert.match(await page.textContent("#status"), /218,969 parameters/);
    assert.equal(env.server.served.length, requestsOnline, "nothing reached the server while offline");
    const seq2 = await redrawCount(page);
    await page.locator("#text-input").pressSequentially("ನ");
    await waitForRedraw(page, seq2);
    await settle(page);
    await page.screenshot({ path: screenshotPath("site-offline.png") });
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });
});
