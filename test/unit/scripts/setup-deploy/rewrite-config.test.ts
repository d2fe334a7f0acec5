import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type DatabaseEntry,
  ensureBucket,
  type RewriteResult,
  rewriteDatabases,
  verifyRewrite,
} from "../../../../scripts/setup-deploy/rewrite-config.ts";
import { tomlBlocks, topLevelLines } from "../../../../scripts/setup-deploy/toml-blocks.ts";
import { parseWranglerToml } from "../../../../scripts/setup-deploy/wrangler-config.ts";

const ROOT = join(import.meta.dirname, "../../../..");
const ZERO = "00000000-0000-0000-0000-000000000000";

/** A config shaped like the real one, with the constructs a text edit could trip on. */
const FIXTURE = `# giftwire (fixture): comments everywhere, as in the real file.
name = "giftwire"
main = "src/worker/index.ts"

[vars]
# A multi-line string that looks like a table, and an array with a line that looks like a header.
NOTE = """
[[d1_databases]]
binding = "LEDGER_9"
"""
SHAPES = [
["LEDGER_8"]
]

# The control database.
[[d1_databases]]
binding = "CONTROL"
database_name = "giftwire-control"
# setup:deploy writes the id here.
database_id = "${ZERO}"
migrations_dir = "migrations/control"

# Ledger shards.
[[d1_databases]]
binding = "LEDGER_0"
database_name = "giftwire-ledger-0"
database_id = "${ZERO}" # placeholder
migrations_dir = "migrations/ledger"

[[d1_databases]]
binding = "LEDGER_1"
database_name = "giftwire-ledger-1"
database_id = "${ZERO}"
migrations_dir = "migrations/ledger"

# Analytics is not the set-up's.
[[d1_databases]]
binding = "ANALYTICS"
database_name = "analytics"
database_id = "aaaaaaaa-0000-4000-8000-000000000000"

[[queues.producers]]
binding = "ROOM_EVENTS"
queue = "giftwire-room-events"
`;

const ARCHIVE = { binding: "LEDGER_ARCHIVE", name: "giftwire-ledger-archive" };

function wanted(shards: number): DatabaseEntry[] {
  return [
    {
      binding: "CONTROL",
      name: "giftwire-control",
      id: "c0000000-0000-4000-8000-000000000000",
      migrationsDir: "migrations/control",
    },
    ...Array.from({ length: shards }, (_, shard) => ({
      binding: `LEDGER_${shard}`,
      name: `giftwire-ledger-${shard}`,
      id: `10000000-0000-4000-8000-00000000000${shard}`,
      migrationsDir: "migrations/ledger",
    })),
  ];
}

function textOf(result: RewriteResult): string {
  if (!result.ok) throw new Error(result.problem);
  return result.text;
}

const ledgerTable = (shard: number) => `[[d1_databases]]
binding = "LEDGER_${shard}"
database_name = "giftwire-ledger-${shard}"
database_id = "10000000-0000-4000-8000-00000000000${shard}"
migrations_dir = "migrations/ledger"
`;

/** The fixture with the ids of CONTROL, LEDGER_0 and LEDGER_1 written: what two shards should give. */
const TWO_SHARDS = FIXTURE.replace(
  `# setup:deploy writes the id here.\ndatabase_id = "${ZERO}"`,
  `# setup:deploy writes the id here.\ndatabase_id = "c0000000-0000-4000-8000-000000000000"`,
)
  .replace(
    `database_id = "${ZERO}" # placeholder`,
    `database_id = "10000000-0000-4000-8000-000000000000" # placeholder`,
  )
  .replace(
    `database_id = "${ZERO}"\nmigrations_dir = "migrations/ledger"\n\n# Analytics`,
    `database_id = "10000000-0000-4000-8000-000000000001"\nmigrations_dir = "migrations/ledger"\n\n# Analytics`,
  );

describe("reading the TOML text", () => {
  it("sees headers only at the top level, never inside a multi-line string or array", () => {
    const lines = FIXTURE.split("\n");
    const blocks = tomlBlocks(lines);
    expect(blocks.map((block) => `${block.isArray ? "[[" : "["}${block.name}`)).toEqual([
      "[vars",
      "[[d1_databases",
      "[[d1_databases",
      "[[d1_databases",
      "[[d1_databases",
      "[[queues.producers",
    ]);
    const top = topLevelLines(lines);
    expect(top[lines.indexOf('binding = "LEDGER_9"')]).toBe(false);
    expect(top[lines.indexOf('["LEDGER_8"]')]).toBe(false);
    expect(top[lines.indexOf('binding = "LEDGER_0"')]).toBe(true);
  });

  it("ends a table at its last entry: the comments and blank lines after it belong to what follows", () => {
    const lines = FIXTURE.split("\n");
    const control = tomlBlocks(lines)[1];
    expect(lines[control?.end ?? 0]).toBe('migrations_dir = "migrations/control"');
    expect([...(control?.keys.keys() ?? [])]).toEqual(["binding", "database_name", "database_id", "migrations_dir"]);
  });
});

describe("writing the database ids", () => {
  it("changes only the database_id lines when the tables are there, keeping a trailing comment", () => {
    expect(textOf(rewriteDatabases(FIXTURE, wanted(2)))).toBe(TWO_SHARDS);
  });

  it("adds missing shard tables after the last one kept, laid out like the others", () => {
    const four = textOf(rewriteDatabases(FIXTURE, wanted(4)));
    expect(four).toBe(
      TWO_SHARDS.replace(
        `${ledgerTable(1)}\n# Analytics`,
        `${ledgerTable(1)}\n${ledgerTable(2)}\n${ledgerTable(3)}\n# Analytics`,
      ),
    );
    const result = rewriteDatabases(FIXTURE, wanted(4));
    expect(result.ok && [result.added, result.removed]).toEqual([["LEDGER_2", "LEDGER_3"], []]);
  });

  it("removes the tables of shards beyond the count with their blank line, and keeps every comment", () => {
    const four = textOf(rewriteDatabases(FIXTURE, wanted(4)));
    const result = rewriteDatabases(four, wanted(1));
    expect(textOf(result)).toBe(TWO_SHARDS.replace(`${ledgerTable(1)}\n`, ""));
    expect(result.ok && [result.added, result.removed]).toEqual([[], ["LEDGER_1", "LEDGER_2", "LEDGER_3"]]);
    const commentsIn = (text: string) => text.split("\n").filter((line) => line.startsWith("#"));
    expect(commentsIn(textOf(result))).toEqual(commentsIn(FIXTURE));
  });

  it("keeps a comment written above a removed table", () => {
    const annotated = TWO_SHARDS.replace(`${ledgerTable(1)}`, `# shard 1 is the busiest\n${ledgerTable(1)}`);
    expect(textOf(rewriteDatabases(annotated, wanted(1)))).toBe(
      TWO_SHARDS.replace(`${ledgerTable(1)}\n`, "# shard 1 is the busiest\n"),
    );
  });

  it("is idempotent, and 2 → 4 → 2 shards gives the 2-shard file back", () => {
    for (const shards of [1, 2, 4]) {
      const once = textOf(rewriteDatabases(FIXTURE, wanted(shards)));
      expect(textOf(rewriteDatabases(once, wanted(shards)))).toBe(once);
    }
    const four = textOf(rewriteDatabases(TWO_SHARDS, wanted(4)));
    expect(textOf(rewriteDatabases(four, wanted(2)))).toBe(TWO_SHARDS);
  });

  it("fills in keys a table lacks and corrects a wrong name or migrations directory", () => {
    const sparse = FIXTURE.replace('database_name = "giftwire-ledger-0"\n', "").replace(
      'binding = "LEDGER_1"\ndatabase_name = "giftwire-ledger-1"',
      'binding = "LEDGER_1"\ndatabase_name = "old-name"',
    );
    const text = textOf(rewriteDatabases(sparse, wanted(2)));
    expect(text).toContain(
      `binding = "LEDGER_0"\ndatabase_id = "10000000-0000-4000-8000-000000000000" # placeholder\nmigrations_dir = "migrations/ledger"\ndatabase_name = "giftwire-ledger-0"\n`,
    );
    expect(text).toContain(ledgerTable(1));
  });

  it("keeps CRLF line ends and a file without a final newline as they are", () => {
    const crlf = FIXTURE.replaceAll("\n", "\r\n");
    expect(textOf(rewriteDatabases(crlf, wanted(2)))).toBe(TWO_SHARDS.replaceAll("\n", "\r\n"));
    expect(textOf(rewriteDatabases(FIXTURE.trimEnd(), wanted(2)))).toBe(TWO_SHARDS.trimEnd());
  });

  it("adds every table at the end of a file that has no D1 tables", () => {
    const text = textOf(rewriteDatabases('name = "giftwire"\n', wanted(1)));
    expect(text).toBe(`name = "giftwire"

[[d1_databases]]
binding = "CONTROL"
database_name = "giftwire-control"
database_id = "c0000000-0000-4000-8000-000000000000"
migrations_dir = "migrations/control"

${ledgerTable(0)}`);
  });

  it("refuses a D1 table it cannot read instead of guessing", () => {
    expect(rewriteDatabases(FIXTURE.replace('binding = "LEDGER_1"\n', ""), wanted(2))).toEqual({
      ok: false,
      problem: 'the [[d1_databases]] table on line 30 has no one-line binding = "…"',
    });
    expect(rewriteDatabases(FIXTURE.replace('binding = "LEDGER_1"', 'binding = "LEDGER_0"'), wanted(2))).toEqual({
      ok: false,
      problem: "LEDGER_0 has two [[d1_databases]] tables (lines 24 and 30)",
    });
    expect(
      rewriteDatabases(FIXTURE.replace(`database_id = "${ZERO}" # placeholder`, "database_id = 7"), wanted(2)),
    ).toEqual({
      ok: false,
      problem: "line 27: database_id is not a one-line string",
    });
  });
});

describe("the archive bucket", () => {
  it("is added once, after the D1 tables", () => {
    const once = ensureBucket(TWO_SHARDS, ARCHIVE);
    expect(once.added).toBe(true);
    expect(once.text).toBe(
      TWO_SHARDS.replace(
        `database_id = "aaaaaaaa-0000-4000-8000-000000000000"\n`,
        `database_id = "aaaaaaaa-0000-4000-8000-000000000000"

# Closed ledger periods, archived from the shards (created by \`npm run setup:deploy\`).
[[r2_buckets]]
binding = "LEDGER_ARCHIVE"
bucket_name = "giftwire-ledger-archive"
`,
      ),
    );
    expect(ensureBucket(once.text, ARCHIVE)).toEqual({ text: once.text, added: false });
  });
});

describe("checking the edit with wrangler's parser", () => {
  const repoConfig = readFileSync(join(ROOT, "wrangler.toml"), "utf8");

  it("finds the repository's wrangler.toml edited exactly as intended for 1 and 4 shards, comments kept", () => {
    const before = parseWranglerToml(repoConfig);
    for (const shards of [1, 4]) {
      const text = ensureBucket(textOf(rewriteDatabases(repoConfig, wanted(shards))), ARCHIVE).text;
      expect(verifyRewrite(before, parseWranglerToml(text), wanted(shards), ARCHIVE)).toEqual([]);
      const comments = repoConfig.split("\n").filter((line) => line.trimStart().startsWith("#"));
      const kept = text.split("\n").filter((line) => line.trimStart().startsWith("#"));
      expect(kept.filter((line) => !line.includes("npm run setup:deploy`)."))).toEqual(comments);
      expect(ensureBucket(textOf(rewriteDatabases(text, wanted(shards))), ARCHIVE).text).toBe(text);
    }
  });

  it("names what a wrong edit changed", () => {
    const before = parseWranglerToml(FIXTURE);
    const good = ensureBucket(textOf(rewriteDatabases(FIXTURE, wanted(2))), ARCHIVE).text;
    expect(verifyRewrite(before, parseWranglerToml(good), wanted(2), ARCHIVE)).toEqual([]);

    const wrongId = good.replace("10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000009");
    expect(verifyRewrite(before, parseWranglerToml(wrongId), wanted(2), ARCHIVE)).toEqual([
      'LEDGER_1: {"binding":"LEDGER_1","database_name":"giftwire-ledger-1","database_id":"10000000-0000-4000-8000-000000000009","migrations_dir":"migrations/ledger"}, want {"database_name":"giftwire-ledger-1","database_id":"10000000-0000-4000-8000-000000000001","migrations_dir":"migrations/ledger"}',
    ]);
    const extraShard = good.replace("# Analytics", `${ledgerTable(2)}\n# Analytics`);
    expect(verifyRewrite(before, parseWranglerToml(extraShard), wanted(2), ARCHIVE)).toEqual([
      "LEDGER_2 is still bound",
    ]);
    const otherChanges = good
      .replace('main = "src/worker/index.ts"', 'main = "x.ts"')
      .replace('"analytics"', '"other"');
    expect(verifyRewrite(before, parseWranglerToml(otherChanges), wanted(2), ARCHIVE)).toEqual([
      "other D1 bindings changed",
      "main changed",
    ]);
    expect(verifyRewrite(before, parseWranglerToml(TWO_SHARDS), wanted(2), ARCHIVE)).toEqual([
      "no [[r2_buckets]] LEDGER_ARCHIVE → giftwire-ledger-archive",
    ]);
  });
});
