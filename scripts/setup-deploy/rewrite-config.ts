/**
 * The set-up's edits to wrangler.toml, made on the text so that every comment and every line
 * the set-up does not own stays as it was:
 *
 * - the CONTROL and LEDGER_i `[[d1_databases]]` tables get their database_name, database_id
 *   and migrations_dir; shard tables are added after the last one kept, and tables of shards
 *   beyond the count are removed (the databases themselves are not deleted);
 * - an `[[r2_buckets]]` table for the ledger archive is added when the file has none.
 *
 * Both are idempotent: a second run on their own output changes nothing. verifyRewrite checks
 * the result with wrangler's parser before anything is written.
 */
import { isDeepStrictEqual } from "node:util";
import { isManagedBinding } from "./config.ts";
import { stringValueOf, type TomlBlock, tomlBlocks, topLevelLines, withStringValue } from "./toml-blocks.ts";

/** One D1 binding as the set-up wants it in the file. */
export interface DatabaseEntry {
  readonly binding: string;
  readonly name: string;
  readonly id: string;
  readonly migrationsDir: string;
}

export type RewriteResult =
  | { ok: true; text: string; added: string[]; removed: string[] }
  | { ok: false; problem: string };

/** The text as lines (without line ends) and how to put it back together. */
function splitText(text: string): { lines: string[]; join: (lines: readonly string[]) => string } {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  const endsWithEol = lines.length > 1 && lines[lines.length - 1] === "";
  if (endsWithEol) lines.pop();
  return { lines, join: (out) => out.join(eol) + (endsWithEol ? eol : "") };
}

/** Edits on the original line numbers, applied in one pass; -1 inserts before the first line. */
class LineEdits {
  private readonly replaced = new Map<number, string>();
  private readonly deleted = new Set<number>();
  private readonly inserted = new Map<number, string[]>();

  replace(index: number, line: string): void {
    this.replaced.set(index, line);
  }
  delete(index: number): void {
    this.deleted.add(index);
  }
  isDeleted(index: number): boolean {
    return this.deleted.has(index);
  }
  insertAfter(index: number, lines: readonly string[]): void {
    this.inserted.set(index, [...(this.inserted.get(index) ?? []), ...lines]);
  }
  apply(lines: readonly string[]): string[] {
    const out = [...(this.inserted.get(-1) ?? [])];
    lines.forEach((line, index) => {
      if (!this.deleted.has(index)) out.push(this.replaced.get(index) ?? line);
      out.push(...(this.inserted.get(index) ?? []));
    });
    return out;
  }
}

function d1TableLines(entry: DatabaseEntry): string[] {
  return [
    "[[d1_databases]]",
    `binding = ${JSON.stringify(entry.binding)}`,
    `database_name = ${JSON.stringify(entry.name)}`,
    `database_id = ${JSON.stringify(entry.id)}`,
    `migrations_dir = ${JSON.stringify(entry.migrationsDir)}`,
  ];
}

/** The first line of the comment lines directly above a header (they describe it), else the header. */
function firstLineOf(lines: readonly string[], block: TomlBlock): number {
  const top = topLevelLines(lines);
  let first = block.header;
  while (first > 0 && top[first - 1] && /^\s*#/.test(lines[first - 1] ?? "")) first--;
  return first;
}

/**
 * Makes the managed D1 tables exactly `wanted` (in that order where tables are added);
 * D1 tables with other bindings are not touched.
 */
export function rewriteDatabases(text: string, wanted: readonly DatabaseEntry[]): RewriteResult {
  const { lines, join } = splitText(text);
  const tables = tomlBlocks(lines).filter((block) => block.isArray && block.name === "d1_databases");
  const byBinding = new Map<string, TomlBlock>();
  for (const table of tables) {
    const bindingLine = table.keys.get("binding");
    const binding = bindingLine === undefined ? undefined : stringValueOf(lines[bindingLine] ?? "");
    if (binding === undefined) {
      return {
        ok: false,
        problem: `the [[d1_databases]] table on line ${table.header + 1} has no one-line binding = "…"`,
      };
    }
    if (byBinding.has(binding)) {
      return {
        ok: false,
        problem: `${binding} has two [[d1_databases]] tables (lines ${(byBinding.get(binding)?.header ?? 0) + 1} and ${table.header + 1})`,
      };
    }
    byBinding.set(binding, table);
  }

  const edits = new LineEdits();
  const wantedBindings = new Set(wanted.map((entry) => entry.binding));
  const removed: string[] = [];
  for (const [binding, table] of byBinding) {
    if (!isManagedBinding(binding) || wantedBindings.has(binding)) continue;
    removed.push(binding);
    for (let index = table.header; index <= table.end; index++) edits.delete(index);
    // The blank lines that separated it go too: those after it, or if none, those before it.
    // Comment lines stay, wherever they are: they may say more than this table.
    const isBlank = (index: number) => index >= 0 && index < lines.length && (lines[index] ?? "").trim() === "";
    let after = table.end + 1;
    while (isBlank(after)) edits.delete(after++);
    if (after === table.end + 1) for (let before = table.header - 1; isBlank(before); before--) edits.delete(before);
  }

  const added: string[] = [];
  let anchor: number | undefined;
  let pending: string[] = [];
  for (const entry of wanted) {
    const table = byBinding.get(entry.binding);
    if (table === undefined) {
      added.push(entry.binding);
      if (anchor === undefined) pending.push(...d1TableLines(entry), "");
      else edits.insertAfter(anchor, ["", ...d1TableLines(entry)]);
      continue;
    }
    const fields = [
      ["database_name", entry.name],
      ["database_id", entry.id],
      ["migrations_dir", entry.migrationsDir],
    ] as const;
    for (const [key, value] of fields) {
      const index = table.keys.get(key);
      if (index === undefined) {
        edits.insertAfter(table.end, [`${key} = ${JSON.stringify(value)}`]);
        continue;
      }
      const line = withStringValue(lines[index] ?? "", value);
      if (line === undefined) return { ok: false, problem: `line ${index + 1}: ${key} is not a one-line string` };
      if (line !== lines[index]) edits.replace(index, line);
    }
    if (pending.length > 0) {
      edits.insertAfter(firstLineOf(lines, table) - 1, pending);
      pending = [];
    }
    anchor = table.end;
  }
  // No wanted table existed: the new ones go where the kept D1 tables end, or at the end of the file.
  if (pending.length > 0) {
    const lastKept = tables.filter((table) => !edits.isDeleted(table.header)).at(-1);
    edits.insertAfter(lastKept?.end ?? lines.length - 1, ["", ...pending.slice(0, -1)]);
  }
  return { ok: true, text: join(edits.apply(lines)), added, removed };
}

/** Adds `[[r2_buckets]]` for the binding after the D1 tables (or at the end) when the file has none. */
export function ensureBucket(
  text: string,
  bucket: { readonly binding: string; readonly name: string },
): { text: string; added: boolean } {
  const { lines, join } = splitText(text);
  const blocks = tomlBlocks(lines);
  const exists = blocks.some((block) => {
    const bindingLine = block.isArray && block.name === "r2_buckets" ? block.keys.get("binding") : undefined;
    return bindingLine !== undefined && stringValueOf(lines[bindingLine] ?? "") === bucket.binding;
  });
  if (exists) return { text, added: false };
  const lastD1 = blocks.filter((block) => block.isArray && block.name === "d1_databases").at(-1);
  const edits = new LineEdits();
  edits.insertAfter(lastD1?.end ?? lines.length - 1, [
    "",
    "# Closed ledger periods, archived from the shards (created by `npm run setup:deploy`).",
    "[[r2_buckets]]",
    `binding = ${JSON.stringify(bucket.binding)}`,
    `bucket_name = ${JSON.stringify(bucket.name)}`,
  ]);
  return { text: join(edits.apply(lines)), added: true };
}

type RawConfig = Record<string, unknown>;

const arrayOf = (config: RawConfig, key: string): RawConfig[] =>
  Array.isArray(config[key]) ? (config[key] as RawConfig[]) : [];

/**
 * What is wrong with `after` (wrangler's parse of the rewritten file) given `before` (its parse
 * of the file as it was): the managed D1 bindings must be exactly `wanted`, the bucket must be
 * bound, and nothing else may differ. Empty when the rewrite did what it should.
 */
export function verifyRewrite(
  before: RawConfig,
  after: RawConfig,
  wanted: readonly DatabaseEntry[],
  bucket: { readonly binding: string; readonly name: string },
): string[] {
  const problems: string[] = [];
  const d1After = arrayOf(after, "d1_databases");
  for (const entry of wanted) {
    const found = d1After.filter((db) => db.binding === entry.binding);
    const expected = { database_name: entry.name, database_id: entry.id, migrations_dir: entry.migrationsDir };
    const [db] = found;
    if (found.length !== 1 || db === undefined) problems.push(`${entry.binding}: ${found.length} D1 entries, want 1`);
    else if (!Object.entries(expected).every(([key, value]) => db[key] === value)) {
      problems.push(`${entry.binding}: ${JSON.stringify(db)}, want ${JSON.stringify(expected)}`);
    }
  }
  const wantedBindings = new Set(wanted.map((entry) => entry.binding));
  for (const db of d1After) {
    const binding = String(db.binding);
    if (isManagedBinding(binding) && !wantedBindings.has(binding)) problems.push(`${binding} is still bound`);
  }
  const others = (config: RawConfig) =>
    arrayOf(config, "d1_databases").filter((db) => !isManagedBinding(String(db.binding)));
  if (!isDeepStrictEqual(others(before), others(after))) problems.push("other D1 bindings changed");

  const r2After = arrayOf(after, "r2_buckets");
  if (!r2After.some((entry) => entry.binding === bucket.binding && entry.bucket_name === bucket.name)) {
    problems.push(`no [[r2_buckets]] ${bucket.binding} → ${bucket.name}`);
  }
  const r2Before = arrayOf(before, "r2_buckets");
  const hadBucket = r2Before.some((entry) => entry.binding === bucket.binding);
  const r2Others = hadBucket ? r2After : r2After.filter((entry) => entry.binding !== bucket.binding);
  if (!isDeepStrictEqual(r2Others, r2Before)) problems.push("other R2 bindings changed");
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if (key !== "d1_databases" && key !== "r2_buckets" && !isDeepStrictEqual(before[key], after[key])) {
      problems.push(`${key} changed`);
    }
  }
  return problems;
}
