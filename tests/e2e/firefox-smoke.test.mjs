// The page's smoke path in Firefox ESR (Debian's firefox-esr, headless), driven through the
// geckodriver that scripts/setup.sh installs (~/.cargo/bin/geckodriver) with npm
// selenium-webdriver: load, 16 maps, typing redraws every map, a hover shows a weight, generate,
// a bad weights file shows #error and the model keeps working, training over 2 training workers;
// no console errors (Firefox
// prints the page's console to its stdout with devtools.console.stdout.content, which
// geckodriver passes on to us). Screenshot: tests/e2e/screenshots/firefox-smoke.png.
//
// (Playwright's own Firefox build cannot be installed here: it is a download outside the
// package registries.)
//
//   node --test tests/e2e/firefox-smoke.test.mjs    (GECKODRIVER=..., FIREFOX=... to override)

import assert from "node:assert/strict";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Builder, By, until } from "selenium-webdriver";
import firefox from "selenium-webdriver/firefox.js";
import { screenshotPath, startServer } from "./helpers.mjs";

const GECKODRIVER = process.env.GECKODRIVER || join(process.env.CARGO_HOME || join(homedir(), ".cargo"), "bin/geckodriver");
const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";

const env = { server: null, driver: null, dir: null, logFile: null, logFd: undefined };

/**
 * The page's console errors, and JS errors and CSP reports from the page's own URLs, that
 * Firefox printed (via geckodriver's output). The browser's internal messages (chrome console
 * output is off; its JS errors name resource:// or chrome:// files) do not count.
 */
function consoleErrors() {
  const lines = readFileSync(env.logFile, "utf8").split("\n");
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (/^console\.error:/.test(l)) {
      // a message with its indented continuation lines (a browser component's names its
      // resource:// or chrome:// modules in its stack)
      let block = l;
      while (i + 1 < lines.length && /^(\s|\S+@\S+:\d+:\d+$)/.test(lines[i + 1]) && lines[i + 1].trim() !== "") block += "\n" + lines[++i];
      if (!/resource:\/\/|chrome:\/\//.test(block)) found.push(block);
    } else if (/JavaScript error:|Content[- ]Security[- ]Policy/i.test(l) && l.includes(env.server.url)) {
      found.push(l);
    }
  }
  return found;
}

before(async () => {
  assert.ok(existsSync(GECKODRIVER), `geckodriver not found at ${GECKODRIVER} (bash scripts/setup.sh installs it)`);
  assert.ok(existsSync(FIREFOX), `Firefox not found at ${FIREFOX} (bash scripts/setup.sh installs firefox-esr)`);
  env.dir = mkdtempSync(join(tmpdir(), "kgpt-firefox-"));
  env.server = await startServer();
  const options = new firefox.Options()
    .setBinary(FIREFOX)
    .addArguments("-headless")
    .setPreference("devtools.console.stdout.content", true) // the page's console → stdout
    .setPreference("devtools.console.stdout.chrome", false) // but not the browser's own
    .setPreference("browser.shell.checkDefaultBrowser", false)
    .setPreference("app.update.enabled", false)
    .setPreference("datareporting.policy.dataSubmissionEnabled", false)
    .setPreference("toolkit.telemetry.enabled", false)
    .setPreference("browser.safebrowsing.malware.enabled", false)
    .setPreference("browser.safebrowsing.phishing.enabled", false)
    .setPreference("network.captive-portal-service.enabled", false)
    .setPreference("network.connectivity-service.enabled", false)
    .setPreference("extensions.getAddons.cache.enabled", false)
    .setPreference("messaging-system.rsexperimentloader.enabled", false)
    .setPreference("app.shield.optoutstudies.enabled", false)
    .setPreference("datareporting.healthreport.uploadEnabled", false)
    .setPreference("browser.newtabpage.enabled", false)
    .setPreference("browser.startup.homepage", "about:blank");
  // an explicit driver path: selenium-webdriver then never runs Selenium Manager (a download)
  env.logFile = join(env.dir, "geckodriver.log");
  env.logFd = openSync(env.logFile, "w");
  const service = new firefox.ServiceBuilder(GECKODRIVER).setStdio(["ignore", env.logFd, env.logFd]);
  env.driver = await new Builder().forBrowser("firefox").setFirefoxOptions(options).setFirefoxService(service).build();
  await env.driver.manage().window().setRect({ width: 1366, height: 900 });
});

after(async () => {
  await env.driver?.quit();
  if (env.logFd !== undefined) {
    closeSync(env.logFd);
    copyFileSync(env.logFile, screenshotPath("firefox-geckodriver.log")); // for a failure's details
  }
  await env.server?.stop();
  if (env.dir) rmSync(env.dir, { recursive: true, force: true });
});

const d = () => env.driver;
const waitFor = (fn, ms, what) => d().wait(async () => d().executeScript(fn), ms, what);
const redrawCount = () => d().executeScript(() => Number(document.querySelector("#attention-grid").dataset.seq || 0));
const canvasImages = () =>
  d().executeScript(() =>
    Object.fromEntries([...document.querySelectorAll("#attention-grid canvas[data-layer][data-head]")].map((c) => [`${c.dataset.layer}.${c.dataset.head}`, c.toDataURL()])),
  );
async function waitForRedraw(after) {
  await d().wait(async () => (await redrawCount()) > after, 30000, `a redraw after ${after}`);
  // settled: the counter stays put for 300 ms
  for (;;) {
    const a = await redrawCount();
    await new Promise((r) => setTimeout(r, 300));
    if ((await redrawCount()) === a) return;
  }
}

describe("Firefox ESR (geckodriver + selenium-webdriver)", () => {
  test("smoke path: load, 16 maps, typing, hover value, generate, bad weights → #error", async () => {
    // errors the page itself catches (window.onerror / unhandled rejections) are recorded too
    await d().get(env.server.url);
    await waitFor(() => document.body.dataset.ready === "true", 60000, "body[data-ready]");
    await waitForRedraw(0);
    await d().executeScript(() => {
      window.__errors = [];
      window.addEventListener("error", (e) => window.__errors.push(`error: ${e.message}`));
      window.addEventListener("unhandledrejection", (e) => window.__errors.push(`unhandled rejection: ${e.reason}`));
    });
    const status = await d().findElement(By.id("status")).getText();
    assert.match(status, /4 layers × 4 heads/);
    assert.match(status, /218,969 parameters/);
    const kernel = await d().executeScript(() => document.querySelector("#status").textContent);
    console.log(`firefox: ${await d().executeScript(() => navigator.userAgent)} · ${kernel}`);

    // 16 maps
    const before = await canvasImages();
    assert.equal(Object.keys(before).length, 16);

    // typing redraws every map
    const seq = await redrawCount();
    const box = await d().findElement(By.id("text"));
    await box.click();
    await box.sendKeys(" ಕನ್ನಡ");
    await waitForRedraw(seq);
    assert.equal(await box.getAttribute("value"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ ಕನ್ನಡ");
    assert.equal(await d().findElement(By.id("attention-grid")).getAttribute("data-tokens"), "21");
    const typed = await canvasImages();
    for (const [k, img] of Object.entries(typed)) assert.notEqual(img, before[k], `canvas ${k} redrawn`);

    // hover the last row's diagonal cell of layer 3 · head 2: a 3-decimal weight
    const canvas = await d().findElement(By.css('canvas[data-layer="2"][data-head="1"]'));
    await d().executeScript((c) => c.scrollIntoView({ block: "center" }), canvas);
    const rect = await canvas.getRect();
    await d()
      .actions()
      .move({ origin: canvas, x: Math.floor(rect.width / 2) - 4, y: Math.floor(rect.height / 2) - 4 })
      .perform();
    const tooltip = await d().findElement(By.id("tooltip"));
    await d().wait(until.elementIsVisible(tooltip), 10000, "#tooltip shown");
    const tip = await tooltip.getText();
    assert.match(tip, /Layer 3 · head 2/);
    assert.match(tip, /query character 21, key character 21/);
    assert.match(tip, /weight \d\.\d{3}$/);

    // generate
    const genLength = await d().findElement(By.id("gen-length"));
    await genLength.clear();
    await genLength.sendKeys("60");
    await d().findElement(By.id("generate")).click();
    await waitFor(() => /^Generated 60 characters/.test(document.querySelector("#gen-status").textContent), 60000, "generation done");
    assert.ok([...(await box.getAttribute("value"))].length > 21, "generation appended text");
    await waitForRedraw(-1);

    // a bad weights file → #error, the model is still loaded
    const bad = join(env.dir, "not-weights.safetensors");
    writeFileSync(bad, "this is not a safetensors file");
    await d().findElement(By.id("weights-file")).sendKeys(bad);
    const error = await d().findElement(By.id("error"));
    await d().wait(until.elementIsVisible(error), 30000, "#error shown");
    assert.match(await error.getText(), /The current model is still loaded\.$/);

    // the screenshot: the top of the page with the error message, the status line and the maps
    await d().executeScript(() => window.scrollTo(0, 0));
    await new Promise((r) => setTimeout(r, 300));
    const png = await d().takeScreenshot();
    writeFileSync(screenshotPath("firefox-smoke.png"), Buffer.from(png, "base64"));

    await d().findElement(By.id("error-dismiss")).click();
    await d().wait(until.elementIsNotVisible(error), 10000, "#error dismissed");
    const seq2 = await redrawCount();
    await box.sendKeys("ನ");
    await waitForRedraw(seq2);

    assert.deepEqual(await d().executeScript(() => window.__errors), []);
    // the capture works: a console.error from the page reaches the log
    await d().executeScript(() => console.error("kgpt-console-probe"));
    await d().wait(async () => consoleErrors().some((l) => l.includes("kgpt-console-probe")), 10000, "the console probe in Firefox's output");
    assert.deepEqual(consoleErrors().filter((l) => !l.includes("kgpt-console-probe")), [], "no console errors in Firefox");
  });

  test("training over 2 training workers (Web Workers started by the model worker) in Firefox", async () => {
    await d().executeScript(() => window.scrollTo(0, 0));
    for (const [id, value] of [["train-steps", "4"], ["train-batch", "4"], ["train-workers", "2"]]) {
      const input = await d().findElement(By.id(id));
      await input.clear();
      await input.sendKeys(value);
    }
    const start = await d().findElement(By.id("train-start"));
    await d().executeScript((el) => el.scrollIntoView({ block: "center" }), start);
    await start.click();
    await waitFor(() => /^(Done|Stopped)/.test(document.querySelector("#train-status").textContent), 120000, "training done");
    assert.match(await d().findElement(By.id("train-status")).getText(), /^Done at step 4/);
    assert.equal(await d().findElement(By.id("train-workers-used")).getText(), "2");
    assert.deepEqual(await d().executeScript(() => window.__errors), []);
    assert.deepEqual(consoleErrors().filter((l) => !l.includes("kgpt-console-probe")), [], "no console errors in Firefox");
  });
});
