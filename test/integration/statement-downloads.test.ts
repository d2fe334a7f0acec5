/**
 * The statements check downloads Stripe's and Alipay's daily statements itself (a balance
 * change report run; the bill zip of GBK CSVs) and reconciles them: our payments match, a
 * charge we never recorded is found (and queried, where it is an order of ours), a day the
 * provider has not produced yet is an info finding and is reconciled on a later run, a day
 * reconciled once is not downloaded again, and a corrupt zip is refused.
 *
 * Storage and the provider doubles are shared with every other test file: each test here
 * works on a business day of its own (a random past day nobody else uses), pays its orders at
 * the provider on that day, and asserts only on findings about its own order ids.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openLedger } from "../../src/db/shards";
import { localDayWindowMs } from "../../src/domain/room/periods";
import { createLogger } from "../../src/platform/logger";
import { checkStatements } from "../../src/worker/checks/statements";
import { queryContext } from "../../src/worker/payments/channel-tasks";
import { queryOrder } from "../../src/worker/payments/orders";
import { DOUBLES_ORIGIN } from "../support/provider-network";
import { call, config, invariantReport, key, shardDbOfId, token } from "./helpers";

const log = createLogger({ test: "statement-downloads" });
const TZ = config.businessTimeZone;
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const HOUR = 3_600_000;

type Provider = "stripe" | "alipay";

async function control(provider: Provider, action: string, args: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`${DOUBLES_ORIGIN}/${provider}/${action}`, { method: "POST", body: JSON.stringify(args) });
  if (!res.ok) throw new Error(`double ${provider}/${action}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * A day between 2021 and 2024 that no other test file uses (they use fixed 2026 days or today),
 * 10 days from this file's previous one: the check looks back 4 days, so two tests' days never
 * fall in each other's look-back (random days could, and then one test found the other's run).
 */
const FIRST_DAY_MS = Date.UTC(2021, 0, 1) + Math.floor(Math.random() * 1_200) * 86_400_000;
let daysTaken = 0;
function uniqueDay(): string {
  const ms = FIRST_DAY_MS + daysTaken++ * 10 * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

async function newOrder(userId: string, channel: Provider, amount: string): Promise<string> {
  const res = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "topup", channel, amount },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.order.id as string;
}

async function orderState(orderId: string): Promise<string | undefined> {
  const row = await (await shardDbOfId(orderId))
    .prepare("SELECT state FROM payment_orders WHERE id = ?")
    .bind(orderId)
    .first<{ state: string }>();
  return row?.state;
}

interface FindingRow {
  kind: string;
  order_id: string | null;
  repair: string;
  repair_outcome: string | null;
  detail: string;
}

async function runFindings(runId: string): Promise<FindingRow[]> {
  const { results } = await env.CONTROL.prepare(
    "SELECT kind, order_id, repair, repair_outcome, detail FROM reconciliation_findings WHERE run_id = ? ORDER BY id",
  )
    .bind(runId)
    .all<FindingRow>();
  return results;
}

/** Findings that name one of `ids` (as our order id or the statement's merchant order number). */
const about = (rows: readonly FindingRow[], ids: readonly string[]) =>
  rows.filter((r) => ids.some((id) => r.order_id === id || r.detail.includes(`"merchantOrderNo":"${id}"`)));

type Outcome = { runId?: string; error?: string; skipped?: string; detail?: string };

async function check(atMs: number) {
  const result = await checkStatements(env, atMs, log);
  const runs = result.figures.runs as Record<string, Record<string, Outcome>>;
  return { findings: result.findings, runs };
}

async function runsOf(channel: Provider, day: string) {
  const { results } = await env.CONTROL.prepare(
    "SELECT id, actor_id, finished_at_ms FROM reconciliation_runs WHERE channel = ? AND statement_date = ?",
  )
    .bind(channel, day)
    .all<{ id: string; actor_id: string; finished_at_ms: number | null }>();
  return results;
}

describe.each(["stripe", "alipay"] as const)("the statements check downloads %s's daily statement", (channel) => {
  it("answers not ready as an info finding, then reconciles the day on a later run: ours matched, a charge we never recorded found and queried", async () => {
    const day = uniqueDay();
    const { startMs, endMs } = localDayWindowMs(day, TZ);
    const paidAtMs = startMs + 11 * HOUR;
    const user = `sd-${channel}-${RUN}`;
    const ours = await newOrder(user, channel, "18.80");
    const unrecorded = await newOrder(user, channel, "6.60");
    const stranger = `ord_stranger_${channel}_${RUN}`;
    // Both paid at the provider that day; ours is credited (the query applies it as a callback
    // would), the other's callback never came. The provider also lists a charge for an order
    // that is not ours at all.
    for (const orderNo of [ours, unrecorded]) await control(channel, "pay", { orderNo, atMs: paidAtMs });
    const verdict = await queryOrder(queryContext(env, await openLedger(env), log, Date.now()), ours);
    expect(verdict.kind).toBe("done");
    expect(await orderState(ours)).toBe("succeeded");
    expect(await orderState(unrecorded)).toBe("pending");
    await control(channel, "extra-charge", { orderNo: stranger, atMs: paidAtMs + 60_000, amountMinor: 321 });

    // Not produced yet: Stripe's run still running after the client's polls, Alipay's bill not generated.
    if (channel === "stripe") {
      await control("stripe", "report-pending", {
        polls: 4,
        match: `interval_start%5D=${Math.floor(startMs / 1000)}&`,
      });
    } else {
      await control("alipay", "bill-not-ready", { date: day });
    }
    const at = endMs + 10 * HOUR; // 10:00 the next business day: the day is "yesterday"
    const first = await check(at);
    expect(first.runs[channel]?.[day]).toMatchObject({ error: "statement_not_ready" });
    const notReady = first.findings.filter((f) => f.subject === channel && f.detail.startsWith(`${day}:`));
    expect(notReady).toEqual([
      { kind: "statement_not_ready", severity: "info", subject: channel, value: 1, detail: expect.any(String) },
    ]);
    expect(await runsOf(channel, day)).toEqual([]);
    expect(await orderState(unrecorded)).toBe("pending");

    // The next run, a day later: the day is in the look-back now, still without a run, so it is tried again.
    if (channel === "alipay") await control("alipay", "bill-ready", { date: day });
    const second = await check(at + 24 * HOUR);
    const outcome = second.runs[channel]?.[day];
    expect(outcome?.runId, JSON.stringify(outcome)).toMatch(/^recon_/);
    expect(second.findings.filter((f) => f.subject === channel && f.detail.startsWith(`${day}:`))).toEqual([
      {
        kind: "reconciliation_unrepaired",
        severity: "warning",
        subject: channel,
        value: 1,
        detail: expect.stringContaining(outcome?.runId as string),
      },
    ]);
    const findings = await runFindings(outcome?.runId as string);
    // Ours: matched, nothing said about it. The unrecorded one: found, queried, credited. The stranger's: for operators.
    expect(about(findings, [ours])).toEqual([]);
    expect(about(findings, [unrecorded])).toEqual([
      expect.objectContaining({
        kind: "missing_ours",
        order_id: unrecorded,
        repair: "query_channel",
        repair_outcome: "credited",
      }),
    ]);
    expect(about(findings, [stranger])).toEqual([
      expect.objectContaining({ kind: "missing_ours", order_id: null, repair: "operator", repair_outcome: null }),
    ]);
    expect(await orderState(unrecorded)).toBe("succeeded");
    expect(await runsOf(channel, day)).toEqual([
      { id: outcome?.runId, actor_id: "system:checks", finished_at_ms: expect.any(Number) },
    ]);

    // Reconciled once: a third run does not download the day again.
    const received = async () =>
      (await (
        await fetch(
          `${DOUBLES_ORIGIN}/${channel}/received?match=${channel === "stripe" ? Math.floor(startMs / 1000) : day}`,
        )
      ).json()) as unknown[];
    const before = (await received()).length;
    const third = await check(at + 25 * HOUR);
    expect(third.runs[channel]?.[day]).toEqual({ skipped: "reconciled" });
    expect((await received()).length).toBe(before);
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("the statements check and a corrupt Alipay bill zip", () => {
  it("refuses a zip whose 业务明细 CRC-32 does not match, or that is cut short, and reconciles the day once a good one comes", async () => {
    const day = uniqueDay();
    const { endMs } = localDayWindowMs(day, TZ);
    const at = endMs + 10 * HOUR;
    for (const how of ["crc", "truncated"] as const) {
      await control("alipay", "bill-spoil", { date: day, how });
      const result = await check(at);
      expect(result.runs.alipay?.[day]).toMatchObject({ error: "statement_malformed" });
      const refused = result.findings.filter((f) => f.subject === "alipay" && f.detail.startsWith(`${day}:`));
      expect(refused).toEqual([
        {
          kind: "statement_malformed",
          severity: "warning",
          subject: "alipay",
          value: 1,
          detail: expect.stringMatching(
            how === "crc" ? /CRC-32 [0-9a-f]{8} does not match/ : /no end-of-central-directory/,
          ),
        },
      ]);
      expect(await runsOf("alipay", day)).toEqual([]);
    }
    const good = await check(at);
    expect(good.runs.alipay?.[day]?.runId).toMatch(/^recon_/);
  });
});
