/**
 * The SQL migrations and the drizzle schema agree: every table, column and index the schema
 * declares (drizzle-kit's latest snapshot of it) exists after applying the migrations in order,
 * and nothing else does. drizzle-kit only compares the schema with its own snapshots, so a
 * generated migration edited by hand, or one cut short, would otherwise go unnoticed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";

interface Snapshot {
  tables: Record<string, { columns: Record<string, unknown>; indexes: Record<string, unknown> }>;
}

function migrated(dir: string): DatabaseSync {
  const db = new DatabaseSync(":memory:");
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    for (const statement of readFileSync(`${dir}/${file}`, "utf8").split("--> statement-breakpoint")) {
      if (statement.trim()) db.exec(statement);
    }
  }
  return db;
}

function latestSnapshot(dir: string): Snapshot {
  const journal = JSON.parse(readFileSync(`${dir}/meta/_journal.json`, "utf8")) as { entries: { idx: number }[] };
  const last = Math.max(...journal.entries.map((e) => e.idx));
  return JSON.parse(readFileSync(`${dir}/meta/${String(last).padStart(4, "0")}_snapshot.json`, "utf8")) as Snapshot;
}

describe.each(["migrations/control", "migrations/ledger"])("%s", (dir) => {
  it("creates exactly the tables, columns and indexes the schema declares", () => {
    const db = migrated(dir);
    const snapshot = latestSnapshot(dir);
    const tables = (
      db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all() as { name: string }[]
    ).map((t) => t.name);
    expect(tables).toEqual(Object.keys(snapshot.tables).sort());
    for (const [name, table] of Object.entries(snapshot.tables)) {
      const columns = (db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[]).map((c) => c.name);
      expect(columns.sort(), `${name} columns`).toEqual(Object.keys(table.columns).sort());
      const indexes = (db.prepare(`PRAGMA index_list("${name}")`).all() as { name: string; origin: string }[])
        .filter((i) => i.origin === "c")
        .map((i) => i.name);
      expect(indexes.sort(), `${name} indexes`).toEqual(Object.keys(table.indexes).sort());
    }
  });
});
