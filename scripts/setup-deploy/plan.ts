/**
 * The deploy set-up as a list of steps, decided from wrangler.toml and the shard count alone:
 * the same list is printed by `--dry-run` and carried out by the runner (run.ts). Every step
 * is idempotent — creations are skipped for what exists, the config edit rewrites the same
 * values, wrangler applies only migrations a database has not recorded — so after a failure
 * the whole command is simply run again.
 */
import {
  CONTROL_BINDING,
  CONTROL_DATABASE,
  CONTROL_MIGRATIONS_DIR,
  isLedgerBinding,
  isManagedBinding,
  LEDGER_MIGRATIONS_DIR,
  ledgerBinding,
  ledgerDatabase,
  type SetupConfig,
  SHARDS_MAX,
} from "./config.ts";

export const DEFAULT_CONFIG = "wrangler.toml";

export type Step =
  | { readonly kind: "list_databases" }
  | { readonly kind: "create_database"; readonly name: string }
  | { readonly kind: "list_queues" }
  | { readonly kind: "create_queue"; readonly name: string }
  | { readonly kind: "list_buckets" }
  | { readonly kind: "create_bucket"; readonly name: string }
  | { readonly kind: "write_config"; readonly adds: readonly string[]; readonly removes: readonly string[] }
  | { readonly kind: "apply_migrations"; readonly binding: string; readonly database: string }
  | { readonly kind: "check_secrets"; readonly required: readonly string[] };

/** A D1 binding as the deployment has it: CONTROL, then LEDGER_0 … LEDGER_{n-1}. */
export interface DatabaseSpec {
  readonly binding: string;
  readonly name: string;
  readonly migrationsDir: string;
}

export interface Plan {
  readonly configPath: string;
  readonly shards: number;
  readonly databases: readonly DatabaseSpec[];
  readonly queues: readonly string[];
  readonly bucket: SetupConfig["bucket"];
  readonly requiredSecrets: readonly string[];
  readonly steps: readonly Step[];
}

/** `--shards` as given, or by default the number of LEDGER_i bindings the file has. */
export function shardCountOf(
  arg: string | undefined,
  config: SetupConfig,
): { ok: true; shards: number } | { ok: false; problem: string } {
  if (arg === undefined) {
    const inFile = config.d1Bindings.filter(isLedgerBinding).length;
    return inFile >= 1 && inFile <= SHARDS_MAX
      ? { ok: true, shards: inFile }
      : { ok: false, problem: `the config has ${inFile} LEDGER_i bindings; say how many shards with --shards N` };
  }
  const shards = /^\d+$/.test(arg) ? Number(arg) : Number.NaN;
  return shards >= 1 && shards <= SHARDS_MAX
    ? { ok: true, shards }
    : { ok: false, problem: `--shards must be a whole number from 1 to ${SHARDS_MAX}, not "${arg}"` };
}

export function planSetup(config: SetupConfig, shards: number, configPath: string): Plan {
  if (!Number.isInteger(shards) || shards < 1 || shards > SHARDS_MAX) {
    throw new Error(`planSetup: shard count ${shards} outside 1…${SHARDS_MAX}`);
  }
  const databases: DatabaseSpec[] = [
    { binding: CONTROL_BINDING, name: CONTROL_DATABASE, migrationsDir: CONTROL_MIGRATIONS_DIR },
    ...Array.from({ length: shards }, (_, shard) => ({
      binding: ledgerBinding(shard),
      name: ledgerDatabase(shard),
      migrationsDir: LEDGER_MIGRATIONS_DIR,
    })),
  ];
  const wanted = new Set(databases.map((db) => db.binding));
  const steps: Step[] = [
    { kind: "list_databases" },
    ...databases.map((db): Step => ({ kind: "create_database", name: db.name })),
    { kind: "list_queues" },
    ...config.queues.map((name): Step => ({ kind: "create_queue", name })),
    { kind: "list_buckets" },
    { kind: "create_bucket", name: config.bucket.name },
    {
      kind: "write_config",
      adds: [
        ...databases.map((db) => db.binding).filter((binding) => !config.d1Bindings.includes(binding)),
        ...(config.bucket.inConfig ? [] : [`[[r2_buckets]] ${config.bucket.binding}`]),
      ],
      removes: config.d1Bindings.filter((binding) => isManagedBinding(binding) && !wanted.has(binding)),
    },
    ...databases.map((db): Step => ({ kind: "apply_migrations", binding: db.binding, database: db.name })),
    { kind: "check_secrets", required: config.requiredSecrets },
  ];
  return {
    configPath,
    shards,
    databases,
    queues: config.queues,
    bucket: config.bucket,
    requiredSecrets: config.requiredSecrets,
    steps,
  };
}

/** What a step does, in the progress line. */
export function stepTitle(step: Step, configPath: string): string {
  switch (step.kind) {
    case "list_databases":
      return "listing D1 databases";
    case "create_database":
      return `creating D1 database ${step.name}`;
    case "list_queues":
      return "listing queues";
    case "create_queue":
      return `creating queue ${step.name}`;
    case "list_buckets":
      return "listing R2 buckets";
    case "create_bucket":
      return `creating R2 bucket ${step.name}`;
    case "write_config":
      return `writing the database ids into ${configPath}`;
    case "apply_migrations":
      return `applying migrations to ${step.binding} (${step.database})`;
    case "check_secrets":
      return `checking secrets ${step.required.join(", ")}`;
  }
}

/** The wrangler arguments a step runs, in order (a creation is followed by a listing that reads the new id). */
export function commandsOf(step: Step, configPath: string): string[][] {
  const config = ["--config", configPath];
  switch (step.kind) {
    case "list_databases":
      return [["d1", "list", "--json", ...config]];
    case "create_database":
      return [
        ["d1", "create", step.name, ...config],
        ["d1", "list", "--json", ...config],
      ];
    case "list_queues":
      return [queuesListPage(1, configPath)];
    case "create_queue":
      return [["queues", "create", step.name, ...config]];
    case "list_buckets":
      return [["r2", "bucket", "list", ...config]];
    case "create_bucket":
      return [["r2", "bucket", "create", step.name, ...config]];
    case "write_config":
      return [];
    case "apply_migrations":
      return [["d1", "migrations", "apply", step.binding, "--remote", ...config]];
    case "check_secrets":
      return [["secret", "list", "--format", "json", ...config]];
  }
}

/** `queues list` shows one page; the runner reads pages until every queue is found or a page is empty. */
export function queuesListPage(page: number, configPath: string): string[] {
  return ["queues", "list", "--page", String(page), "--config", configPath];
}

/** An argument as a POSIX shell reads it back. */
export function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The command line as a person would type it. */
export function commandLine(args: readonly string[]): string {
  return ["npx", "wrangler", ...args].map(shellWord).join(" ");
}

export function headline(plan: Plan): string {
  const last = plan.shards - 1;
  const shards =
    plan.shards === 1 ? "1 ledger shard (LEDGER_0)" : `${plan.shards} ledger shards (LEDGER_0 … LEDGER_${last})`;
  return `Deploy set-up for giftwire: CONTROL + ${shards}, config ${plan.configPath}`;
}

const INDENT = "       ";

/** Said wherever shard bindings are removed: the data is still there, and routing may still point at it. */
export const REMOVAL_NOTE =
  "the databases are kept; a live deployment must first move their buckets to the remaining shards, docs/SCALING.md";

/** What `--dry-run` prints: every step with the exact commands it would run. */
export function dryRunLines(plan: Plan): string[] {
  const lines = [headline(plan), "Dry run: nothing is run and no file is written.", ""];
  plan.steps.forEach((step, index) => {
    const position = `[${index + 1}/${plan.steps.length}]`;
    const skip = step.kind.startsWith("create_") ? ", unless it exists" : "";
    lines.push(`${position} ${stepTitle(step, plan.configPath)}${skip}`);
    for (const args of commandsOf(step, plan.configPath)) lines.push(`${INDENT}${commandLine(args)}`);
    if (step.kind === "list_queues")
      lines.push(`${INDENT}(then --page 2, 3 … while a queue is missing and the last page was not empty)`);
    if (step.kind === "write_config") {
      const bindings = plan.databases.map((db) => db.binding);
      lines.push(`${INDENT}sets database_name, database_id and migrations_dir of ${bindings.join(", ")}`);
      if (step.adds.length > 0) lines.push(`${INDENT}adds ${step.adds.join(", ")}`);
      if (step.removes.length > 0) lines.push(`${INDENT}removes ${step.removes.join(", ")} (${REMOVAL_NOTE})`);
      lines.push(
        `${INDENT}(an edit of the text: comments and everything else stay; checked with wrangler's parser first)`,
      );
    }
  });
  return lines;
}

/** The command that runs this plan again. */
export function rerunCommand(plan: Plan): string {
  const config = plan.configPath === DEFAULT_CONFIG ? "" : ` --config ${shellWord(plan.configPath)}`;
  return `npm run setup:deploy -- --shards ${plan.shards}${config}`;
}
