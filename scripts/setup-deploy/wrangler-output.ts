/**
 * Reading what wrangler 4.164 prints. Where a command can print JSON (`d1 list --json`,
 * `secret list --format json`) the set-up asks for it; `queues list` prints only a table
 * (cli-table3, as logger.table draws it) and `r2 bucket list` only `name: …` / `creation_date: …`
 * blocks, so those are read by their layout. Each reader returns undefined for output it does
 * not recognise, which the runner reports with the output itself rather than guessing.
 */
import { stripVTControlCharacters } from "node:util";
import { z } from "zod";

const databaseListSchema = z.array(z.object({ uuid: z.string().min(1), name: z.string().min(1) }));
const secretListSchema = z.array(z.object({ name: z.string().min(1) }));

/** The JSON array a command printed, skipping any lines before it (a banner, a notice). */
function jsonArrayIn(stdout: string): unknown {
  const start = stdout.search(/^\s*\[/m);
  if (start === -1) return undefined;
  try {
    return JSON.parse(stdout.slice(start));
  } catch {
    return undefined;
  }
}

/** `wrangler d1 list --json` → database name → id. */
export function databaseIdsFrom(stdout: string): Map<string, string> | undefined {
  const parsed = databaseListSchema.safeParse(jsonArrayIn(stdout));
  return parsed.success ? new Map(parsed.data.map((db) => [db.name, db.uuid])) : undefined;
}

/** `wrangler secret list --format json` → the names of the Worker's secrets. */
export function secretNamesFrom(stdout: string): Set<string> | undefined {
  const parsed = secretListSchema.safeParse(jsonArrayIn(stdout));
  return parsed.success ? new Set(parsed.data.map((secret) => secret.name)) : undefined;
}

/**
 * `wrangler queues list [--page n]` → the queue names on that page. The table's rows are the
 * lines that start with `│`; the first is the header, which says which column is `name`. A page
 * with no queues draws an empty table, which cli-table3 prints as an empty line: output with no
 * table and nothing but the banner is an empty page; anything else without a table is unknown.
 */
export function queueNamesFrom(stdout: string): string[] | undefined {
  const rows = stripVTControlCharacters(stdout)
    .split(/\r?\n/)
    .filter((line) => line.trimStart().startsWith("│"))
    .map((line) =>
      line
        .trim()
        .slice(1, -1)
        .split("│")
        .map((cell) => cell.trim()),
    );
  const [header, ...body] = rows;
  if (header === undefined) return isOnlyBanner(stdout) ? [] : undefined;
  const column = header.indexOf("name");
  if (column === -1) return undefined;
  return body.map((row) => row[column] ?? "").filter((name) => name !== "");
}

/** `wrangler r2 bucket list` → bucket names, from its `name:` lines. */
export function bucketNamesFrom(stdout: string): string[] | undefined {
  const text = stripVTControlCharacters(stdout);
  if (!/^Listing buckets\.\.\.$/m.test(text)) return undefined;
  return [...text.matchAll(/^name:\s+(\S+)\s*$/gm)].map((match) => match[1] ?? "");
}

/** Output that holds nothing but wrangler's banner (` ⛅️ wrangler 4.164.0` and its rule) and blank lines. */
function isOnlyBanner(stdout: string): boolean {
  return stripVTControlCharacters(stdout)
    .split(/\r?\n/)
    .every((line) => line.trim() === "" || /^⛅️ wrangler /.test(line.trim()) || /^─+$/.test(line.trim()));
}
