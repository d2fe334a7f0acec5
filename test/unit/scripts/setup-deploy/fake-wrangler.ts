/**
 * A fake wrangler 4.164 for the deploy set-up's tests: an in-memory Cloudflare account that
 * answers the commands the set-up runs, printing what the real commands print (checked against
 * node_modules/wrangler/wrangler-dist/cli.js: d1 list --json, the cli-table3 table of
 * `queues list`, the labelled blocks of `r2 bucket list`, secret list's JSON), and records
 * every call. `d1 migrations apply` reads the binding's database_id from the config file as
 * it is at that moment, as wrangler does, so a run that migrated before writing the ids fails.
 */
import type { ExecResult } from "../../../../scripts/setup-deploy/run.ts";
import { parseWranglerToml } from "../../../../scripts/setup-deploy/wrangler-config.ts";

const BANNER = "\n ⛅️ wrangler 4.164.0\n────────────────────\n";

/** What logger.table prints: cli-table3 with a header row, a rule between rows, no colour (not a terminal). */
export function cliTable(rows: readonly Record<string, string>[]): string {
  if (rows.length === 0) return "";
  const head = Object.keys(rows[0] ?? {});
  const cells = [head, ...rows.map((row) => head.map((key) => row[key] ?? ""))];
  const widths = head.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)) + 2);
  const rule = (left: string, middle: string, right: string) =>
    left + widths.map((width) => "─".repeat(width)).join(middle) + right;
  const line = (row: readonly string[]) =>
    `│${row.map((cell, column) => ` ${cell.padEnd((widths[column] ?? 2) - 2)} `).join("│")}│`;
  const out = [rule("┌", "┬", "┐")];
  cells.forEach((row, index) => {
    if (index > 0) out.push(rule("├", "┼", "┤"));
    out.push(line(row));
  });
  out.push(rule("└", "┴", "┘"));
  return out.join("\n");
}

export interface FakeAccount {
  databases: { name: string; uuid: string }[];
  queues: string[];
  buckets: string[];
  /** The Worker's secrets; undefined while the Worker was never deployed. */
  secrets: string[] | undefined;
}

export class FakeWrangler {
  readonly calls: string[][] = [];
  /** Migrations applied: binding → the database id it was applied to. */
  readonly migrated: { binding: string; databaseId: string }[] = [];
  /** A command for which this returns an error message fails with it (exit status 1). */
  failWith: (args: readonly string[]) => string | undefined = () => undefined;
  private created = 0;

  constructor(
    readonly account: FakeAccount,
    private readonly configPath: string,
    private readonly configText: () => string,
    /** Queues per `queues list` page (the API pages its list). */
    private readonly queuePageSize = 4,
  ) {}

  /** The commands run, as `d1 create giftwire-control` (without the config flag every one carries). */
  commands(): string[] {
    return this.calls.map((args) => args.slice(0, -2).join(" "));
  }

  readonly exec = async (args: readonly string[]): Promise<ExecResult> => {
    this.calls.push([...args]);
    if (args.at(-2) !== "--config" || args.at(-1) !== this.configPath) {
      throw new Error(`fake wrangler: a command without --config ${this.configPath}: ${args.join(" ")}`);
    }
    const failure = this.failWith(args);
    if (failure !== undefined) return { status: 1, stdout: BANNER, stderr: `\n✘ [ERROR] ${failure}\n` };
    return this.answer(args.slice(0, -2));
  };

  private answer(args: readonly string[]): ExecResult {
    const ok = (stdout: string): ExecResult => ({ status: 0, stdout, stderr: "" });
    const error = (message: string): ExecResult => ({ status: 1, stdout: BANNER, stderr: `\n✘ [ERROR] ${message}\n` });
    const [group, command, name] = args;
    const key = `${group} ${command}`;
    if (key === "d1 list" && name === "--json") {
      const dbs = this.account.databases.map((db) => ({
        uuid: db.uuid,
        name: db.name,
        created_at: "2026-11-20T08:00:00.000Z",
        version: "production",
        num_tables: 0,
        file_size: 12288,
        jurisdiction: null,
      }));
      return ok(`${JSON.stringify(dbs, null, 2)}\n`);
    }
    if (key === "d1 create" && name !== undefined) {
      if (this.account.databases.some((db) => db.name === name))
        return error("A database with that name already exists");
      this.created++;
      const uuid = `5e7c0000-0000-4000-8000-${String(this.created).padStart(12, "0")}`;
      this.account.databases.push({ name, uuid });
      return ok(
        `${BANNER}✅ Successfully created DB '${name}' in region APAC\nCreated your new D1 database.\n\n` +
          `To access your new D1 Database in your Worker, add the following snippet to your configuration file:\n` +
          `[[d1_databases]]\nbinding = "${name.replaceAll("-", "_")}"\ndatabase_name = "${name}"\ndatabase_id = "${uuid}"\n`,
      );
    }
    if (key === "queues list" && name === "--page") {
      const page = Number(args[3]);
      const rows = this.account.queues.slice((page - 1) * this.queuePageSize, page * this.queuePageSize);
      const table = rows.map((queue, index) => ({
        id: `q${page}${index}0000000000000000000000000000`,
        name: queue,
        created_on: "2026-11-20T08:00:00.000000Z",
        modified_on: "2026-11-20T08:00:00.000000Z",
        producers: "0",
        consumers: "0",
      }));
      return ok(`${BANNER}${cliTable(table)}\n`);
    }
    if (key === "queues create" && name !== undefined) {
      if (this.account.queues.includes(name))
        return error(`A request to the Cloudflare API failed. Queue name already taken`);
      this.account.queues.push(name);
      return ok(`${BANNER}🌀 Creating queue '${name}'\n✅ Created queue '${name}'\n`);
    }
    if (key === "r2 bucket" && name === "list") {
      const blocks = this.account.buckets.map(
        (bucket) => `name:           ${bucket}\ncreation_date:  2026-11-20T08:00:00.000Z`,
      );
      return ok(`${BANNER}Listing buckets...\n${blocks.join("\n\n")}\n`);
    }
    if (key === "r2 bucket" && name === "create" && args[3] !== undefined) {
      if (this.account.buckets.includes(args[3])) return error("The bucket you tried to create already exists");
      this.account.buckets.push(args[3]);
      return ok(
        `${BANNER}Creating bucket '${args[3]}'...\n✅ Created bucket '${args[3]}' with default storage class of Standard.\n`,
      );
    }
    if (key === "d1 migrations" && name === "apply" && args[4] === "--remote" && args[3] !== undefined) {
      const binding = args[3];
      const d1 = (parseWranglerToml(this.configText()).d1_databases ?? []) as {
        binding: string;
        database_id?: string;
      }[];
      const databaseId = d1.find((db) => db.binding === binding)?.database_id;
      if (databaseId === undefined)
        return error(`Couldn't find a D1 DB with the name or binding '${binding}' in your wrangler.toml file.`);
      if (!this.account.databases.some((db) => db.uuid === databaseId)) {
        return error(`A request to the Cloudflare API (/accounts/x/d1/database/${databaseId}/query) failed.`);
      }
      this.migrated.push({ binding, databaseId });
      return ok(`${BANNER}Migrations to be applied:\n✅ 0000_${binding.toLowerCase()}.sql\n`);
    }
    if (key === "secret list" && name === "--format" && args[3] === "json") {
      if (this.account.secrets === undefined) {
        return error(
          `Worker "giftwire" not found.\n\n  If this is a new Worker, run \`wrangler deploy\` first to create it.\n` +
            "  Otherwise, check that the Worker name is correct and you're logged into the right account.",
        );
      }
      return ok(
        `${JSON.stringify(
          this.account.secrets.map((secret) => ({ name: secret, type: "secret_text" })),
          null,
          "  ",
        )}\n`,
      );
    }
    throw new Error(`fake wrangler: no answer for ${args.join(" ")}`);
  }
}
