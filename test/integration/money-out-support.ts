/**
 * Test support for settlement and tip reversals: tips committed at a chosen instant (a past
 * business day), settlement runs, and the reads the assertions need.
 */

import { env } from "cloudflare:workers";
import { runOperation } from "../../src/db/ledger";
import { composeTip, prepareTip } from "../../src/db/operations/tip";
import { type SettlementSettings, settleBusinessDay } from "../../src/db/settlement-run";
import { Ledger, shardBindings } from "../../src/db/shards";
import { dayStartMs } from "../../src/domain/business-day";
import { newOwnedId } from "../../src/domain/ids";
import { call, callApproved, config, fund, key, ledger, openRoom, operatorToken } from "./helpers";

export const TZ = config.businessTimeZone;

/** Noon of a business day, plus `offsetMs`. */
export function at(day: string, offsetMs = 0): number {
  return dayStartMs(day, TZ) + 12 * 3_600_000 + offsetMs;
}

/**
 * A ledger like the Worker's but announcing nothing: the cross-shard credits of what it
 * commits stay in transit until `settleTransit()` (or the sweeper) delivers them.
 */
export async function quietLedger(): Promise<Ledger> {
  const l = await ledger();
  return new Ledger(env.CONTROL, shardBindings(env), l.map);
}

export interface Committed {
  readonly id: string;
  readonly amountMinor: number;
  readonly platformMinor: number;
  readonly creatorMinor: number;
}

/** A custom tip committed at `atMs` (its business day), from the viewer's wallet, announcing nothing. */
export async function tipAt(roomId: string, viewerId: string, amount: string, atMs: number): Promise<Committed> {
  const l = await quietLedger();
  const rules = { platformShareBps: config.platformShareBps, customTip: config.customTip };
  const id = newOwnedId("tip", l.bucketOf(viewerId), atMs);
  const prepared = await prepareTip(l.control, rules, { id, roomId, viewerId, ask: { kind: "custom", amount } }, atMs);
  if (!prepared.ok) throw new Error(`tip refused: ${prepared.code}`);
  const shard = l.forOwner(viewerId);
  const { verdict } = await runOperation(shard, composeTip(shard, prepared.value));
  if (verdict.kind !== "posted") throw new Error(`tip did not post: ${JSON.stringify(verdict)}`);
  const { amountMinor, platformMinor, creatorMinor } = prepared.value.priced;
  return { id, amountMinor, platformMinor, creatorMinor };
}

/** A live room of a fresh creator and a funded viewer. */
export async function creatorAndViewer(
  prefix: string,
  funds = "10000.00",
): Promise<{
  creator: string;
  viewer: string;
  roomId: string;
}> {
  const creator = `${prefix}-creator`;
  const viewer = `${prefix}-viewer`;
  const roomId = await openRoom(creator);
  await fund(viewer, funds);
  return { creator, viewer, roomId };
}

export function settings(withholdingBps = config.settlement.withholdingBps): SettlementSettings {
  return { settleAfterDays: config.settlement.settleAfterDays, withholdingBps, timeZone: TZ };
}

/** A settlement run of `day` at the ledger level (any withholding rate), as the cron job runs it. */
export async function settleDayDirect(day: string, withholdingBps?: number) {
  const run = await settleBusinessDay(
    await ledger(),
    settings(withholdingBps),
    day,
    { runId: `test:${day}`, actorId: "system:test" },
    Date.now(),
  );
  if (!run.ok) throw new Error(run.message);
  return run.value;
}

export async function runSettlementApi(day: string) {
  return call("POST", "/v1/admin/settlements/run", { token: await operatorToken(), body: { day } });
}

export async function reverseApi(tipId: string, idempotencyKey = key(), reason = "chargeback") {
  return callApproved("POST", `/v1/admin/tips/${tipId}/reversal`, {
    token: await operatorToken(),
    idempotencyKey,
    body: { reason },
  });
}

export async function settlementRow(creatorId: string, day: string) {
  return (await ledger())
    .forOwner(creatorId)
    .db.prepare("SELECT * FROM creator_settlements WHERE creator_id = ? AND day = ?")
    .bind(creatorId, day)
    .first<Record<string, unknown>>();
}

export async function operationCount(creatorId: string, id: string): Promise<number> {
  return (
    (await (
      await ledger()
    )
      .forOwner(creatorId)
      .db.prepare("SELECT COUNT(*) AS n FROM transfers WHERE operation_id = ?")
      .bind(id)
      .first<number>("n")) ?? 0
  );
}
