/**
 * `npm run reconcile -- --channel sandbox --date 2026-12-01 [--file statement.csv] [--bill fund_flow] [--encoding gbk] [--url http://127.0.0.1:8787]`
 *
 * Reconciles one channel's daily statement through the running service's
 * POST /v1/admin/reconciliations and prints what it found: counts by kind, one line per
 * finding, and what was repaired automatically. Exit code 1 while findings remain for
 * operators, 2 when the run could not be made.
 *
 * The statement is the file given, or, for the sandbox channel, the sandbox provider's own.
 * Real channels' bills are downloaded by finance (fetching them is not built yet). `--bill
 * fund_flow` posts WeChat's 资金账单 or Alipay's 账务明细 (payouts); `--encoding gbk` reads an
 * Alipay CSV as it comes out of its zip (strictly: a byte that is not GBK stops the script).
 * The operator token is GIFTWIRE_TOKEN (admin or finance) if set; otherwise one is minted
 * from the development routes (`npm start` enables them).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { CHANNELS } from "../src/channels/channel";
import { STATEMENT_BILLS } from "../src/channels/statement";
import { formatMinor } from "../src/domain/money";
import { FINDING_KINDS } from "../src/domain/reconcile";

const { values } = parseArgs({
  options: {
    channel: { type: "string" },
    date: { type: "string" },
    file: { type: "string" },
    bill: { type: "string", default: "trade" },
    encoding: { type: "string", default: "utf-8" },
    url: { type: "string", default: process.env.GIFTWIRE_URL ?? "http://127.0.0.1:8787" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});

const USAGE =
  "usage: npm run reconcile -- --channel <name> --date YYYY-MM-DD [--file statement.csv] [--bill trade|fund_flow] [--encoding utf-8|gbk] [--url <base>]";
const Args = z.object({
  channel: z.enum(CHANNELS),
  date: z.string().regex(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/, "a date like 2026-12-01"),
  file: z.string().optional(),
  bill: z.enum(STATEMENT_BILLS),
  encoding: z.enum(["utf-8", "gbk"]),
  url: z.url(),
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const parsedArgs = Args.safeParse(values);
if (!parsedArgs.success) {
  console.error(`${z.prettifyError(parsedArgs.error)}\n${USAGE}`);
  process.exit(2);
}
const args = parsedArgs.data;
const base = args.url.replace(/\/+$/, "");

/** The reply's shape, checked: this script reads a service that may be another version. */
const Finding = z.object({
  kind: z.enum(FINDING_KINDS),
  subject: z.enum(["payment", "refund", "payout"]),
  repair: z.enum(["query_channel", "operator"]),
  repairOutcome: z.string().nullable(),
  orderId: z.string().nullable(),
  merchantOrderNo: z.string().nullable(),
  refundNo: z.string().nullable(),
  line: z.number().int().nullable(),
  ours: z.object({ amountMinor: z.number().int(), state: z.string() }).nullable(),
  theirs: z.object({ amountMinor: z.number().int(), currency: z.string(), status: z.string() }).nullable(),
  detail: z.string(),
});
const Reply = z.object({
  run: z.object({
    id: z.string(),
    lines: z.number().int(),
    matched: z.number().int(),
    findings: z.number().int(),
    repaired: z.number().int(),
    unrepaired: z.number().int(),
    counts: z.record(z.string(), z.number().int()),
    finishedAtMs: z.number().int().nullable(),
  }),
  findings: z.array(Finding),
});
const ErrorReply = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

const green = (s: string) => `\x1b[32m${s}\x1b[0m`;
const red = (s: string) => `\x1b[31m${s}\x1b[0m`;
const dim = (s: string) => `\x1b[2m${s}\x1b[0m`;

function step(message: string): void {
  console.log(`\x1b[36m▸\x1b[0m ${message}`);
}

/** A line that counts the seconds while `work` runs, so a long run is visibly alive. */
async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  const startMs = Date.now();
  const tty = process.stdout.isTTY;
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - startMs) / 1000);
    if (tty) process.stdout.write(`\r  ${label} … ${s} s`);
    else if (s % 10 === 0) console.log(`  ${label} … ${s} s`);
  }, 1000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    if (tty) process.stdout.write("\r\x1b[K");
  }
}

async function operatorToken(): Promise<string> {
  const given = process.env.GIFTWIRE_TOKEN;
  if (given) return given;
  const res = await fetch(`${base}/v1/dev/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId: "reconcile-cli", roles: ["finance"], ttlSeconds: 600 }),
  });
  if (res.status === 404) throw new Error("the dev routes are off here (not `npm start`?); set GIFTWIRE_TOKEN");
  if (!res.ok) throw new Error(`minting a token failed: HTTP ${res.status}`);
  return z.object({ token: z.string() }).parse(await res.json()).token;
}

function describe(f: z.infer<typeof Finding>): string {
  const where = f.line === null ? "—" : `line ${f.line}`;
  const who = f.orderId ?? f.merchantOrderNo ?? "(no order)";
  const theirs = f.theirs ? `theirs ${formatMinor(f.theirs.amountMinor)} ${f.theirs.status}` : "theirs —";
  const ours = f.ours ? `ours ${formatMinor(f.ours.amountMinor)} ${f.ours.state}` : "ours —";
  const fix =
    f.repair === "operator"
      ? red("→ operator")
      : f.repairOutcome === null
        ? red("→ query not run")
        : `→ query: ${f.repairOutcome}`;
  return `  ${f.kind.padEnd(16)} ${f.subject.padEnd(7)} ${who.padEnd(32)} ${where.padEnd(10)} ${theirs} · ${ours}  ${fix}\n    ${dim(f.detail)}`;
}

async function main(): Promise<number> {
  const statement =
    args.file === undefined
      ? undefined
      : new TextDecoder(args.encoding, { fatal: true, ignoreBOM: false }).decode(readFileSync(args.file));
  if (statement !== undefined) step(`Read ${args.file} (${Buffer.byteLength(statement)} bytes)`);
  else if (args.channel === "sandbox") step("Using the sandbox provider's statement for the day");
  else throw new Error(`give the ${args.channel} statement with --file`);

  step(`Minting an operator token at ${base}`);
  const token = await operatorToken();

  step(`Reconciling ${args.channel} for ${args.date}`);
  const res = await withProgress(
    "matching and repairing",
    fetch(`${base}/v1/admin/reconciliations`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ channel: args.channel, date: args.date, bill: args.bill, statement }),
    }),
  );
  const json: unknown = await res.json();
  if (!res.ok) {
    const e = ErrorReply.safeParse(json);
    console.error(red(`✗ HTTP ${res.status}: ${e.success ? `${e.data.error.code}: ${e.data.error.message}` : "?"}`));
    return 2;
  }
  const { run, findings } = Reply.parse(json);

  console.log(`\nRun ${run.id}${res.status === 200 ? dim(" (this statement was reconciled before: stored run)") : ""}`);
  console.log(`  statement lines ${run.lines} · matched ${run.matched} · findings ${run.findings}`);
  const counts = FINDING_KINDS.map((k) => `${k} ${run.counts[k] ?? 0}`).join(" · ");
  console.log(`  ${counts}`);
  if (findings.length > 0) console.log("\nFindings:");
  for (const f of findings) console.log(describe(f));
  if (findings.length < run.findings) console.log(dim(`  … and ${run.findings - findings.length} more not stored`));

  const queried = findings.filter((f) => f.repair === "query_channel" && f.repairOutcome !== null);
  if (queried.length > 0) {
    console.log("\nQueried the channel:");
    for (const f of queried) console.log(`  ${f.orderId ?? f.refundNo ?? "?"}: ${f.repairOutcome}`);
  }
  if (run.finishedAtMs === null) console.log(dim("\nRepairs are still running; run again to read the result."));
  console.log();
  if (run.unrepaired > 0) {
    console.log(red(`✗ ${run.unrepaired} finding(s) left for operators (${run.repaired} repaired)`));
    return 1;
  }
  console.log(green(`✓ reconciled: ${run.repaired} repaired, nothing left for operators`));
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(red(`✗ ${error instanceof Error ? error.message : String(error)}`));
  process.exitCode = 2;
}
