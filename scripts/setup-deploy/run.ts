/**
 * Carries out a plan (plan.ts) with wrangler, one step at a time, printing a progress line per
 * step and stopping at the first failure with what to fix. wrangler is reached only through
 * `io.exec`, so the whole run can be tested against a fake wrangler (nothing here talks to
 * Cloudflare itself), and wrangler.toml only through `io.readConfig` / `io.writeConfig`.
 */
import { stripVTControlCharacters } from "node:util";
import {
  commandLine,
  commandsOf,
  headline,
  type Plan,
  queuesListPage,
  REMOVAL_NOTE,
  rerunCommand,
  type Step,
  stepTitle,
} from "./plan.ts";
import { type DatabaseEntry, ensureBucket, rewriteDatabases, verifyRewrite } from "./rewrite-config.ts";
import { bucketNamesFrom, databaseIdsFrom, queueNamesFrom, secretNamesFrom } from "./wrangler-output.ts";

export interface ExecResult {
  /** The exit status; null when the process did not exit by itself (see `error`). */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why there is no status: wrangler could not be started, or was stopped at the time limit. */
  readonly error?: string;
}

/** Runs wrangler with these arguments (everything after `wrangler`). */
export type Exec = (args: readonly string[]) => Promise<ExecResult>;

export interface SetupIo {
  readonly exec: Exec;
  /** Progress output; lines are ended by the caller's text. */
  readonly write: (text: string) => void;
  readonly readConfig: () => string;
  readonly writeConfig: (text: string) => void;
  /** wrangler's parse of config text (wrangler-config.ts); throws on text that is not valid TOML. */
  readonly parseConfig: (text: string) => Record<string, unknown>;
}

export type SetupOutcome =
  | { readonly ok: true; readonly missingSecrets: readonly string[] }
  | { readonly ok: false; readonly failedStep: number };

type StepResult =
  | { readonly ok: true; readonly note: string }
  | { readonly ok: false; readonly problem: string; readonly output?: string; readonly fix?: string };

/** What the account is found to have, filled in as the steps list and create things. */
interface Found {
  readonly databaseIds: Map<string, string>;
  readonly queues: Set<string>;
  readonly buckets: Set<string>;
  /** Required secrets the Worker lacks; all of them when its secrets could not be listed. */
  missingSecrets: readonly string[];
  /** The config gained or lost bindings, so the Env type generated from it is out of date. */
  bindingsChanged: boolean;
}

/** `queues list` pages read at most; an account with more queues than this is not one this set-up expects. */
const QUEUE_PAGES_MAX = 50;
/** Lines of wrangler's output shown with a failure (its error is at the end). */
const OUTPUT_LINES_SHOWN = 30;

const ACCOUNT_FIX =
  "Check that wrangler is logged in to the account to deploy to (`npx wrangler whoami`; `npx wrangler login`, " +
  "or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID) and may edit D1, Queues and R2; wrangler's message above says what it refused.";

export async function runSetup(plan: Plan, io: SetupIo): Promise<SetupOutcome> {
  io.write(`${headline(plan)}\n\n`);
  const found: Found = {
    databaseIds: new Map(),
    queues: new Set(),
    buckets: new Set(),
    missingSecrets: [],
    bindingsChanged: false,
  };
  for (const [index, step] of plan.steps.entries()) {
    io.write(`[${index + 1}/${plan.steps.length}] ${stepTitle(step, plan.configPath)} … `);
    const result = await runStep(step, plan, found, io);
    if (!result.ok) {
      io.write(`failed\n\n${failureReport(result, rerunCommand(plan))}`);
      return { ok: false, failedStep: index + 1 };
    }
    io.write(`${result.note}\n`);
  }
  io.write(`\n${summary(plan, found)}`);
  return { ok: true, missingSecrets: found.missingSecrets };
}

async function runStep(step: Step, plan: Plan, found: Found, io: SetupIo): Promise<StepResult> {
  const [command, then] = commandsOf(step, plan.configPath);
  switch (step.kind) {
    case "list_databases": {
      const listed = await listDatabases(command, io, found);
      return listed.ok ? { ok: true, note: `${found.databaseIds.size} in the account` } : listed;
    }
    case "create_database": {
      const existing = found.databaseIds.get(step.name);
      if (existing !== undefined) return { ok: true, note: `exists (id ${existing})` };
      const created = await wrangler(command, io, ACCOUNT_FIX);
      if (!created.ok) return created;
      const listed = await listDatabases(then, io, found);
      if (!listed.ok) return listed;
      const id = found.databaseIds.get(step.name);
      return id === undefined
        ? {
            ok: false,
            problem: `wrangler created ${step.name}, but \`d1 list\` does not show it yet`,
            fix: "Wait a minute and run again: once the database is listed, it is used, not created again.",
          }
        : { ok: true, note: `done (id ${id})` };
    }
    case "list_queues":
      return listQueues(plan, io, found);
    case "create_queue": {
      if (found.queues.has(step.name)) return { ok: true, note: "exists" };
      const created = await wrangler(command, io, ACCOUNT_FIX);
      return created.ok ? { ok: true, note: "done" } : created;
    }
    case "list_buckets": {
      const listed = await wrangler(command, io, ACCOUNT_FIX);
      if (!listed.ok) return listed;
      const names = bucketNamesFrom(listed.stdout);
      if (names === undefined) return unreadable(command, listed.stdout);
      for (const name of names) found.buckets.add(name);
      return { ok: true, note: `${names.length} in the account` };
    }
    case "create_bucket": {
      if (found.buckets.has(step.name)) return { ok: true, note: "exists" };
      const created = await wrangler(
        command,
        io,
        `${ACCOUNT_FIX} R2 must be enabled for the account (Cloudflare dashboard → R2) before it can hold buckets.`,
      );
      return created.ok ? { ok: true, note: "done" } : created;
    }
    case "write_config":
      return writeConfig(plan, found, io);
    case "apply_migrations": {
      const applied = await wrangler(
        command,
        io,
        "wrangler's message above names the migration and the error. wrangler records each migration it applies " +
          "in the database's d1_migrations table, so a re-run applies only those not recorded.",
      );
      return applied.ok ? { ok: true, note: "done" } : applied;
    }
    case "check_secrets":
      return checkSecrets(step.required, command, io, found);
  }
}

async function listDatabases(command: readonly string[] | undefined, io: SetupIo, found: Found): Promise<StepResult> {
  const listed = await wrangler(command, io, ACCOUNT_FIX);
  if (!listed.ok) return listed;
  const ids = databaseIdsFrom(listed.stdout);
  if (ids === undefined) return unreadable(command, listed.stdout);
  for (const [name, id] of ids) found.databaseIds.set(name, id);
  return { ok: true, note: "" };
}

/** Reads `queues list` pages until every queue the config names is found, or a page is empty or adds nothing. */
async function listQueues(plan: Plan, io: SetupIo, found: Found): Promise<StepResult> {
  for (let page = 1; page <= QUEUE_PAGES_MAX; page++) {
    const command = queuesListPage(page, plan.configPath);
    const listed = await wrangler(command, io, ACCOUNT_FIX);
    if (!listed.ok) return listed;
    const names = queueNamesFrom(listed.stdout);
    if (names === undefined) return unreadable(command, listed.stdout);
    const fresh = names.filter((name) => !found.queues.has(name));
    for (const name of fresh) found.queues.add(name);
    if (fresh.length === 0 || plan.queues.every((name) => found.queues.has(name))) break;
  }
  const present = plan.queues.filter((name) => found.queues.has(name)).length;
  return { ok: true, note: `${present} of the ${plan.queues.length} the config names exist` };
}

async function writeConfig(plan: Plan, found: Found, io: SetupIo): Promise<StepResult> {
  const entries: DatabaseEntry[] = plan.databases.map((db) => {
    const id = found.databaseIds.get(db.name);
    // Every database was listed or created (with its id) by an earlier step, or the run stopped there.
    if (id === undefined) throw new Error(`write_config: no id for ${db.name}`);
    return { ...db, id };
  });
  const byHand = [
    `Nothing was written. Set these by hand in ${plan.configPath} (and no other LEDGER_i bindings):`,
    ...entries.map((entry) => `  ${entry.binding}: database_name = "${entry.name}", database_id = "${entry.id}"`),
    ...(plan.bucket.inConfig
      ? []
      : [`  [[r2_buckets]] binding = "${plan.bucket.binding}", bucket_name = "${plan.bucket.name}"`]),
  ].join("\n");
  const text = io.readConfig();
  const rewritten = rewriteDatabases(text, entries);
  if (!rewritten.ok) return { ok: false, problem: rewritten.problem, fix: byHand };
  const withBucket = plan.bucket.inConfig
    ? { text: rewritten.text, added: false }
    : ensureBucket(rewritten.text, plan.bucket);
  let problems: string[];
  try {
    problems = verifyRewrite(io.parseConfig(text), io.parseConfig(withBucket.text), entries, plan.bucket);
  } catch (error) {
    problems = [`wrangler cannot parse it: ${error instanceof Error ? error.message : String(error)}`];
  }
  if (problems.length > 0) {
    return { ok: false, problem: `the edited ${plan.configPath} would be wrong: ${problems.join("; ")}`, fix: byHand };
  }
  if (withBucket.text === text) return { ok: true, note: "unchanged (already up to date)" };
  io.writeConfig(withBucket.text);
  found.bindingsChanged = rewritten.added.length > 0 || rewritten.removed.length > 0 || withBucket.added;
  const changes = [
    ...(rewritten.added.length > 0 ? [`added ${rewritten.added.join(", ")}`] : []),
    ...(withBucket.added ? [`added [[r2_buckets]] ${plan.bucket.binding}`] : []),
    ...(rewritten.removed.length > 0 ? [`removed ${rewritten.removed.join(", ")}: ${REMOVAL_NOTE}`] : []),
  ];
  return { ok: true, note: changes.length > 0 ? `done (${changes.join("; ")})` : "done" };
}

/**
 * Never fails the run: a Worker that was never deployed has no secrets to list (wrangler then
 * exits with an error), and either way the answer is which `wrangler secret put` to run.
 */
async function checkSecrets(
  required: readonly string[],
  command: readonly string[] | undefined,
  io: SetupIo,
  found: Found,
): Promise<StepResult> {
  const listed = await wrangler(command, io, "");
  const names = listed.ok ? secretNamesFrom(listed.stdout) : undefined;
  if (names === undefined) {
    found.missingSecrets = required;
    const reason = listed.ok ? "output not recognised" : (errorLine(listed.output) ?? listed.problem);
    return { ok: true, note: `could not list them (${reason}); a Worker that was never deployed has none` };
  }
  found.missingSecrets = required.filter((name) => !names.has(name));
  return {
    ok: true,
    note: found.missingSecrets.length === 0 ? "all set" : `missing ${found.missingSecrets.join(", ")}`,
  };
}

/** Runs one wrangler command; a non-zero exit is a failed step with wrangler's output and `fix`. */
async function wrangler(
  command: readonly string[] | undefined,
  io: SetupIo,
  fix: string,
): Promise<{ ok: true; stdout: string } | { ok: false; problem: string; output: string; fix: string }> {
  if (command === undefined) throw new Error("a step ran a command it does not have");
  const result = await io.exec(command);
  if (result.status === 0) return { ok: true, stdout: result.stdout };
  const how = result.status === null ? (result.error ?? "did not finish") : `exited with status ${result.status}`;
  // Shown as text, and searched for wrangler's `[ERROR]` line: without the colour codes.
  const output = stripVTControlCharacters(`${result.stdout}\n${result.stderr}`);
  return { ok: false, problem: `\`${commandLine(command)}\` ${how}`, output, fix };
}

function unreadable(command: readonly string[] | undefined, stdout: string): StepResult {
  return {
    ok: false,
    problem: `could not read what \`${commandLine(command ?? [])}\` printed (this set-up reads wrangler 4.164's formats)`,
    output: stdout,
    fix: "If wrangler was upgraded, scripts/setup-deploy/wrangler-output.ts needs its new format.",
  };
}

/** wrangler's error message: the text of its `✘ [ERROR]` line. */
function errorLine(output: string): string | undefined {
  return /\[ERROR\]\s*(.+)/.exec(output)?.[1]?.trim();
}

function failureReport(failure: Extract<StepResult, { ok: false }>, rerun: string): string {
  const lines = [failure.problem];
  const output = (failure.output ?? "").split(/\r?\n/).filter((line) => line.trim() !== "");
  if (output.length > 0) {
    if (output.length > OUTPUT_LINES_SHOWN) lines.push(`  … (${output.length - OUTPUT_LINES_SHOWN} lines before)`);
    lines.push(...output.slice(-OUTPUT_LINES_SHOWN).map((line) => `  ${line}`));
  }
  if (failure.fix) lines.push("", failure.fix);
  lines.push(
    "",
    "The steps before this one are done and the ones after it did not run. Every step is safe to repeat",
    `(what exists is kept, ids are rewritten with the same values): once fixed, run \`${rerun}\` again.`,
    "",
  );
  return lines.join("\n");
}

function summary(plan: Plan, found: Found): string {
  const config = `--config ${plan.configPath}`;
  const lines = [
    `Set up: ${plan.databases.length} D1 databases with their migrations, ${plan.queues.length} queues and ` +
      `R2 bucket ${plan.bucket.name}; the database ids are in ${plan.configPath} (commit it).`,
  ];
  if (found.bindingsChanged) {
    lines.push(
      `Its bindings changed: \`npm run types\` regenerates worker-configuration.d.ts (Env) to match; commit that too.`,
    );
  }
  if (found.missingSecrets.length > 0) {
    lines.push(
      "Secrets to set before deploying (their values are yours to choose; README.md, Deploy, says what each holds):",
      ...found.missingSecrets.map((name) => `  npx wrangler secret put ${name} ${config}`),
    );
  }
  lines.push(`Then deploy: npx wrangler deploy ${config}`, "");
  return lines.join("\n");
}
