/**
 * `npm run setup:deploy -- [--shards N] [--config path] [--dry-run]`: makes a Cloudflare account
 * ready for `wrangler deploy` of giftwire with N ledger shards.
 *
 *   1. creates the D1 databases giftwire-control and giftwire-ledger-0 … N-1 (those missing);
 *   2. creates every queue wrangler.toml names: producers, consumers, dead-letter queues;
 *   3. creates the R2 bucket for ledger archives (binding LEDGER_ARCHIVE);
 *   4. writes the database ids into wrangler.toml, with exactly N LEDGER_i bindings, and the
 *      [[r2_buckets]] entry if missing (a text edit: comments and all else stay);
 *   5. applies the migrations remotely to CONTROL and each LEDGER_i;
 *   6. lists the required secrets the Worker does not have yet (values are never made up).
 *
 * Every step is idempotent, so after a failure the command is run again. `--dry-run` prints
 * the steps and the exact wrangler commands without running any or writing a file. wrangler
 * runs with no terminal on its input, so it never waits for an answer: `d1 migrations apply`
 * takes its non-interactive default, which is to apply.
 *
 * The steps: scripts/setup-deploy/plan.ts; running them: run.ts; the wrangler.toml edit:
 * rewrite-config.ts.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { setupConfigOf } from "./setup-deploy/config.ts";
import { DEFAULT_CONFIG, dryRunLines, planSetup, shardCountOf } from "./setup-deploy/plan.ts";
import { type ExecResult, runSetup } from "./setup-deploy/run.ts";
import { parseWranglerToml } from "./setup-deploy/wrangler-config.ts";

const USAGE = `Usage: npm run setup:deploy -- [--shards N] [--config path] [--dry-run]

  --shards N     ledger shards (LEDGER_0 … LEDGER_{N-1}); default: as many as the config has
  --config path  the wrangler config to read and write (default ${DEFAULT_CONFIG}); wrangler
                 finds its migrations_dir folders next to it
  --dry-run      print every step and wrangler command; run nothing, write nothing

Log in first with \`npx wrangler login\` (or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID).`;

/** A wrangler command that takes longer than this is stopped and reported. */
const COMMAND_TIMEOUT_MS = 10 * 60_000;
/** Output read per command at most; `d1 list --json` of a large account is well under it. */
const OUTPUT_MAX_CHARS = 16 * 1024 * 1024;

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

function execWrangler(args: readonly string[]): Promise<ExecResult> {
  return new Promise((resolve) => {
    // Its output is read, not shown on a terminal: no colour codes in tables and messages.
    const child = spawn("npx", ["wrangler", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORCE_COLOR: "0" },
      timeout: COMMAND_TIMEOUT_MS,
    });
    const output = { stdout: "", stderr: "" };
    let overflow = false;
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream].setEncoding("utf8").on("data", (chunk: string) => {
        output[stream] += chunk;
        if (output.stdout.length + output.stderr.length > OUTPUT_MAX_CHARS && !overflow) {
          overflow = true;
          child.kill();
        }
      });
    }
    child.on("error", (error) => resolve({ status: null, ...output, error: `could not start: ${error.message}` }));
    child.on("close", (status, signal) => {
      if (signal === null) return resolve({ status, ...output });
      const why = overflow
        ? `printed more than ${OUTPUT_MAX_CHARS} characters and was stopped`
        : `was stopped (${signal}) at the ${COMMAND_TIMEOUT_MS / 60_000}-minute limit`;
      resolve({ status: null, ...output, error: why });
    });
  });
}

function parseOptions() {
  return parseArgs({
    options: {
      shards: { type: "string" },
      config: { type: "string", default: DEFAULT_CONFIG },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

let args: ReturnType<typeof parseOptions>;
try {
  args = parseOptions();
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const configPath = args.config;
if (!existsSync(configPath)) fail(`${configPath} does not exist (paths are relative to ${process.cwd()}).\n\n${USAGE}`);
let raw: Record<string, unknown>;
try {
  raw = parseWranglerToml(readFileSync(configPath, "utf8"));
} catch (error) {
  fail(`${configPath} cannot be read as TOML: ${error instanceof Error ? error.message : String(error)}`);
}
const read = setupConfigOf(raw);
if (!read.ok) fail(`${configPath}: ${read.problem}`);
const shards = shardCountOf(args.shards, read.config);
if (!shards.ok) fail(`${configPath}: ${shards.problem}\n\n${USAGE}`);
const plan = planSetup(read.config, shards.shards, configPath);

if (args["dry-run"]) {
  console.log(dryRunLines(plan).join("\n"));
} else {
  const outcome = await runSetup(plan, {
    exec: execWrangler,
    write: (text) => process.stdout.write(text),
    readConfig: () => readFileSync(configPath, "utf8"),
    writeConfig: (text) => writeFileSync(configPath, text),
    parseConfig: parseWranglerToml,
  });
  process.exitCode = outcome.ok ? 0 : 1;
}
