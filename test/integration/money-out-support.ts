/**
 * Test support for money out: tips committed at a chosen instant (a past business day),
 * settlement runs, creators ready to withdraw, and the reads the assertions need.
 */

import { env } from "cloudflare:workers";
import { runOperation } from "../../src/db/ledger";
import { composeTip, prepareTip } from "../../src/db/operations/tip";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { type SettlementSettings, settleBusinessDay } from "../../src/db/settlement-run";
import { Ledger, shardBindings } from "../../src/db/shards";
import { accountAddress } from "../../src/domain/accounts";
import { dayStartMs } from "../../src/domain/business-day";
import { newOwnedId } from "../../src/domain/ids";
import { seal } from "../../src/platform/sealing";
import { operationRows } from "../support/ledger-rows";
import { call, callApproved, config, fund, key, ledger, openRoom, operatorToken, shardDbOf } from "./helpers";

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

/**
 * A creator who may withdraw: verified, with a default sandbox payout account (`pa_<id>`, payee
 * `payee-ok`) past its cooling period, and `availableMinor` settled into creator:{id}:available
 * (an adjustment from world:adjustments, as a settlement would leave it). Returns the account's id.
 */
export async function payableCreator(creatorId: string, availableMinor: number): Promise<{ accountId: string }> {
  const accountId = `pa_${creatorId}`;
  const nowMs = Date.now();
  const sealedAccount = await seal(
    env.PII_KEYS,
    payoutAccountContext(accountId),
    JSON.stringify({ channel: "sandbox", id: "payee-ok" }),
  );
  const sealedIdentity = await seal(env.PII_KEYS, `verification:${creatorId}`, JSON.stringify({ realName: "张三" }));
  await env.CONTROL.batch([
    env.CONTROL.prepare(
      "INSERT INTO creators (user_id, display_name, risk_hold, created_at_ms, updated_at_ms) VALUES (?, ?, 0, ?, ?)",
    ).bind(creatorId, creatorId, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO creator_verifications (creator_id, state, sealed, key_id, real_name_masked, id_number_masked,
         submitted_at_ms, updated_at_ms) VALUES (?, 'verified', ?, ?, '张*', '1101**********1234', ?, ?)`,
    ).bind(creatorId, sealedIdentity.sealed, sealedIdentity.keyId, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
         created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
    ).bind(accountId, creatorId, sealedAccount.sealed, sealedAccount.keyId, nowMs - 1, nowMs, nowMs),
  ]);
  if (availableMinor > 0) {
    const db = await shardDbOf(creatorId);
    await db.batch(
      operationRows(db, {
        id: `test-settle:${creatorId}`,
        kind: "adjustment",
        postings: [
          {
            from: accountAddress.worldAdjustments(),
            to: accountAddress.creatorAvailable(creatorId),
            amountMinor: availableMinor,
          },
        ],
        atMs: nowMs,
      }),
    );
  }
  return { accountId };
}
