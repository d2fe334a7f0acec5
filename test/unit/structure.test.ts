/**
 * The layering the code promises (docs/ARCHITECTURE.md, STYLE.md), checked on the source:
 * dependencies point down — worker → durable-objects → db → domain — and money moves only
 * through the operation files. A new import that breaks a rule fails here, with its file.
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Every module a file imports, resolved to a repository path (`src/db/ledger`) or kept as a package name. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const specifiers = [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)";/gms)].map((m) => m[1] as string);
  return specifiers.map((s) => (s.startsWith(".") ? relative(ROOT, join(ROOT, file, "..", s)) : s));
}

const violations = (files: string[], bad: (imported: string) => boolean) =>
  files.flatMap((f) =>
    importsOf(f)
      .filter(bad)
      .map((i) => `${f} → ${i}`),
  );

describe("the layering", () => {
  it("keeps the domain pure: no platform, framework or database imports, nothing from the layers above", () => {
    const bad = (i: string) =>
      i.startsWith("cloudflare:") ||
      i === "hono" ||
      i.startsWith("hono/") ||
      i.startsWith("@hono/") ||
      i.startsWith("drizzle-orm") ||
      (i.startsWith("src/") && !i.startsWith("src/domain/"));
    expect(violations(sources("src/domain"), bad)).toEqual([]);
  });

  it("never lets the ledger or the room objects import the Worker", () => {
    const bad = (i: string) => i.startsWith("src/worker/");
    expect(violations([...sources("src/db"), ...sources("src/durable-objects")], bad)).toEqual([]);
  });

  it("never lets the ledger import the room objects (their shared messages live in src/db/messages)", () => {
    expect(violations(sources("src/db"), (i) => i.startsWith("src/durable-objects/"))).toEqual([]);
  });

  it("keeps src/platform below everything that uses it", () => {
    const bad = (i: string) =>
      i.startsWith("src/worker/") || i.startsWith("src/durable-objects/") || i.startsWith("src/db/");
    expect(violations(sources("src/platform"), bad)).toEqual([]);
  });

  it("keeps dev-only code out of src/", () => {
    expect(violations(sources("src"), (i) => i.startsWith("dev/") || i.startsWith("test/"))).toEqual([]);
  });
});

describe("where money moves", () => {
  it("composes operations only in src/db/operations/", () => {
    const importers = sources("src").filter((f) =>
      /import\s*\{[^}]*\bcomposeOperation\b[^}]*\}\s*from/s.test(readFileSync(join(ROOT, f), "utf8")),
    );
    expect(importers.filter((f) => !f.startsWith("src/db/operations/"))).toEqual([]);
    // Every kind's own file composes it (a part like tip-batch.ts composes through it).
    const kindFiles = sources("src/db/operations").filter((f) => !/-(batch|group|paid)\.ts$/.test(f));
    expect(importers.sort()).toEqual(kindFiles.sort());
    // The set-based composition's building blocks are as closed.
    const planners = sources("src").filter((f) =>
      /import\s*\{[^}]*\b(planOperation|operationInsert|verdictOf)\b[^}]*\}\s*from/s.test(
        readFileSync(join(ROOT, f), "utf8"),
      ),
    );
    expect(planners.filter((f) => !f.startsWith("src/db/operations/"))).toEqual([]);
    // Nor does anything outside the ledger lean on it by name.
    const mentions = sources("src").filter(
      (f) => !f.startsWith("src/db/") && readFileSync(join(ROOT, f), "utf8").includes("composeOperation"),
    );
    expect(mentions).toEqual([]);
  });

  it("has one operation file per kind of operation the ledger records", () => {
    const ledger = readFileSync(join(ROOT, "src/db/ledger.ts"), "utf8");
    const kinds = [...(/OPERATION_KINDS = \[([^\]]*)\]/s.exec(ledger)?.[1] ?? "").matchAll(/"([a-z_]+)"/g)].map(
      (m) => m[1],
    );
    const files = sources("src/db/operations").map((f) => f.replace(/^.*\//, "").replace(/\.ts$/, ""));
    // `<kind>-batch.ts` / `<kind>-group.ts`: that kind's group commit (many of it in one batch)
    // and its set-based statements; `<kind>-paid.ts`: the kind composed inside a channel
    // payment's credit (a red packet paid at the cashier) — each beside the kind's own file.
    const parts = files.filter((f) => /-(batch|group|paid)$/.test(f));
    expect(parts.map((f) => f.replace(/-(batch|group|paid)$/, "")).filter((f) => !files.includes(f))).toEqual([]);
    const own = files.filter((f) => !/-(batch|group|paid)$/.test(f));
    expect(own.map((f) => f.replaceAll("-", "_")).sort()).toEqual([...kinds].sort());
  });
});
