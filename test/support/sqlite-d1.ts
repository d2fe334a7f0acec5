/**
 * A D1Database over node:sqlite, for unit tests of src/db code that needs a database of its own
 * (the workers projects share storage between files, so "no other row exists" cannot be arranged
 * there). Only what that code uses: prepare → bind → first / all / run, and batch() — atomic, as
 * D1's is: one failing statement rolls the whole batch back.
 */
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";

class Statement {
  constructor(
    readonly db: DatabaseSync,
    readonly sql: string,
    readonly params: SQLInputValue[] = [],
  ) {}
  bind(...params: unknown[]): Statement {
    return new Statement(this.db, this.sql, params as SQLInputValue[]);
  }
  async first<T>(): Promise<T | null> {
    return (this.db.prepare(this.sql).get(...this.params) as T | undefined) ?? null;
  }
  async all<T>(): Promise<{ results: T[] }> {
    return { results: this.db.prepare(this.sql).all(...this.params) as T[] };
  }
  async run(): Promise<{ meta: { changes: number } }> {
    return this.exec();
  }
  exec(): { meta: { changes: number }; results: unknown[] } {
    const prepared = this.db.prepare(this.sql);
    if (/^\s*SELECT/i.test(this.sql)) return { meta: { changes: 0 }, results: prepared.all(...this.params) };
    const { changes } = prepared.run(...this.params);
    return { meta: { changes: Number(changes) }, results: [] };
  }
}

/** A fresh in-memory database with `dir`'s migrations applied, as a D1Database. */
export function sqliteD1(migrationsDir: "migrations/control" | "migrations/ledger"): D1Database {
  const db = new DatabaseSync(":memory:");
  for (const file of readdirSync(migrationsDir)
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    for (const statement of readFileSync(`${migrationsDir}/${file}`, "utf8").split("--> statement-breakpoint")) {
      if (statement.trim()) db.exec(statement);
    }
  }
  const d1 = {
    prepare: (sql: string) => new Statement(db, sql),
    exec: async (sql: string) => {
      db.exec(sql);
      return { count: 0, duration: 0 };
    },
    batch: async (statements: Statement[]) => {
      db.exec("BEGIN");
      try {
        const results = statements.map((s) => s.exec());
        db.exec("COMMIT");
        return results;
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
  };
  return d1 as unknown as D1Database;
}
