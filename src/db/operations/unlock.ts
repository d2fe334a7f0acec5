/**
 * unlock (付费阅读, issue 19): the payer's wallet pays for a content item — the creator's
 * pending earnings and the platform's revenue, split exactly like a tip — and the payer's
 * entitlement to the item is granted in the SAME batch, in the payer's ledger shard. The
 * creator's part crosses to the creator's shard through transit like a tip's
 * (domain/cross-shard.ts), and settles with the creator's tips of that day
 * (db/reads/settlement-inputs.ts counts unlocks beside tips).
 *
 * Two steps, like a tip: `prepareUnlock` reads the item and the creator's share from the
 * control database and prices the unlock in the domain (a failure is a value before any money
 * moves); `composeUnlock` builds the guarded statements. Guards, in order: the payer holds no
 * active entitlement to the item (`already_unlocked`: a second unlock, concurrent or later,
 * moves nothing); then the ledger's own (funds, ceiling); then, without a PIN, the payer's
 * password-free limits (`autopay_per_tip_exceeded`, `autopay_per_day_exceeded`), which count
 * the day's tips and unlocks together. The unique index `entitlements_one_active` is the
 * backstop: the guard makes it unreachable.
 */

import { accountAddress, type Posting } from "../../domain/accounts";
import type { AutopayLimits } from "../../domain/autopay";
import { type ContentKind, type ContentStatus, type PricedUnlock, priceUnlock } from "../../domain/content";
import type { ErrorCode, Result } from "../../domain/errors";
import { fail, ok } from "../../domain/errors";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, formatMinor } from "../../domain/money";
import { effectiveShareBps, splitRevenue } from "../../domain/revenue-share";
import { refusalFor } from "../../domain/switches";
import { type Attach, type ComposedOperation, composeOperation, type Guard } from "../ledger";
import { type ScheduleRow, schedulesFrom, schedulesStatement } from "../revenue-schedules";
import type { LedgerShard } from "../shards";
import { currentSwitches } from "../switches";
import { type RateFacts, rateInTimeGuard, type TipRater } from "./tip";

/** A content item's row in the control database. */
export interface ContentItemRow {
  readonly id: string;
  readonly creator_id: string;
  readonly kind: ContentKind;
  readonly title: string;
  readonly price_minor: number | null;
  readonly currency: string;
  readonly status: ContentStatus;
  readonly partner_id: string | null;
  readonly external_ref: string | null;
  readonly created_by: string;
  readonly created_at_ms: number;
  readonly updated_at_ms: number;
}

export interface PreparedUnlock {
  readonly id: string;
  readonly contentId: string;
  readonly userId: string;
  readonly creatorId: string;
  /** Split at `priced.shareBps`: the fixed default or the override, or the tier the desk quoted. */
  readonly priced: PricedUnlock;
  /** The tier schedule version that gave the rate (entitlements.schedule_version); null: default or override. */
  readonly scheduleVersion: number | null;
  /** The ledger's clock must not have passed this when the unlock commits (guard `tip_rate_expired`); null: no limit. */
  readonly commitByMs: number | null;
  /** The creator's room, whose tier desk rates all of the creator's income; null: the creator has none. */
  readonly deskRoomId: string | null;
  readonly nowMs: number;
}

/** The platform's rules an unlock is priced by (configuration; the rater: worker/rooms/tip-rates.ts). */
export interface UnlockRules {
  readonly platformShareBps: number;
  /** How old a copy of the runtime switches the unlock may be checked against (default the limit's). */
  readonly switchCacheTtlMs?: number;
  /** The creator's room's tier desk (absent: the fixed default or the override, as priced). */
  readonly rater?: TipRater;
}

/**
 * Reads the item, its creator's share override and room, and the tier schedules (one control
 * batch), and prices the unlock at the fixed default or the override; `rateUnlock` then asks the
 * creator's tier desk when schedules are in force. A runtime switch pausing unlocks (platform,
 * this item, this creator's items) or read-only mode refuses here, before any money moves.
 */
export async function prepareUnlock(
  control: D1Database,
  rules: UnlockRules,
  input: { readonly id: string; readonly contentId: string; readonly userId: string },
  nowMs: number,
): Promise<Result<PreparedUnlock & { readonly rates: RateFacts }, ErrorCode>> {
  const switches = currentSwitches(control, rules.switchCacheTtlMs ?? LIMITS.switchCacheTtlDefaultMs);
  const creatorOf = "(SELECT creator_id FROM content_items WHERE id = ?)";
  const [item, creator, room, schedules] = await control.batch([
    control.prepare("SELECT * FROM content_items WHERE id = ?").bind(input.contentId),
    control.prepare(`SELECT platform_share_bps FROM creators WHERE user_id = ${creatorOf}`).bind(input.contentId),
    control.prepare(`SELECT id FROM rooms WHERE creator_id = ${creatorOf}`).bind(input.contentId),
    schedulesStatement(control, nowMs),
  ]);
  const row = (item?.results[0] as ContentItemRow | undefined) ?? null;
  const share = creator?.results[0] as { platform_share_bps: number | null } | undefined;
  const creatorOverrideBps = share?.platform_share_bps ?? null;
  const priced = priceUnlock(
    row === null ? null : { status: row.status, priceMinor: row.price_minor, creatorId: row.creator_id },
    input.userId,
    effectiveShareBps(rules.platformShareBps, creatorOverrideBps),
  );
  if (!priced.ok) return priced;
  // priceUnlock refused a missing item.
  const creatorId = row?.creator_id ?? "";
  const paused = refusalFor(await switches, { kind: "unlock", contentId: input.contentId, creatorId }, nowMs);
  if (paused !== null) return fail(paused.code);
  return ok({
    id: input.id,
    contentId: input.contentId,
    userId: input.userId,
    creatorId,
    priced: priced.value,
    scheduleVersion: null,
    commitByMs: null,
    deskRoomId: (room?.results[0] as { id: string } | undefined)?.id ?? null,
    nowMs,
    rates: { schedules: schedulesFrom((schedules?.results ?? []) as ScheduleRow[]), creatorOverrideBps },
  });
}

/** An unlock at its rate, and how to tell the desk whether it posted. */
export interface RatedUnlock {
  readonly unlock: PreparedUnlock;
  settle(fate: "posted" | "failed"): Promise<void>;
}

/**
 * The unlock at the rate of the creator's tier desk, which prices it in one order with the
 * creator's tips so the month's book stays exact (live-room.tiers.ts): split again at the quoted
 * rate, at the instant it was quoted for, to commit before `commitByMs`. No rater: as priced.
 */
export async function rateUnlock(
  rules: UnlockRules,
  prepared: PreparedUnlock & { readonly rates: RateFacts },
): Promise<RatedUnlock> {
  const { rates, ...unlock } = prepared;
  if (rules.rater === undefined) return { unlock, settle: async () => {} };
  const rate = await rules.rater.quote(
    {
      id: unlock.id,
      creatorId: unlock.creatorId,
      deskRoomId: unlock.deskRoomId,
      grossMinor: unlock.priced.amountMinor,
    },
    rates,
  );
  if (rate.share === null || rate.atMs === null) {
    return { unlock: { ...unlock, commitByMs: rate.commitByMs }, settle: rate.settle };
  }
  const split = splitRevenue(unlock.priced.amountMinor, rate.share.platformBps);
  return {
    unlock: {
      ...unlock,
      priced: { ...unlock.priced, ...split, shareBps: rate.share.platformBps },
      scheduleVersion: rate.share.scheduleVersion,
      commitByMs: rate.commitByMs,
      nowMs: rate.atMs,
    },
    settle: rate.settle,
  };
}

/** The unlock as the API shows it (its 201 body, stored with the Idempotency-Key and replayed). */
export function unlockReceipt(unlock: PreparedUnlock) {
  return {
    unlock: {
      id: unlock.id,
      contentId: unlock.contentId,
      userId: unlock.userId,
      creatorId: unlock.creatorId,
      amountMinor: unlock.priced.amountMinor,
      amount: formatMinor(unlock.priced.amountMinor),
      platformMinor: unlock.priced.platformMinor,
      creatorMinor: unlock.priced.creatorMinor,
      platformShareBps: unlock.priced.shareBps,
      currency: DEFAULT_CURRENCY,
      createdAtMs: unlock.nowMs,
    },
    walletBalanceMinor: 0,
  };
}

export interface UnlockAutopay {
  /** The platform's defaults; the payer's stored settings win, read inside the batch. */
  readonly limits: AutopayLimits;
  /** Where the payer's local day began: tips and unlocks since then count toward the daily limit. */
  readonly dayStartMs: number;
}

export interface UnlockOptions {
  /** 小额免密: the payer gave no PIN, so the unlock must fit their password-free limits. */
  readonly autopay?: UnlockAutopay;
  readonly attach?: Attach;
  /**
   * A pay-to-unlock order's guards (operations/unlock-paid.ts), checked before the entitlement's
   * own; and the order, recorded in the operation's metadata.
   */
  readonly order?: { readonly id: string; readonly guards: readonly Guard[] };
}

/** The payer holds no active entitlement to the item (their shard holds all of theirs). */
export function notUnlockedGuard(userId: string, contentId: string): Guard {
  return {
    code: "already_unlocked",
    sql: "NOT EXISTS (SELECT 1 FROM entitlements WHERE user_id = ? AND content_id = ? AND state = 'active')",
    params: [userId, contentId],
  };
}

function autopayGuards(userId: string, check: UnlockAutopay, amountMinor: number): Guard[] {
  const limit = (column: "per_tip_max_minor" | "per_day_max_minor", fallback: number) =>
    `COALESCE((SELECT ${column} FROM autopay_settings WHERE user_id = ?), ${Number(fallback)})`;
  return [
    {
      code: "autopay_per_tip_exceeded",
      sql: `? <= ${limit("per_tip_max_minor", check.limits.perTipMaxMinor)}`,
      params: [amountMinor, userId],
    },
    {
      code: "autopay_per_day_exceeded",
      sql: `(SELECT COALESCE(SUM(amount_minor), 0) FROM tips WHERE viewer_id = ? AND created_at_ms >= ?)
        + (SELECT COALESCE(SUM(amount_minor), 0) FROM entitlements WHERE user_id = ? AND created_at_ms >= ?)
        + ? <= ${limit("per_day_max_minor", check.limits.perDayMaxMinor)}`,
      params: [userId, check.dayStartMs, userId, check.dayStartMs, amountMinor, userId],
    },
  ];
}

export function composeUnlock(
  shard: LedgerShard,
  unlock: PreparedUnlock,
  options: UnlockOptions = {},
): ComposedOperation {
  const { db } = shard;
  const { id, contentId, userId, creatorId, priced, nowMs, scheduleVersion } = unlock;
  const wallet = accountAddress.userWallet(userId);
  const postings: Posting[] = [
    { from: wallet, to: accountAddress.creatorPending(creatorId), amountMinor: priced.creatorMinor },
    { from: wallet, to: accountAddress.platformRevenue(), amountMinor: priced.platformMinor },
  ].filter((p) => p.amountMinor > 0);
  return composeOperation(shard, {
    id,
    kind: "unlock",
    currency: DEFAULT_CURRENCY,
    postings,
    actorId: userId,
    reason: null,
    metadata: {
      contentId,
      creatorId,
      shareBps: priced.shareBps,
      scheduleVersion,
      ...(options.order ? { orderId: options.order.id } : {}),
    },
    nowMs,
    guards: [
      ...(options.order?.guards ?? []),
      notUnlockedGuard(userId, contentId),
      ...(unlock.commitByMs === null ? [] : [rateInTimeGuard(unlock.commitByMs)]),
    ],
    guardsAfterFunds: options.autopay ? autopayGuards(userId, options.autopay, priced.amountMinor) : [],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO entitlements (id, content_id, user_id, creator_id, amount_minor, platform_minor, creator_minor,
             platform_bps, currency, state, created_at_ms, schedule_version)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          id,
          contentId,
          userId,
          creatorId,
          priced.amountMinor,
          priced.platformMinor,
          priced.creatorMinor,
          priced.shareBps,
          DEFAULT_CURRENCY,
          nowMs,
          scheduleVersion,
          ...posting.params,
        ),
    ],
    attach: options.attach,
  });
}
