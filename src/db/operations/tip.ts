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
 *
 * A tip's target is a live room (its stream) or a content item (issue 19: an article, video or
 * post, its creator live or not): `prepareContentTip` prices the latter from the item, and the
 * same `composeTip` writes it — the same postings, guards, idempotency and message row, with
 * `tips.content_id` instead of the room and stream, and no room outbox row (no room shows it).
 */

import { accountAddress, type Posting } from "../../domain/accounts";
import type { AutopayLimits } from "../../domain/autopay";
import { type ContentStatus, contentTipTarget } from "../../domain/content";
import { type ErrorCode, fail, ok, type Result } from "../../domain/errors";
import { assert, LIMITS } from "../../domain/limits";
import type { ModeratedMessage } from "../../domain/moderation";
import { DEFAULT_CURRENCY, formatMinor, parseAmountMinor } from "../../domain/money";
import { effectiveShareBps, splitRevenue } from "../../domain/revenue-share";
import type { TieredShare, TierSchedule } from "../../domain/revenue-tiers";
import { effectiveBigThresholdMinor, isBigTip } from "../../domain/room/lanes";
import { refusalFor, type Switch } from "../../domain/switches";
import {
  type CustomTipBounds,
  type GiftTier,
  type PricedTip,
  priceTip,
  type TipRequest,
  tipTarget,
} from "../../domain/tip";
import {
  type Attach,
  type ComposedOperation,
  composeOperation,
  type Guard,
  type OperationSpec,
  type SqlCondition,
} from "../ledger";
import type { TipEvent } from "../messages/room-events";
import type { RoomRow } from "../reads/rooms";
import { type ScheduleRow, schedulesFrom, schedulesStatement } from "../revenue-schedules";
import { outboxInsert } from "../room-outbox";
import type { LedgerShard } from "../shards";
import { currentSwitches } from "../switches";

/** What the viewer asked for, as the API and a pay-to-tip order carry it. */
export type TipAsk =
  | { readonly kind: "gift"; readonly giftId: string; readonly quantity: number }
  | { readonly kind: "custom"; readonly amount: string };

/** The platform's rules a tip is priced by (from configuration). */
export interface TipRules {
  readonly platformShareBps: number;
  readonly customTip: CustomTipBounds;
  /**
   * Where a tip that commits outside its room's group commit gets its tier rate (the room's
   * tier desk, worker/rooms/tip-rates.ts). Absent: the fixed default or the override.
   */
  readonly rater?: TipRater;
  /** How old a copy of the runtime switches a tip may be checked against (config; default the limit's). */
  readonly switchCacheTtlMs?: number;
  /**
   * The platform's big-gift threshold (config `BIG_GIFT_THRESHOLD_MINOR`; default the limit's):
   * a tip at least this gross takes the instant lane, whatever its gift (domain/room/lanes.ts).
   */
  readonly bigGiftThresholdMinor?: number;
}

/** What a tip's rate depends on besides its gross: the schedules and the creator's override. */
export interface RateFacts {
  readonly schedules: readonly TierSchedule[];
  readonly creatorOverrideBps: number | null;
}

/** A tip rated outside the room: the tip at its rate, and how to tell the room whether it posted. */
export interface RatedTip<T extends AnyPreparedTip = PreparedTip> {
  readonly tip: T;
  settle(fate: "posted" | "failed"): Promise<void>;
}

export interface TipRater {
  rate<T extends AnyPreparedTip>(tip: T, facts: RateFacts): Promise<RatedTip<T>>;
  /**
   * The desk's rate for any of a creator's income counted in the month's gross (a tip, a paid
   * unlock: operations/unlock.ts). `share` null: no desk rates it (no schedule in force or due,
   * or the creator has no room), and it keeps the fixed default or the override.
   */
  quote(ask: DeskAsk, facts: RateFacts): Promise<DeskRate>;
}

/** Income the creator's room's tier desk prices: its id (the operation's), gross, creator and the creator's room. */
export interface DeskAsk {
  readonly id: string;
  readonly creatorId: string;
  /** The creator's room (one per creator), whose desk keeps the month's book; null: none. */
  readonly deskRoomId: string | null;
  readonly grossMinor: number;
}

export interface DeskRate {
  readonly share: TieredShare | null;
  /** The instant the rate was quoted for (the income's time); null when `share` is null. */
  readonly atMs: number | null;
  /** The income must commit before this instant (guard `tip_rate_expired`). */
  readonly commitByMs: number;
  /** Tells the desk whether the income posted (from then on it counts in, or out of, the month). */
  settle(fate: "posted" | "failed"): Promise<void>;
}

interface GiftRow {
  id: string;
  name: string;
  price_minor: number;
  enabled: number;
  tier: GiftTier;
  animation_key: string;
}

/** What every prepared tip carries, whatever its target. */
export interface PreparedTipCore {
  readonly id: string;
  readonly viewerId: string;
  readonly creatorId: string;
  readonly priced: PricedTip;
  /** The platform's rate the tip is split at (tips.platform_bps). */
  readonly shareBps: number;
  /** The tier schedule version that gave the rate; null for the fixed default or an override. */
  readonly scheduleVersion: number | null;
  /**
   * The ledger's clock must not have passed this instant when the tip commits (guard
   * `tip_rate_expired`): a rate is quoted for a bounded time (live-room.tiers.ts). Null: no limit.
   */
  readonly commitByMs: number | null;
  readonly gift: GiftRow | null;
  readonly big: boolean;
  readonly nowMs: number;
  /** The viewer's message, moderated at the edge (null: none); stored in `tip_messages` with the tip. */
  readonly message: ModeratedMessage | null;
}

/** A tip into a live room, in its current stream. */
export interface PreparedTip extends PreparedTipCore {
  readonly roomId: string;
  readonly streamId: string;
}

/** A tip on a content item (its creator need not be live; the item need not be priced). */
export interface PreparedContentTip extends PreparedTipCore {
  readonly contentId: string;
  /**
   * The creator's room, whose tier desk prices all of the creator's tips (live-room.tiers.ts):
   * the content tip is priced there too, so the month's book stays exact. Null: the creator has
   * no room, and the tip is split at the fixed default or the creator's override.
   */
  readonly deskRoomId: string | null;
}

export type AnyPreparedTip = PreparedTip | PreparedContentTip;

export function isContentTip(tip: AnyPreparedTip): tip is PreparedContentTip {
  return "contentId" in tip;
}

export async function prepareTip(
  control: D1Database,
  rules: TipRules,
  input: TipInput,
  nowMs: number,
): Promise<Result<PreparedTip & { readonly rates: RateFacts }, ErrorCode>> {
  const facts = await readTipFacts(
    control,
    input.roomId,
    input.ask.kind === "gift" ? [input.ask.giftId] : [],
    nowMs,
    rules.switchCacheTtlMs,
  );
  const priced = priceWithFacts(facts, rules, input, nowMs);
  if (!priced.ok) return priced;
  return ok({ ...priced.value, rates: { schedules: facts.schedules, creatorOverrideBps: facts.creatorShareBps } });
}

/** The tip at the rate its rater gives (none: as priced, at the fixed default or the override). */
export async function rateTip<T extends AnyPreparedTip>(
  rules: TipRules,
  tip: T & { readonly rates: RateFacts },
): Promise<RatedTip<T>> {
  const { rates, ...rest } = tip;
  const prepared = rest as unknown as T;
  if (rules.rater === undefined) return { tip: prepared, settle: async () => {} };
  return rules.rater.rate(prepared, rates);
}

/** One tip to price: its id (fixed before pricing), the room, the payer and what they asked for. */
export interface TipInput {
  readonly id: string;
  readonly roomId: string;
  readonly viewerId: string;
  readonly ask: TipAsk;
  /** Moderated by the caller against the isolate's word list (no read per tip). */
  readonly message?: ModeratedMessage | null;
}

/**
 * The control database's facts a room's tips are priced by: the room, the gifts asked for and
 * the creator's share override, the tier schedules in force or about to be. Read once for a whole batch of one room's tips (the room's
 * group commit, durable-objects/live-room.tips.ts) or once for one tip (`prepareTip`).
 */
export interface TipFacts {
  readonly room: RoomRow | null;
  readonly gifts: ReadonlyMap<string, GiftRow>;
  readonly creatorShareBps: number | null;
  /** In force at the read's instant, or taking effect within `LIMITS.revenueScheduleLeadMs` of it. */
  readonly schedules: readonly TierSchedule[];
  /** The runtime switches in force (the isolate's copy, at most one TTL old): a paused tip is refused. */
  readonly switches: readonly Switch[];
}

/** One control batch: the room, the gifts (at most `tipGiftsPerReadMax`), the room creator's share, the schedules. */
export async function readTipFacts(
  control: D1Database,
  roomId: string,
  giftIds: readonly string[],
  nowMs: number,
  switchCacheTtlMs: number = LIMITS.switchCacheTtlDefaultMs,
): Promise<TipFacts> {
  const ids = [...new Set(giftIds)];
  assert(ids.length <= LIMITS.tipGiftsPerReadMax, "gifts read at once within limit");
  // The switches come from the isolate's copy: no read here unless the copy is older than its TTL.
  const switches = currentSwitches(control, switchCacheTtlMs);
  const [room, gifts, creator, schedules] = await control.batch([
    control.prepare("SELECT * FROM rooms WHERE id = ?").bind(roomId),
    control
      .prepare(
        `SELECT id, name, price_minor, enabled, tier, animation_key FROM gifts WHERE id IN (${ids.map(() => "?").join(", ")})`,
      )
      .bind(...ids),
    control
      .prepare("SELECT platform_share_bps FROM creators WHERE user_id = (SELECT creator_id FROM rooms WHERE id = ?)")
      .bind(roomId),
    schedulesStatement(control, nowMs),
  ]);
  const giftRows = (gifts?.results ?? []) as GiftRow[];
  const share = creator?.results[0] as { platform_share_bps: number | null } | undefined;
  return {
    room: (room?.results[0] as RoomRow | undefined) ?? null,
    gifts: new Map(giftRows.map((g) => [g.id, g])),
    creatorShareBps: share?.platform_share_bps ?? null,
    schedules: schedulesFrom((schedules?.results ?? []) as ScheduleRow[]),
    switches: await switches,
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
  // A switch pausing tips here (platform, this room, this gift) refuses before any money moves.
  const paused = refusalFor(
    facts.switches,
    { kind: "tip", roomId, giftId: ask.kind === "gift" ? ask.giftId : null },
    nowMs,
  );
  if (paused !== null) return fail(paused.code);
  const { creatorId, streamId } = target.value;
  const gift = ask.kind === "gift" ? (facts.gifts.get(ask.giftId) ?? null) : null;
  const shareBps = effectiveShareBps(rules.platformShareBps, facts.creatorShareBps);
  const priced = priceAsk(ask, gift, rules, shareBps);
  if (!priced.ok) return priced;
  // The lane is the gross amount's, whatever the gift's tier (which picks only the effect shown).
  // room is non-null here: tipTarget refused a missing room.
  const big = isBigTip(
    priced.value.amountMinor,
    effectiveBigThresholdMinor(
      rules.bigGiftThresholdMinor ?? LIMITS.bigGiftThresholdDefaultMinor,
      room?.big_gift_threshold_minor ?? null,
    ),
  );
  return ok({
    id,
    roomId,
    streamId,
    viewerId,
    creatorId,
    priced: priced.value,
    shareBps,
    scheduleVersion: null,
    commitByMs: null,
    gift,
    big,
    nowMs,
    message: input.message ?? null,
  });
}

/** What the viewer asked for, priced and split at `shareBps` (a gift of the catalogue, or a custom amount). */
function priceAsk(ask: TipAsk, gift: GiftRow | null, rules: TipRules, shareBps: number): Result<PricedTip, ErrorCode> {
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
  return priceTip(request, rules.customTip, shareBps);
}

/** One tip on a content item to price: its id, the item, the payer and what they asked for. */
export interface ContentTipInput {
  readonly id: string;
  readonly contentId: string;
  readonly viewerId: string;
  readonly ask: TipAsk;
  readonly message?: ModeratedMessage | null;
}

/**
 * Reads what a content tip is priced by (one control batch: the item, the gift asked for, the
 * creator's share override and room, the tier schedules) and prices it: the item exists, is
 * active and is not the viewer's own; the same pausing switches (platform, gift) and the same
 * gift and custom-amount rules as a room tip. A failure is a value, before any money moves.
 */
export async function prepareContentTip(
  control: D1Database,
  rules: TipRules,
  input: ContentTipInput,
  nowMs: number,
): Promise<Result<PreparedContentTip & { readonly rates: RateFacts }, ErrorCode>> {
  const { id, contentId, viewerId, ask } = input;
  const switches = currentSwitches(control, rules.switchCacheTtlMs ?? LIMITS.switchCacheTtlDefaultMs);
  const creatorOf = "(SELECT creator_id FROM content_items WHERE id = ?)";
  const [item, gifts, creator, room, schedules] = await control.batch([
    control.prepare("SELECT status, creator_id FROM content_items WHERE id = ?").bind(contentId),
    control
      .prepare("SELECT id, name, price_minor, enabled, tier, animation_key FROM gifts WHERE id = ?")
      .bind(ask.kind === "gift" ? ask.giftId : null),
    control.prepare(`SELECT platform_share_bps FROM creators WHERE user_id = ${creatorOf}`).bind(contentId),
    control.prepare(`SELECT id FROM rooms WHERE creator_id = ${creatorOf}`).bind(contentId),
    schedulesStatement(control, nowMs),
  ]);
  const row = (item?.results[0] as { status: ContentStatus; creator_id: string } | undefined) ?? null;
  const target = contentTipTarget(row === null ? null : { status: row.status, creatorId: row.creator_id }, viewerId);
  if (!target.ok) return target;
  const paused = refusalFor(
    await switches,
    { kind: "tip", roomId: null, giftId: ask.kind === "gift" ? ask.giftId : null },
    nowMs,
  );
  if (paused !== null) return fail(paused.code);
  const gift = (gifts?.results[0] as GiftRow | undefined) ?? null;
  const share = creator?.results[0] as { platform_share_bps: number | null } | undefined;
  const creatorShareBps = share?.platform_share_bps ?? null;
  const shareBps = effectiveShareBps(rules.platformShareBps, creatorShareBps);
  const priced = priceAsk(ask, gift, rules, shareBps);
  if (!priced.ok) return priced;
  return ok({
    id,
    contentId,
    deskRoomId: (room?.results[0] as { id: string } | undefined)?.id ?? null,
    viewerId,
    creatorId: target.value.creatorId,
    priced: priced.value,
    shareBps,
    scheduleVersion: null,
    commitByMs: null,
    gift,
    // No room shows a content tip: it takes no big-gift lane.
    big: false,
    nowMs,
    message: input.message ?? null,
    rates: {
      schedules: schedulesFrom((schedules?.results ?? []) as ScheduleRow[]),
      creatorOverrideBps: creatorShareBps,
    },
  });
}

/**
 * The tip at the rate the room quoted (live-room.tiers.ts): split again at that rate, at the
 * instant it was quoted for, to commit before `commitByMs`.
 */
export function atQuotedRate<T extends AnyPreparedTip>(
  tip: T,
  share: TieredShare,
  atMs: number,
  commitByMs: number,
): T {
  const split = splitRevenue(tip.priced.amountMinor, share.platformBps);
  return {
    ...tip,
    priced: { ...tip.priced, ...split },
    shareBps: share.platformBps,
    scheduleVersion: share.scheduleVersion,
    commitByMs,
    nowMs: atMs,
  };
}

/**
 * The body of a content tip's 201, stored with its Idempotency-Key and replayed byte for byte
 * (the wallet balance filled in by the batch, as for a room tip). A held message's text is the
 * payer's own: it is in their receipt, and on no public view until approved.
 */
export function contentTipReceipt(tip: PreparedContentTip) {
  const { priced } = tip;
  return {
    tip: {
      id: tip.id,
      contentId: tip.contentId,
      creatorId: tip.creatorId,
      viewerId: tip.viewerId,
      giftId: priced.giftId,
      quantity: priced.quantity,
      amountMinor: priced.amountMinor,
      amount: formatMinor(priced.amountMinor),
      platformMinor: priced.platformMinor,
      creatorMinor: priced.creatorMinor,
      message: tip.message === null ? null : tip.message.shown,
      messageStatus: tip.message === null ? null : tip.message.status,
      createdAtMs: tip.nowMs,
    },
    walletBalanceMinor: 0,
  };
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
    platformShareBps: tip.shareBps,
    currency: DEFAULT_CURRENCY,
    createdAtMs: tip.nowMs,
    message: tip.message === null ? null : { text: tip.message.shown, status: tip.message.status },
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
  /**
   * The account that pays the tip: the payer's wallet, or for a held tip an operator approved,
   * the payer's held account (operations/tip-hold-release.ts). Either is the payer's, in their shard.
   */
  readonly from?: "wallet" | "held";
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
  /**
   * The payer's tips today that the tips table does not hold yet: a set-based group's earlier
   * tips, whose rows it writes after every tip's guards (tip-group.ts). An SQL sum.
   */
  readonly tippedBefore?: SqlCondition;
}

export function composeTip(shard: LedgerShard, tip: AnyPreparedTip, options: TipOptions = {}): ComposedOperation {
  return composeOperation(shard, tipSpec(shard.db, tip, options));
}

/** The tip as an operation: its postings, guards and rows (the set-based group reads them too). */
export function tipSpec(db: D1Database, tip: AnyPreparedTip, options: TipOptions = {}): OperationSpec {
  const { id, viewerId, creatorId, priced, nowMs } = tip;
  const onContent = isContentTip(tip);
  const roomId = onContent ? null : tip.roomId;
  const streamId = onContent ? null : tip.streamId;
  const contentId = onContent ? tip.contentId : null;
  const wallet = options.from === "held" ? accountAddress.userHeld(viewerId) : accountAddress.userWallet(viewerId);
  const postings: Posting[] = [
    { from: wallet, to: accountAddress.creatorPending(creatorId), amountMinor: priced.creatorMinor },
    { from: wallet, to: accountAddress.platformRevenue(), amountMinor: priced.platformMinor },
  ].filter((p) => p.amountMinor > 0);

  // The room being live and the gift's price are the control database's facts, checked when
  // the tip was priced (prepareTip), one round trip before this batch: a ledger shard cannot
  // see the control database. A stream that ends in between takes this tip as its last.
  const guards: Guard[] = [];
  guards.push(...(options.guards ?? []));
  if (tip.commitByMs !== null) guards.push(rateInTimeGuard(tip.commitByMs));
  return {
    id,
    kind: "tip",
    currency: DEFAULT_CURRENCY,
    postings,
    actorId: viewerId,
    reason: null,
    metadata: {
      ...(onContent ? { contentId } : { roomId }),
      giftId: priced.giftId,
      quantity: priced.quantity,
      shareBps: tip.shareBps,
      scheduleVersion: tip.scheduleVersion,
    },
    nowMs,
    guards,
    // Checked after the balance: a confirmation is pointless when the money is not there.
    guardsAfterFunds: options.autopay ? autopayGuards(viewerId, options.autopay, priced.amountMinor) : [],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO tips (id, room_id, stream_id, content_id, viewer_id, creator_id, gift_id, quantity, amount_minor,
             big, platform_minor, creator_minor, currency, created_at_ms, platform_bps, schedule_version)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          id,
          roomId,
          streamId,
          contentId,
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
          tip.shareBps,
          tip.scheduleVersion,
          ...posting.params,
        ),
      ...(tip.message === null ? [] : [tipMessageInsert(db, tip, posting)]),
      // The room hears of its tip through its outbox; a content tip has no room to tell.
      ...(onContent ? [] : [outboxInsert(db, tipEvent(tip), nowMs, posting)]),
    ],
    attach: options.attach,
  };
}

/** The tip's message row, written only if the tip posts (`when`: its posting condition). */
function tipMessageInsert(db: D1Database, tip: AnyPreparedTip, when: SqlCondition): D1PreparedStatement {
  const m = tip.message;
  assert(m !== null, "a message row needs a message");
  const onContent = isContentTip(tip);
  return db
    .prepare(
      `INSERT INTO tip_messages (tip_id, room_id, content_id, viewer_id, creator_id, text, shown, status, created_at_ms)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${when.sql}`,
    )
    .bind(
      tip.id,
      onContent ? null : tip.roomId,
      onContent ? tip.contentId : null,
      tip.viewerId,
      tip.creatorId,
      m.text,
      m.shown,
      m.status,
      tip.nowMs,
      ...when.params,
    );
}

/** A tip message's row as the group commit writes it (tip-group.ts), in `tipMessageInsert`'s column order. */
export function tipMessageRow(tip: PreparedTip): unknown[] | null {
  const m = tip.message;
  if (m === null) return null;
  return [tip.id, tip.roomId, tip.viewerId, tip.creatorId, m.text, m.shown, m.status, tip.nowMs];
}

/**
 * The ledger's clock has not passed `commitByMs`: a quoted rate is used within its time (see
 * durable-objects/live-room.tiers.ts for why a quote must expire). SQLite's clock, in ms.
 */
export function rateInTimeGuard(commitByMs: number): Guard {
  return { code: "tip_rate_expired", sql: "(julianday('now') - 2440587.5) * 86400000.0 < ?", params: [commitByMs] };
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
    // A held message is not in the room's event: it reaches the room only once approved.
    message: tip.message === null || tip.message.status === "held" ? null : tip.message.shown,
  };
}

/**
 * The tip is within the per-tip limit, and today's tips plus this one within the daily one.
 * Evaluated in the tip's batch, so two concurrent tips cannot both squeeze under the limit.
 */
export function autopayGuards(viewerId: string, check: AutopayCheck, amountMinor: number): Guard[] {
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
      // The day's tips and paid unlocks together (operations/unlock.ts counts the same).
      sql: `(SELECT COALESCE(SUM(amount_minor), 0) FROM tips WHERE viewer_id = ? AND created_at_ms >= ?)
        + (SELECT COALESCE(SUM(amount_minor), 0) FROM entitlements WHERE user_id = ? AND created_at_ms >= ?)${
          check.tippedBefore ? ` + ${check.tippedBefore.sql}` : ""
        } + ? <= ${perDay.sql}`,
      params: [
        viewerId,
        check.dayStartMs,
        viewerId,
        check.dayStartMs,
        ...(check.tippedBefore?.params ?? []),
        amountMinor,
        ...perDay.params,
      ],
    },
  ];
}
