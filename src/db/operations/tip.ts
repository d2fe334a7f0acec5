/**
 * tip: the viewer's wallet pays the creator's pending earnings and the platform's share;
 * the tip row and the room's outbox row are written with it.
 *
 * Two steps, because a tip's batch may carry other statements: `prepareTip` reads what
 * pricing needs and prices the tip in the domain (a failure here is a value, before any money
 * moves); `composeTip` builds the guarded statements. The wallet tip route runs them under
 * its Idempotency-Key; a pay-to-tip order runs them inside its payment's credit batch
 * (payment-credit.ts). The reads are the control database's; the batch runs in the viewer's
 * ledger shard, and the creator's part crosses to the creator's shard (domain/cross-shard.ts).
 */

import { accountAddress, type Posting } from "../../domain/accounts";
import type { AutopayLimits } from "../../domain/autopay";
import { type ErrorCode, ok, type Result } from "../../domain/errors";
import { assert, LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, formatMinor, parseAmountMinor } from "../../domain/money";
import { effectiveShareBps } from "../../domain/revenue-share";
import { isBigTip } from "../../domain/room/lanes";
import {
  type CustomTipBounds,
  type GiftTier,
  type PricedTip,
  priceTip,
  type TipRequest,
  tipTarget,
} from "../../domain/tip";
import { type Attach, type ComposedOperation, composeOperation, type Guard, type SqlCondition } from "../ledger";
import type { TipEvent } from "../messages/room-events";
import type { RoomRow } from "../reads/rooms";
import { outboxInsert } from "../room-outbox";
import type { LedgerShard } from "../shards";

/** What the viewer asked for, as the API and a pay-to-tip order carry it. */
export type TipAsk =
  | { readonly kind: "gift"; readonly giftId: string; readonly quantity: number }
  | { readonly kind: "custom"; readonly amount: string };

/** The platform's rules a tip is priced by (from configuration). */
export interface TipRules {
  readonly platformShareBps: number;
  readonly customTip: CustomTipBounds;
}

interface GiftRow {
  id: string;
  name: string;
  price_minor: number;
  enabled: number;
  tier: GiftTier;
  animation_key: string;
}

export interface PreparedTip {
  readonly id: string;
  readonly roomId: string;
  readonly streamId: string;
  readonly viewerId: string;
  readonly creatorId: string;
  readonly priced: PricedTip;
  readonly shareBps: number;
  readonly gift: GiftRow | null;
  readonly big: boolean;
  readonly nowMs: number;
}

export async function prepareTip(
  control: D1Database,
  rules: TipRules,
  input: TipInput,
  nowMs: number,
): Promise<Result<PreparedTip, ErrorCode>> {
  const facts = await readTipFacts(control, input.roomId, input.ask.kind === "gift" ? [input.ask.giftId] : []);
  return priceWithFacts(facts, rules, input, nowMs);
}

/** One tip to price: its id (fixed before pricing), the room, the payer and what they asked for. */
export interface TipInput {
  readonly id: string;
  readonly roomId: string;
  readonly viewerId: string;
  readonly ask: TipAsk;
}

/**
 * The control database's facts a room's tips are priced by: the room, the gifts asked for and
 * the creator's share override. Read once for a whole batch of one room's tips (the room's
 * group commit, durable-objects/live-room.tips.ts) or once for one tip (`prepareTip`).
 */
export interface TipFacts {
  readonly room: RoomRow | null;
  readonly gifts: ReadonlyMap<string, GiftRow>;
  readonly creatorShareBps: number | null;
}

/** One control batch: the room, the gifts (at most `tipGiftsPerReadMax`), the room creator's share. */
export async function readTipFacts(control: D1Database, roomId: string, giftIds: readonly string[]): Promise<TipFacts> {
  const ids = [...new Set(giftIds)];
  assert(ids.length <= LIMITS.tipGiftsPerReadMax, "gifts read at once within limit");
  const [room, gifts, creator] = await control.batch([
    control.prepare("SELECT * FROM rooms WHERE id = ?").bind(roomId),
    control
      .prepare(
        `SELECT id, name, price_minor, enabled, tier, animation_key FROM gifts WHERE id IN (${ids.map(() => "?").join(", ")})`,
      )
      .bind(...ids),
    control
      .prepare("SELECT platform_share_bps FROM creators WHERE user_id = (SELECT creator_id FROM rooms WHERE id = ?)")
      .bind(roomId),
  ]);
  const giftRows = (gifts?.results ?? []) as GiftRow[];
  const share = creator?.results[0] as { platform_share_bps: number | null } | undefined;
  return {
    room: (room?.results[0] as RoomRow | undefined) ?? null,
    gifts: new Map(giftRows.map((g) => [g.id, g])),
    creatorShareBps: share?.platform_share_bps ?? null,
  };
}

/** Prices one tip against facts already read: pure, no I/O (a failure is a value, before any money moves). */
export function priceWithFacts(
  facts: TipFacts,
  rules: TipRules,
  input: TipInput,
  nowMs: number,
): Result<PreparedTip, ErrorCode> {
  const { id, roomId, viewerId, ask } = input;
  const { room } = facts;
  const target = tipTarget(room, viewerId);
  if (!target.ok) return target;
  const { creatorId, streamId } = target.value;
  const gift = ask.kind === "gift" ? (facts.gifts.get(ask.giftId) ?? null) : null;
  let request: TipRequest;
  if (ask.kind === "gift") {
    request = {
      kind: "gift",
      gift: gift ? { id: gift.id, priceMinor: gift.price_minor, enabled: gift.enabled === 1 } : null,
      quantity: ask.quantity,
    };
  } else {
    const amount = parseAmountMinor(ask.amount);
    if (!amount.ok) return amount;
    request = { kind: "custom", amountMinor: amount.value };
  }
  const shareBps = effectiveShareBps(rules.platformShareBps, facts.creatorShareBps);
  const priced = priceTip(request, rules.customTip, shareBps);
  if (!priced.ok) return priced;
  // room is non-null here: tipTarget refused a missing room.
  const big = isBigTip(
    { tier: gift?.tier ?? null, amountMinor: priced.value.amountMinor },
    room?.big_gift_threshold_minor ?? null,
  );
  return ok({ id, roomId, streamId, viewerId, creatorId, priced: priced.value, shareBps, gift, big, nowMs });
}

/** The tip as the API shows it. */
export function tipView(tip: PreparedTip) {
  return {
    id: tip.id,
    roomId: tip.roomId,
    streamId: tip.streamId,
    viewerId: tip.viewerId,
    creatorId: tip.creatorId,
    giftId: tip.priced.giftId,
    quantity: tip.priced.quantity,
    amountMinor: tip.priced.amountMinor,
    big: tip.big,
    platformMinor: tip.priced.platformMinor,
    creatorMinor: tip.priced.creatorMinor,
    currency: DEFAULT_CURRENCY,
    createdAtMs: tip.nowMs,
  };
}

/**
 * The body of a wallet tip's 201, as stored with its Idempotency-Key and replayed byte for
 * byte: the tip with its amount for display, and the wallet balance, which only the batch
 * knows (filled in by `walletBalanceSql` inside it).
 */
export function tipReceipt(tip: PreparedTip) {
  return { tip: { ...tipView(tip), amount: formatMinor(tip.priced.amountMinor) }, walletBalanceMinor: 0 };
}

export interface TipOptions {
  /** Business guards the caller adds (pay-to-tip: its order's tip is still undecided). */
  readonly guards?: readonly Guard[];
  /** 小额免密: the payer did not confirm, so the tip must fit their password-free limits. */
  readonly autopay?: AutopayCheck;
  readonly attach?: Attach;
}

export interface AutopayCheck {
  readonly limits: AutopayLimits;
  /** Where the payer's local day began: tips since then count toward the daily limit. */
  readonly dayStartMs: number;
  /**
   * The limits are read by the guards themselves, inside the batch: the payer's stored
   * settings, else `limits` (the platform's defaults). A batch of many payers' tips then
   * needs no read before it (the room's group commit); the result is the same as reading
   * the settings first, only on the batch's own snapshot.
   */
  readonly limitsInBatch?: boolean;
}

export function composeTip(shard: LedgerShard, tip: PreparedTip, options: TipOptions = {}): ComposedOperation {
  const { db } = shard;
  const { id, roomId, viewerId, creatorId, priced, nowMs } = tip;
  const wallet = accountAddress.userWallet(viewerId);
  const postings: Posting[] = [
    { from: wallet, to: accountAddress.creatorPending(creatorId), amountMinor: priced.creatorMinor },
    { from: wallet, to: accountAddress.platformRevenue(), amountMinor: priced.platformMinor },
  ].filter((p) => p.amountMinor > 0);

  // The room being live and the gift's price are the control database's facts, checked when
  // the tip was priced (prepareTip), one round trip before this batch: a ledger shard cannot
  // see the control database. A stream that ends in between takes this tip as its last.
  const guards: Guard[] = [];
  guards.push(...(options.guards ?? []));
  const roomEvent = tipEvent(tip);
  return composeOperation(shard, {
    id,
    kind: "tip",
    currency: DEFAULT_CURRENCY,
    postings,
    actorId: viewerId,
    reason: null,
    metadata: { roomId, giftId: priced.giftId, quantity: priced.quantity, shareBps: tip.shareBps },
    nowMs,
    guards,
    // Checked after the balance: a confirmation is pointless when the money is not there.
    guardsAfterFunds: options.autopay ? autopayGuards(viewerId, options.autopay, priced.amountMinor) : [],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO tips (id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
             platform_minor, creator_minor, currency, created_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          id,
          roomId,
          tip.streamId,
          viewerId,
          creatorId,
          priced.giftId,
          priced.quantity,
          priced.amountMinor,
          tip.big ? 1 : 0,
          priced.platformMinor,
          priced.creatorMinor,
          DEFAULT_CURRENCY,
          nowMs,
          ...posting.params,
        ),
      outboxInsert(db, roomEvent, nowMs, posting),
    ],
    attach: options.attach,
  });
}

/** The room's event for a tip: written to the room outbox with it, and applied by the room. */
export function tipEvent(tip: PreparedTip): TipEvent {
  const { priced } = tip;
  return {
    type: "tip",
    id: tip.id,
    roomId: tip.roomId,
    streamId: tip.streamId,
    creatorId: tip.creatorId,
    viewerId: tip.viewerId,
    giftId: priced.giftId,
    giftName: tip.gift?.name ?? null,
    tier: tip.gift?.tier ?? null,
    animationKey: tip.gift?.animation_key ?? null,
    quantity: priced.quantity,
    amountMinor: priced.amountMinor,
    big: tip.big,
    createdAtMs: tip.nowMs,
  };
}

/**
 * The tip is within the per-tip limit, and today's tips plus this one within the daily one.
 * Evaluated in the tip's batch, so two concurrent tips cannot both squeeze under the limit.
 */
function autopayGuards(viewerId: string, check: AutopayCheck, amountMinor: number): Guard[] {
  const { perTipMaxMinor, perDayMaxMinor } = check.limits;
  const limit = (column: "per_tip_max_minor" | "per_day_max_minor", fallback: number): SqlCondition =>
    check.limitsInBatch === true
      ? { sql: `COALESCE((SELECT ${column} FROM autopay_settings WHERE user_id = ?), ?)`, params: [viewerId, fallback] }
      : { sql: "?", params: [fallback] };
  const perTip = limit("per_tip_max_minor", perTipMaxMinor);
  const perDay = limit("per_day_max_minor", perDayMaxMinor);
  return [
    { code: "autopay_per_tip_exceeded", sql: `? <= ${perTip.sql}`, params: [amountMinor, ...perTip.params] },
    {
      code: "autopay_per_day_exceeded",
      sql: `(SELECT COALESCE(SUM(amount_minor), 0) FROM tips WHERE viewer_id = ? AND created_at_ms >= ?) + ? <= ${perDay.sql}`,
      params: [viewerId, check.dayStartMs, amountMinor, ...perDay.params],
    },
  ];
}
