// Shared harness for the browser tests: starts scripts/serve.mjs on a free port, launches
// Debian's Chromium through playwright-core, and records console errors, page errors and CSP
// violations for every page so each test can assert there were none.

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = join(ROOT, "tests/e2e/screenshots");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Starts `node scripts/serve.mjs --port 0`; resolves to {url, stop()}. */
export function startServer() {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "scripts/serve.mjs"), "--port", "0", "--host", "127.0.0.1"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) {
        settled = true;
        child.kill("SIGTERM");
        reject(new Error(`serve.mjs did not start: ${out}`));
      }
    }, 15000);
    const onData = (d) => {
      out += d;
      const m = /on (http:\/\/[^\s]+\/)/.exec(out);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolvePromise({
          url: m[1],
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.once("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`serve.mjs exited with ${code}: ${out}`));
      }
    });
  });
}

/**
 * Registers `before`/`after` hooks that start the server and the browser for a test file and
 * stop them; the returned object's `server` and `browser` are set once `before` has run.
 */
export function useServerAndBrowser() {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer();
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A new page with problem recording: `page.problems` collects console errors, uncaught page
 * errors and CSP violations (including those in the workers, reported via the console).
 */
export async function newPage(browser, { width = 1366, height = 900, deviceScaleFactor = 1, isMobile = false, hasTouch = false, serviceWorkers = "block", acceptDownloads = true, bypassCSP = false } = {}) {
  // bypassCSP: only for injecting test tooling (axe-core) as an inline script
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor, isMobile, hasTouch, serviceWorkers, acceptDownloads, bypassCSP });
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") page.problems.push(`console error: ${msg.text()}`);
    if (/Content Security Policy|Refused to/i.test(msg.text())) page.problems.push(`CSP: ${msg.text()}`);
  });
  page.on("pageerror", (err) => page.problems.push(`page error: ${err.message}`));
  page.on("crash", () => page.problems.push("page crashed"));
  // CSP violations as DOM events, recorded in the page before any of its scripts run
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile || ""}:${e.lineNumber || 0})`);
    });
  });
  return page;
}

/** All problems so far: console errors, page errors and securitypolicyviolation events. */
export async function problems(page) {
  let csp = [];
  try {
    csp = await page.evaluate(() => window.__csp || []);
  } catch {
    /* page closed */
  }
  return [...page.problems, ...csp.map((c) => `CSP violation: ${c}`)];
}

/** Opens the viewer and waits until the model is loaded and the first heatmaps are drawn. */
export async function openViewer(page, baseUrl, hash = "") {
  await page.goto(baseUrl + hash);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 30000 });
  await waitForRedraw(page, 0);
  return page;
}

/** The redraw counter of the heatmaps (`data-seq` on #attention-grid). */
export function redrawCount(page) {
  return page.$eval("#attention-grid", (g) => Number(g.dataset.seq || 0));
}

/**
 * Waits until the heatmaps were redrawn after redraw number `after`, including the maps off
 * screen (drawn in idle time after the visible ones: data-maps-pending).
 */
export async function waitForRedraw(page, after, timeout = 30000) {
  await page.waitForFunction(
    (n) => {
      const d = document.querySelector("#attention-grid").dataset;
      return Number(d.seq || 0) > n && (d.mapsPending === undefined || d.mapsPending === "0");
    },
    after,
    // (polled on a timer: polling every animation frame would ask the page for frames it does not need)
    { timeout, polling: 10 },
  );
}

/**
 * Waits until no analysis is pending (the last redraw reflects the text box): none in flight
 * or waiting (data-analysis-pending), and no redraw for 150 ms. (The redraw counter alone can
 * stand still while the worker serves a long job, e.g. scoring the heads of a new model, with
 * the keystroke's analysis queued behind it.)
 */
export async function settle(page, timeout = 30000) {
  await page.waitForFunction(
    () => {
      const g = document.querySelector("#attention-grid");
      const seq = g.dataset.seq;
      return new Promise((r) => setTimeout(() => r(g.dataset.seq === seq && g.dataset.analysisPending !== "1"), 150));
    },
    null,
    { timeout },
  );
}

/** data URL of every heatmap canvas, keyed "layer.head". */
export function canvasImages(page) {
  return page.$$eval("#attention-grid canvas[data-layer][data-head]", (cs) =>
    Object.fromEntries(cs.map((c) => [`${c.dataset.layer}.${c.dataset.head}`, c.toDataURL()])),
  );
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, name);
}

/** Median and p-th percentile (nearest rank) of numbers. */
export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

/** Kannada text of exactly `n` characters, all in the product vocabulary. */
export function kannadaText(n) {
  const base = "ಕನ್ನಡ ನಾಡು ನುಡಿ. ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ ಸಂಪತ್ತು. ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ. ";
  const chars = [...base];
  let out = "";
  for (let i = 0; i < n; i++) out += chars[i % chars.length];
  return out;
}

/** Replaces the text box's text and waits until the maps are redrawn for it and settled. */
export async function setText(page, text) {
  const seq = await redrawCount(page);
  await page.fill("#text", text);
  await waitForRedraw(page, seq);
  await settle(page);
}

/** Splits safetensors bytes (a Buffer) into the parsed JSON header and the tensor data (a view). */
export function splitSafetensors(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")), data: bytes.subarray(8 + n) };
}

/** safetensors bytes: 8-byte little-endian header length, the JSON header, the tensor data. */
export function joinSafetensors(header, data) {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}
