// The page's structure, checked statically (no browser): main.js stays a short entry point,
// no function in www/ is longer than 90 lines, every worker message type in protocol.js is
// sent by one side and handled by the other, the state is one sealed declared object, and the
// service worker caches every module (the offline test in offline-bench checks it live).
//
//   node --test tests/e2e/www-structure.test.mjs

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ROOT } from "./helpers.mjs";

const WWW = join(ROOT, "www");
const read = (p) => readFileSync(join(WWW, p), "utf8");
const modules = [...readdirSync(WWW).filter((f) => f.endsWith(".js")), ...readdirSync(join(WWW, "panels")).map((f) => `panels/${f}`)];

/** Source with strings, template literals, regex literals and comments blanked (braces inside them do not count). */
function code(src) {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/\/\/[^\n]*/g, "")
    .replace(/`(?:\\[\s\S]|[^`\\])*`|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/(?<=[(,=:!&|?;]\s*)\/(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n])+\/[a-z]*/g, (m) => m.replace(/[^\n]/g, " "));
}

/** Source without comments (strings kept: `${state.x}` in a template is a use). */
const withoutComments = (src) => src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/[^\n]*/g, "$1");

/** [{line, name, length}] of every function body (declarations, methods, arrows with a block). */
function functions(src) {
  const lines = code(src).split("\n");
  const start = /\bfunction\b[^(]*\(|^\s*(?:async\s+)?(?:static\s+)?(?:get\s+|set\s+)?[A-Za-z_$][\w$]*\s*\([^)]*\)\s*\{\s*$|=>\s*\{/;
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (!start.test(lines[i]) || /^\s*(if|for|while|switch|catch|else)\b/.test(lines[i])) continue;
    let depth = 0;
    let opened = false;
    for (let j = i; j < lines.length && !(opened && depth === 0); j++) {
      for (const ch of j === i ? lines[j].slice(lines[j].search(/\{/)) : lines[j]) {
        if (ch === "{") {
          depth++;
          opened = true;
        } else if (ch === "}") depth--;
        if (opened && depth === 0) {
          out.push({ line: i + 1, name: lines[i].trim().slice(0, 60), length: j - i + 1 });
          break;
        }
      }
    }
  }
  return out;
}

describe("www structure", () => {
  test("main.js is a short entry point (≤ 300 lines)", () => {
    const n = read("main.js").split("\n").length;
    assert.ok(n <= 300, `main.js has ${n} lines`);
  });

  test("no function in www/ is longer than 90 lines", () => {
    const long = [];
    let counted = 0;
    for (const m of modules) {
      for (const f of functions(read(m))) {
        counted++;
        if (f.length > 90) long.push(`${m}:${f.line} ${f.name} (${f.length} lines)`);
      }
    }
    assert.ok(counted > 150, `the scanner found ${counted} functions`);
    assert.deepEqual(long, []);
  });

  test("the length check can fail: it measures a 95-line function", () => {
    const body = Array.from({ length: 93 }, (_, i) => `  const v${i} = "{" + '}';`).join("\n");
    const [f] = functions(`function big() {\n${body}\n}\n`);
    assert.equal(f.length, 95);
  });

  test("every worker message type is sent by one side and handled by the other", async () => {
    const { ToWorker, FromWorker } = await import(join(WWW, "protocol.js"));
    const worker = read("worker.js");
    const page = modules.filter((m) => m !== "worker.js" && m !== "protocol.js").map(read).join("\n");
    for (const key of Object.keys(ToWorker)) {
      assert.match(page, new RegExp(`type: ToWorker\\.${key}\\b`), `the page sends ToWorker.${key}`);
      assert.match(worker, new RegExp(`\\[ToWorker\\.${key}\\]:`), `the worker handles ToWorker.${key}`);
    }
    for (const key of Object.keys(FromWorker)) {
      assert.match(worker, new RegExp(`type: FromWorker\\.${key}\\b`), `the worker sends FromWorker.${key}`);
      assert.match(page, new RegExp(`onWorker\\(FromWorker\\.${key}\\b`), `the page handles FromWorker.${key}`);
    }
    // no message type written as a bare string outside protocol.js
    const all = new Set([...Object.values(ToWorker), ...Object.values(FromWorker)]);
    for (const m of modules.filter((m) => m !== "protocol.js")) {
      for (const [, type] of read(m).matchAll(/type: "([a-z-]+)"/g)) assert.ok(!all.has(type), `${m} spells the message "${type}" as a string`);
    }
  });

  test("one declared state: sealed, every field with a comment", () => {
    const src = read("state.js");
    assert.match(src, /export const state = Object\.seal\(\{/);
    const body = src.slice(src.indexOf("Object.seal({"));
    const lines = body.split("\n");
    let fields = 0;
    for (let i = 1; i < lines.length; i++) {
      const m = /^ {2}([A-Za-z]\w*):/.exec(lines[i]);
      if (!m) continue;
      fields++;
      // the field's comment is right above it (possibly above a group of related fields)
      let j = i - 1;
      while (j > 0 && /^ {2}[A-Za-z]\w*:/.test(lines[j])) j--;
      assert.match(lines[j], /\*\/\s*$|^\s*\/\*\*|^\s*\*|\/\/ ---/, `state.${m[1]} has no comment`);
    }
    assert.ok(fields >= 40, `${fields} fields`);
    // every field a module uses is declared, and every declared field is used
    const declared = new Set([...body.matchAll(/^ {2}([A-Za-z]\w*):/gm)].map((m) => m[1]));
    const used = new Set(modules.filter((m) => m !== "state.js" && m !== "sw.js").flatMap((m) => [...withoutComments(read(m)).matchAll(/(?<![/\w])state\.([A-Za-z]\w*)/g)].map((x) => x[1])));
    assert.deepEqual([...used].filter((f) => !declared.has(f)), [], "used but not declared");
    assert.deepEqual([...declared].filter((f) => !used.has(f)), [], "declared but never used");
    // only state.js creates the page state; panels keep no second global
    for (const m of modules) assert.doesNotMatch(read(m), /window\.S\b|globalThis\.\w+\s*=/, m);
  });

  test("the service worker caches every module of the page and its workers", () => {
    const sw = read("sw.js");
    for (const m of modules.filter((m) => m !== "sw.js")) assert.ok(sw.includes(`"${m}"`), `sw.js lists ${m}`);
  });
});
