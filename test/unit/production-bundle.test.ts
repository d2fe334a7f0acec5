/**
 * The production Worker holds no development tool: no sandbox payment simulator (which lets a
 * payer approve their own payment and so mint spendable money), no token minting, no demo
 * seed. Checked on what is deployed: the bundle `wrangler deploy --dry-run` builds from
 * wrangler.toml (built here, in a temporary directory, because `npm run check` runs the tests
 * before its own deploy:dry-run), the production configuration, and the static assets.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { experimental_readRawConfig } from "wrangler";

/** Strings only the development tools contain: each names the tool it betrays. */
const FORBIDDEN_IN_BUNDLE: readonly (readonly [tool: string, needle: string])[] = [
  // esbuild writes classes as `var X = class …`, and keeps comments: the name alone must not appear.
  ["the simulator's Durable Object class", "SandboxProvider"],
  ["the simulator's payer routes", "/sandbox/payments/"],
  ["the payer page", "sandbox/pay.html"],
  ["token minting", "mintToken"],
  ["the token-minting route", "/dev/tokens"],
  ["the demo seed route", "/dev/seed"],
  ["the demo seed", "seedDemo"],
  ["the demo funding", "adj_demo_funding_"],
];

let outdir = "";
let bundle = "";

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), "giftwire-bundle-"));
  execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", outdir, "--config", "wrangler.toml"], {
    stdio: "pipe",
    env: { ...process.env, CI: "1" },
  });
  bundle = readdirSync(outdir)
    .filter((f) => f.endsWith(".js"))
    .map((f) => readFileSync(join(outdir, f), "utf8"))
    .join("\n");
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe("the production bundle", () => {
  it("is the production Worker, built", () => {
    // A guard against a vacuous pass: the real application is in what was read.
    expect(bundle).toContain("/payments/callbacks");
    expect(bundle).toMatch(/\bLiveRoom = class\b/);
  });

  it.each(FORBIDDEN_IN_BUNDLE)("holds no %s", (_tool, needle) => {
    expect(bundle.includes(needle)).toBe(false);
  });
});

describe("the production configuration", () => {
  const { rawConfig } = experimental_readRawConfig({ config: "wrangler.toml" });
  const config = rawConfig as {
    main?: string;
    durable_objects?: { bindings?: { name: string; class_name: string }[] };
    services?: unknown[];
    migrations?: { tag: string; new_sqlite_classes?: string[]; deleted_classes?: string[] }[];
    routes?: unknown[];
    vars?: Record<string, unknown>;
  };

  it("deploys the production entry point", () => {
    expect(config.main).toBe("src/worker/index.ts");
  });

  it("binds no simulator object and no service (the sandbox binding is dev and test only)", () => {
    const classes = (config.durable_objects?.bindings ?? []).map((b) => b.class_name);
    expect(classes).toEqual(["LiveRoom", "RoomFanOut", "RiskDesk"]);
    expect(config.services ?? []).toEqual([]);
  });

  it("deletes the simulator's class with a migration after the one that declared it", () => {
    const tags = (config.migrations ?? []).map((m) => m.tag);
    const declared = (config.migrations ?? []).findIndex((m) => m.new_sqlite_classes?.includes("SandboxProvider"));
    const deleted = (config.migrations ?? []).findIndex((m) => m.deleted_classes?.includes("SandboxProvider"));
    expect(tags).toEqual(["v1", "v2", "v3", "v4", "v5"]);
    expect(declared).toBe(1);
    expect(deleted).toBe(2);
  });

  it("routes nothing to a development path and names no development environment", () => {
    expect(JSON.stringify(config.routes ?? [])).not.toMatch(/dev|sandbox/);
    expect(config.vars?.ENVIRONMENT).toBe("production");
  });
});

describe("the production static assets", () => {
  it("hold no sandbox payer page", () => {
    const files = readdirSync("public", { recursive: true }).map(String);
    expect(files.filter((f) => /sandbox/i.test(f))).toEqual([]);
    expect(existsSync("public/index.html")).toBe(true);
  });
});
