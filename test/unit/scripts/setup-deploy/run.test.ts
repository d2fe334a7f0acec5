import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dryRunLines, planSetup } from "../../../../scripts/setup-deploy/plan.ts";
import { type Exec, runSetup, type SetupOutcome } from "../../../../scripts/setup-deploy/run.ts";
import { parseWranglerToml } from "../../../../scripts/setup-deploy/wrangler-config.ts";
import { type FakeAccount, FakeWrangler } from "./fake-wrangler.ts";
import { configOf, SMALL_CONFIG } from "./fixtures.ts";

const ROOT = join(import.meta.dirname, "../../../..");

function emptyAccount(): FakeAccount {
  return { databases: [], queues: ["other-app-jobs"], buckets: [], secrets: undefined };
}

/** The set-up run against a fake wrangler, with wrangler.toml in memory. */
class Harness {
  config: string;
  output = "";
  writes = 0;
  readonly fake: FakeWrangler;

  constructor(
    readonly account: FakeAccount,
    config: string,
  ) {
    this.config = config;
    this.fake = new FakeWrangler(account, "wrangler.toml", () => this.config);
  }

  run(shards: number, exec: Exec = this.fake.exec): Promise<SetupOutcome> {
    this.output = "";
    this.fake.calls.length = 0;
    this.fake.migrated.length = 0;
    return runSetup(planSetup(configOf(this.config), shards, "wrangler.toml"), {
      exec,
      write: (text) => {
        this.output += text;
      },
      readConfig: () => this.config,
      writeConfig: (text) => {
        this.config = text;
        this.writes++;
      },
      parseConfig: parseWranglerToml,
    });
  }

  /** binding → database_id, as wrangler reads the config now. */
  ids(): Record<string, string | undefined> {
    const d1 = (parseWranglerToml(this.config).d1_databases ?? []) as { binding: string; database_id?: string }[];
    return Object.fromEntries(d1.map((db) => [db.binding, db.database_id]));
  }

  idOf(name: string): string | undefined {
    return this.account.databases.find((db) => db.name === name)?.uuid;
  }
}

const id = (n: number) => `5e7c0000-0000-4000-8000-${String(n).padStart(12, "0")}`;

describe("setting up an account", () => {
  it("creates everything for 4 shards, writes the ids, then migrates each database by them", async () => {
    const h = new Harness(emptyAccount(), SMALL_CONFIG);
    expect(await h.run(4)).toEqual({ ok: true, missingSecrets: ["JWT_SECRET", "PAYMENT_CHANNELS"] });
    expect(h.fake.commands()).toEqual([
      "d1 list --json",
      "d1 create giftwire-control",
      "d1 list --json",
      "d1 create giftwire-ledger-0",
      "d1 list --json",
      "d1 create giftwire-ledger-1",
      "d1 list --json",
      "d1 create giftwire-ledger-2",
      "d1 list --json",
      "d1 create giftwire-ledger-3",
      "d1 list --json",
      "queues list --page 1",
      "queues list --page 2",
      "queues create giftwire-room-events",
      "queues create giftwire-room-events-dlq",
      "r2 bucket list",
      "r2 bucket create giftwire-ledger-archive",
      "d1 migrations apply CONTROL --remote",
      "d1 migrations apply LEDGER_0 --remote",
      "d1 migrations apply LEDGER_1 --remote",
      "d1 migrations apply LEDGER_2 --remote",
      "d1 migrations apply LEDGER_3 --remote",
      "secret list --format json",
    ]);
    expect(h.ids()).toEqual({ CONTROL: id(1), LEDGER_0: id(2), LEDGER_1: id(3), LEDGER_2: id(4), LEDGER_3: id(5) });
    expect(h.fake.migrated).toEqual([
      { binding: "CONTROL", databaseId: id(1) },
      { binding: "LEDGER_0", databaseId: id(2) },
      { binding: "LEDGER_1", databaseId: id(3) },
      { binding: "LEDGER_2", databaseId: id(4) },
      { binding: "LEDGER_3", databaseId: id(5) },
    ]);
    expect(parseWranglerToml(h.config).r2_buckets).toEqual([
      { binding: "LEDGER_ARCHIVE", bucket_name: "giftwire-ledger-archive" },
    ]);
    expect(h.account.queues).toEqual(["other-app-jobs", "giftwire-room-events", "giftwire-room-events-dlq"]);
    expect(
      h.output,
    ).toBe(`Deploy set-up for giftwire: CONTROL + 4 ledger shards (LEDGER_0 … LEDGER_3), config wrangler.toml

[1/18] listing D1 databases … 0 in the account
[2/18] creating D1 database giftwire-control … done (id ${id(1)})
[3/18] creating D1 database giftwire-ledger-0 … done (id ${id(2)})
[4/18] creating D1 database giftwire-ledger-1 … done (id ${id(3)})
[5/18] creating D1 database giftwire-ledger-2 … done (id ${id(4)})
[6/18] creating D1 database giftwire-ledger-3 … done (id ${id(5)})
[7/18] listing queues … 0 of the 2 the config names exist
[8/18] creating queue giftwire-room-events … done
[9/18] creating queue giftwire-room-events-dlq … done
[10/18] listing R2 buckets … 0 in the account
[11/18] creating R2 bucket giftwire-ledger-archive … done
[12/18] writing the database ids into wrangler.toml … done (added LEDGER_2, LEDGER_3; added [[r2_buckets]] LEDGER_ARCHIVE)
[13/18] applying migrations to CONTROL (giftwire-control) … done
[14/18] applying migrations to LEDGER_0 (giftwire-ledger-0) … done
[15/18] applying migrations to LEDGER_1 (giftwire-ledger-1) … done
[16/18] applying migrations to LEDGER_2 (giftwire-ledger-2) … done
[17/18] applying migrations to LEDGER_3 (giftwire-ledger-3) … done
[18/18] checking secrets JWT_SECRET, PAYMENT_CHANNELS … could not list them (Worker "giftwire" not found.); a Worker that was never deployed has none

Set up: 5 D1 databases with their migrations, 2 queues and R2 bucket giftwire-ledger-archive; the database ids are in wrangler.toml (commit it).
Its bindings changed: \`npm run types\` regenerates worker-configuration.d.ts (Env) to match; commit that too.
Secrets to set before deploying (their values are yours to choose; README.md, Deploy, says what each holds):
  npx wrangler secret put JWT_SECRET --config wrangler.toml
  npx wrangler secret put PAYMENT_CHANNELS --config wrangler.toml
Then deploy: npx wrangler deploy --config wrangler.toml
`);
  });

  it("runs again without creating or rewriting anything", async () => {
    const h = new Harness(emptyAccount(), SMALL_CONFIG);
    await h.run(4);
    const config = h.config;
    const writes = h.writes;
    expect(await h.run(4)).toEqual({ ok: true, missingSecrets: ["JWT_SECRET", "PAYMENT_CHANNELS"] });
    expect(h.fake.commands().filter((command) => command.includes("create"))).toEqual([]);
    expect(h.config).toBe(config);
    expect(h.writes).toBe(writes);
    expect(h.output).toContain(`[3/18] creating D1 database giftwire-ledger-0 … exists (id ${id(2)})\n`);
    expect(h.output).toContain("[8/18] creating queue giftwire-room-events … exists\n");
    expect(h.output).toContain(
      "[12/18] writing the database ids into wrangler.toml … unchanged (already up to date)\n",
    );
    expect(h.fake.migrated.map((m) => m.binding)).toEqual(["CONTROL", "LEDGER_0", "LEDGER_1", "LEDGER_2", "LEDGER_3"]);
    expect(h.output).not.toContain("npm run types");
  });

  it("stops at the first failure, says what to fix and that re-running is safe; the re-run finishes the job", async () => {
    const h = new Harness(emptyAccount(), SMALL_CONFIG);
    h.fake.failWith = (args) =>
      args.slice(0, 3).join(" ") === "d1 create giftwire-ledger-1"
        ? "A request to the Cloudflare API (/accounts/x/d1/database) failed.\n  Authentication error [code: 10000]"
        : undefined;
    expect(await h.run(4)).toEqual({ ok: false, failedStep: 4 });
    expect(h.fake.commands().at(-1)).toBe("d1 create giftwire-ledger-1");
    expect(h.config).toBe(SMALL_CONFIG);
    expect(
      h.output,
    ).toBe(`Deploy set-up for giftwire: CONTROL + 4 ledger shards (LEDGER_0 … LEDGER_3), config wrangler.toml

[1/18] listing D1 databases … 0 in the account
[2/18] creating D1 database giftwire-control … done (id ${id(1)})
[3/18] creating D1 database giftwire-ledger-0 … done (id ${id(2)})
[4/18] creating D1 database giftwire-ledger-1 … failed

\`npx wrangler d1 create giftwire-ledger-1 --config wrangler.toml\` exited with status 1
   ⛅️ wrangler 4.164.0
  ────────────────────
  ✘ [ERROR] A request to the Cloudflare API (/accounts/x/d1/database) failed.
    Authentication error [code: 10000]

Check that wrangler is logged in to the account to deploy to (\`npx wrangler whoami\`; \`npx wrangler login\`, or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID) and may edit D1, Queues and R2; wrangler's message above says what it refused.

The steps before this one are done and the ones after it did not run. Every step is safe to repeat
(what exists is kept, ids are rewritten with the same values): once fixed, run \`npm run setup:deploy -- --shards 4\` again.
`);

    h.fake.failWith = () => undefined;
    expect((await h.run(4)).ok).toBe(true);
    expect(h.fake.commands().filter((command) => command.startsWith("d1 create"))).toEqual([
      "d1 create giftwire-ledger-1",
      "d1 create giftwire-ledger-2",
      "d1 create giftwire-ledger-3",
    ]);
    expect(h.account.databases.map((db) => db.name)).toEqual([
      "giftwire-control",
      "giftwire-ledger-0",
      "giftwire-ledger-1",
      "giftwire-ledger-2",
      "giftwire-ledger-3",
    ]);
    expect(h.ids()).toEqual({ CONTROL: id(1), LEDGER_0: id(2), LEDGER_1: id(3), LEDGER_2: id(4), LEDGER_3: id(5) });
  });

  it("stops before migrating when a migration of an earlier database fails", async () => {
    const h = new Harness(emptyAccount(), SMALL_CONFIG);
    h.fake.failWith = (args) =>
      args.slice(0, 4).join(" ") === "d1 migrations apply LEDGER_0"
        ? "Migration 0001_append_only.sql failed"
        : undefined;
    expect(await h.run(2)).toEqual({ ok: false, failedStep: 12 });
    expect(h.fake.migrated.map((m) => m.binding)).toEqual(["CONTROL"]);
    expect(h.output).toContain(
      "wrangler records each migration it applies in the database's d1_migrations table, so a re-run applies only those not recorded.",
    );
  });

  it("shrinks to 1 shard: LEDGER_1 leaves the config, its database stays in the account", async () => {
    const h = new Harness(emptyAccount(), SMALL_CONFIG);
    await h.run(2);
    expect((await h.run(1)).ok).toBe(true);
    expect(h.ids()).toEqual({ CONTROL: id(1), LEDGER_0: id(2) });
    expect(h.idOf("giftwire-ledger-1")).toBe(id(3));
    expect(h.fake.migrated.map((m) => m.binding)).toEqual(["CONTROL", "LEDGER_0"]);
    expect(h.output).toContain(
      "[9/12] writing the database ids into wrangler.toml … done (removed LEDGER_1: the databases are kept; a live deployment must first move their buckets to the remaining shards, docs/SCALING.md)\n",
    );
  });

  it("reads further pages of queues until it has found the ones it needs", async () => {
    const others = Array.from({ length: 7 }, (_, n) => `other-${n}`);
    const h = new Harness({ ...emptyAccount(), queues: [...others, "giftwire-room-events-dlq"] }, SMALL_CONFIG);
    expect((await h.run(1)).ok).toBe(true);
    expect(h.fake.commands().filter((command) => command.startsWith("queues"))).toEqual([
      "queues list --page 1",
      "queues list --page 2",
      "queues list --page 3",
      "queues create giftwire-room-events",
    ]);
    expect(h.output).toContain("[4/12] listing queues … 1 of the 2 the config names exist\n");
  });

  it("names only the required secrets a deployed Worker lacks", async () => {
    const h = new Harness({ ...emptyAccount(), secrets: ["JWT_SECRET", "SOMETHING_ELSE"] }, SMALL_CONFIG);
    expect(await h.run(1)).toEqual({ ok: true, missingSecrets: ["PAYMENT_CHANNELS"] });
    expect(h.output).toContain("[12/12] checking secrets JWT_SECRET, PAYMENT_CHANNELS … missing PAYMENT_CHANNELS\n");
    expect(h.output).toContain("  npx wrangler secret put PAYMENT_CHANNELS --config wrangler.toml\n");
    expect(h.output).not.toContain("secret put JWT_SECRET");

    const all = new Harness({ ...emptyAccount(), secrets: ["JWT_SECRET", "PAYMENT_CHANNELS"] }, SMALL_CONFIG);
    expect(await all.run(1)).toEqual({ ok: true, missingSecrets: [] });
    expect(all.output).toContain("… all set\n");
    expect(all.output).not.toContain("secret put");
  });

  it("writes nothing when the edit would not read back as intended", async () => {
    // D1 bindings as an inline array: the text edit does not see them as tables, so its result
    // would define d1_databases twice, which wrangler's parser rejects.
    const inline = SMALL_CONFIG.replace(/\[\[d1_databases\]\][\s\S]*?(?=\[\[queues)/, "").replace(
      'name = "giftwire"\n',
      'name = "giftwire"\nd1_databases = [{ binding = "CONTROL", database_name = "giftwire-control", database_id = "x" }, { binding = "LEDGER_0", database_name = "giftwire-ledger-0", database_id = "x" }]\n',
    );
    const h = new Harness(emptyAccount(), inline);
    expect(await h.run(1)).toEqual({ ok: false, failedStep: 9 });
    expect(h.config).toBe(inline);
    expect(h.fake.migrated).toEqual([]);
    expect(h.output).toContain("[9/12] writing the database ids into wrangler.toml … failed\n");
    expect(h.output).toContain("the edited wrangler.toml would be wrong: wrangler cannot parse it:");
    expect(h.output).toContain(
      `Nothing was written. Set these by hand in wrangler.toml (and no other LEDGER_i bindings):\n  CONTROL: database_name = "giftwire-control", database_id = "${id(1)}"\n  LEDGER_0: database_name = "giftwire-ledger-0", database_id = "${id(2)}"\n  [[r2_buckets]] binding = "LEDGER_ARCHIVE", bucket_name = "giftwire-ledger-archive"\n`,
    );
  });

  it("reports output it cannot read, and a wrangler that did not finish, instead of guessing", async () => {
    const h = new Harness(emptyAccount(), SMALL_CONFIG);
    const odd: Exec = async (args) =>
      args.slice(0, 3).join(" ") === "r2 bucket list"
        ? { status: 0, stdout: "Buckets: none\n", stderr: "" }
        : h.fake.exec(args);
    expect(await h.run(1, odd)).toEqual({ ok: false, failedStep: 7 });
    expect(h.output).toContain(
      "could not read what `npx wrangler r2 bucket list --config wrangler.toml` printed (this set-up reads wrangler 4.164's formats)\n  Buckets: none\n",
    );

    const stopped: Exec = async () => ({
      status: null,
      stdout: "",
      stderr: "",
      error: "could not start: spawn npx ENOENT",
    });
    expect(await h.run(1, stopped)).toEqual({ ok: false, failedStep: 1 });
    expect(h.output).toContain(
      "`npx wrangler d1 list --json --config wrangler.toml` could not start: spawn npx ENOENT\n",
    );
  });
});

describe("the command", () => {
  const node = join(ROOT, "node_modules/.bin/node");
  const script = join(ROOT, "scripts/setup-deploy.ts");

  it("--dry-run prints the plan and neither runs wrangler nor writes the config", () => {
    const dir = mkdtempSync(join(tmpdir(), "setup-deploy-test-"));
    try {
      const path = join(dir, "wrangler.toml");
      writeFileSync(path, SMALL_CONFIG);
      // No wrangler on the PATH: a command the dry run tried to run would fail it.
      const result = spawnSync(node, [script, "--dry-run", "--shards", "4", "--config", path], {
        encoding: "utf8",
        env: { ...process.env, PATH: "/nonexistent" },
      });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      expect(result.stdout).toBe(`${dryRunLines(planSetup(configOf(SMALL_CONFIG), 4, path)).join("\n")}\n`);
      expect(readFileSync(path, "utf8")).toBe(SMALL_CONFIG);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("refuses a bad shard count before doing anything", () => {
    const result = spawnSync(node, [script, "--shards", "0", "--config", join(ROOT, "wrangler.toml")], {
      encoding: "utf8",
      env: { ...process.env, PATH: "/nonexistent" },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('--shards must be a whole number from 1 to 64, not "0"');
    expect(result.stderr).toContain("Usage: npm run setup:deploy -- [--shards N] [--config path] [--dry-run]");
  }, 30_000);
});
