import { describe, expect, it } from "vitest";
import { SHARDS_MAX, setupConfigOf } from "../../../../scripts/setup-deploy/config.ts";
import {
  commandLine,
  dryRunLines,
  planSetup,
  rerunCommand,
  shardCountOf,
  stepTitle,
} from "../../../../scripts/setup-deploy/plan.ts";
import { parseWranglerToml } from "../../../../scripts/setup-deploy/wrangler-config.ts";
import { LEDGER_SHARDS_MAX } from "../../../../src/domain/shards";
import { configOf, SMALL_CONFIG } from "./fixtures.ts";

describe("reading the config", () => {
  it("names every queue once, producers first, then each consumer's queue and its dead-letter queue", () => {
    expect(configOf(SMALL_CONFIG)).toEqual({
      d1Bindings: ["CONTROL", "LEDGER_0", "LEDGER_1"],
      queues: ["giftwire-room-events", "giftwire-room-events-dlq"],
      bucket: { binding: "LEDGER_ARCHIVE", name: "giftwire-ledger-archive", inConfig: false },
      requiredSecrets: ["JWT_SECRET", "PAYMENT_CHANNELS"],
    });
  });

  it("takes the archive bucket's name from the config when the binding is there", () => {
    const withBucket = `${SMALL_CONFIG}\n[[r2_buckets]]\nbinding = "LEDGER_ARCHIVE"\nbucket_name = "archive-eu"\n`;
    expect(configOf(withBucket).bucket).toEqual({ binding: "LEDGER_ARCHIVE", name: "archive-eu", inConfig: true });
  });

  it("says what is wrong with a config it cannot use", () => {
    const read = setupConfigOf(parseWranglerToml('d1_databases = "none"\n'));
    expect(read.ok).toBe(false);
    expect(!read.ok && read.problem).toContain("d1_databases");
  });
});

describe("the shard count", () => {
  const config = configOf(SMALL_CONFIG);

  it("is by default the number of LEDGER_i bindings in the config", () => {
    expect(shardCountOf(undefined, config)).toEqual({ ok: true, shards: 2 });
    expect(shardCountOf("4", config)).toEqual({ ok: true, shards: 4 });
  });

  it("is a whole number from 1 to the ledger's limit", () => {
    for (const bad of ["0", "65", "two", "", "1.5", "-1"]) {
      expect(shardCountOf(bad, config)).toEqual({
        ok: false,
        problem: `--shards must be a whole number from 1 to 64, not "${bad}"`,
      });
    }
    expect(shardCountOf("64", config)).toEqual({ ok: true, shards: 64 });
  });

  it("must be given for a config without shard bindings", () => {
    expect(shardCountOf(undefined, { ...config, d1Bindings: ["CONTROL"] })).toEqual({
      ok: false,
      problem: "the config has 0 LEDGER_i bindings; say how many shards with --shards N",
    });
  });

  it("has the ledger's own limit (src/domain/shards.ts), which this script cannot import", () => {
    expect(SHARDS_MAX).toBe(LEDGER_SHARDS_MAX);
  });
});

describe("the plan", () => {
  const config = configOf(SMALL_CONFIG);
  const titles = (shards: number) =>
    planSetup(config, shards, "wrangler.toml").steps.map((step) => stepTitle(step, "wrangler.toml"));

  it("for 1 shard: databases, queues, the bucket, the ids, migrations, secrets — and drops LEDGER_1", () => {
    expect(titles(1)).toEqual([
      "listing D1 databases",
      "creating D1 database giftwire-control",
      "creating D1 database giftwire-ledger-0",
      "listing queues",
      "creating queue giftwire-room-events",
      "creating queue giftwire-room-events-dlq",
      "listing R2 buckets",
      "creating R2 bucket giftwire-ledger-archive",
      "writing the database ids into wrangler.toml",
      "applying migrations to CONTROL (giftwire-control)",
      "applying migrations to LEDGER_0 (giftwire-ledger-0)",
      "checking secrets JWT_SECRET, PAYMENT_CHANNELS",
    ]);
    expect(planSetup(config, 1, "wrangler.toml").steps[8]).toEqual({
      kind: "write_config",
      adds: ["[[r2_buckets]] LEDGER_ARCHIVE"],
      removes: ["LEDGER_1"],
    });
  });

  it("for 4 shards: every shard's database is created and migrated, and LEDGER_2 and LEDGER_3 are added", () => {
    const plan = planSetup(config, 4, "wrangler.toml");
    expect(plan.databases.map((db) => `${db.binding}=${db.name}:${db.migrationsDir}`)).toEqual([
      "CONTROL=giftwire-control:migrations/control",
      "LEDGER_0=giftwire-ledger-0:migrations/ledger",
      "LEDGER_1=giftwire-ledger-1:migrations/ledger",
      "LEDGER_2=giftwire-ledger-2:migrations/ledger",
      "LEDGER_3=giftwire-ledger-3:migrations/ledger",
    ]);
    expect(titles(4).filter((title) => title.startsWith("creating D1"))).toHaveLength(5);
    expect(titles(4).filter((title) => title.startsWith("applying migrations"))).toEqual([
      "applying migrations to CONTROL (giftwire-control)",
      "applying migrations to LEDGER_0 (giftwire-ledger-0)",
      "applying migrations to LEDGER_1 (giftwire-ledger-1)",
      "applying migrations to LEDGER_2 (giftwire-ledger-2)",
      "applying migrations to LEDGER_3 (giftwire-ledger-3)",
    ]);
    expect(plan.steps.find((step) => step.kind === "write_config")).toEqual({
      kind: "write_config",
      adds: ["LEDGER_2", "LEDGER_3", "[[r2_buckets]] LEDGER_ARCHIVE"],
      removes: [],
    });
    expect(plan.steps).toHaveLength(18);
  });

  it("is printed by --dry-run with the exact command lines", () => {
    expect(dryRunLines(planSetup(config, 1, "wrangler.toml")).join("\n")).toBe(
      `Deploy set-up for giftwire: CONTROL + 1 ledger shard (LEDGER_0), config wrangler.toml
Dry run: nothing is run and no file is written.

[1/12] listing D1 databases
       npx wrangler d1 list --json --config wrangler.toml
[2/12] creating D1 database giftwire-control, unless it exists
       npx wrangler d1 create giftwire-control --config wrangler.toml
       npx wrangler d1 list --json --config wrangler.toml
[3/12] creating D1 database giftwire-ledger-0, unless it exists
       npx wrangler d1 create giftwire-ledger-0 --config wrangler.toml
       npx wrangler d1 list --json --config wrangler.toml
[4/12] listing queues
       npx wrangler queues list --page 1 --config wrangler.toml
       (then --page 2, 3 … while a queue is missing and the last page was not empty)
[5/12] creating queue giftwire-room-events, unless it exists
       npx wrangler queues create giftwire-room-events --config wrangler.toml
[6/12] creating queue giftwire-room-events-dlq, unless it exists
       npx wrangler queues create giftwire-room-events-dlq --config wrangler.toml
[7/12] listing R2 buckets
       npx wrangler r2 bucket list --config wrangler.toml
[8/12] creating R2 bucket giftwire-ledger-archive, unless it exists
       npx wrangler r2 bucket create giftwire-ledger-archive --config wrangler.toml
[9/12] writing the database ids into wrangler.toml
       sets database_name, database_id and migrations_dir of CONTROL, LEDGER_0
       adds [[r2_buckets]] LEDGER_ARCHIVE
       removes LEDGER_1 (the databases are kept; a live deployment must first move their buckets to the remaining shards, docs/SCALING.md)
       (an edit of the text: comments and everything else stay; checked with wrangler's parser first)
[10/12] applying migrations to CONTROL (giftwire-control)
       npx wrangler d1 migrations apply CONTROL --remote --config wrangler.toml
[11/12] applying migrations to LEDGER_0 (giftwire-ledger-0)
       npx wrangler d1 migrations apply LEDGER_0 --remote --config wrangler.toml
[12/12] checking secrets JWT_SECRET, PAYMENT_CHANNELS
       npx wrangler secret list --format json --config wrangler.toml`,
    );
  });

  it("quotes what a shell would split, in commands and in the re-run line", () => {
    const plan = planSetup(config, 2, "deploy/my wrangler.toml");
    expect(commandLine(["d1", "list", "--json", "--config", plan.configPath])).toBe(
      "npx wrangler d1 list --json --config 'deploy/my wrangler.toml'",
    );
    expect(rerunCommand(plan)).toBe("npm run setup:deploy -- --shards 2 --config 'deploy/my wrangler.toml'");
    expect(rerunCommand(planSetup(config, 2, "wrangler.toml"))).toBe("npm run setup:deploy -- --shards 2");
  });
});
