import { z } from "zod";
import { USER_ID_PATTERN } from "./accounts";
import { assert } from "./limits";
import { ORDER_KINDS } from "./order";
import { GIFT_TIERS } from "./tip";

/**
 * Business events (issue 19 item 3): the facts other business lines hear about asynchronously —
 * a paid order (of every kind), a tip, a content unlock, a refund, a red packet sent / exhausted /
 * refunded, a creator's withdrawal or a user's winnings withdrawal paid, a room going live or ending. Each is one versioned envelope on the BUSINESS_EVENTS queue
 * (src/worker/queues/business-events.ts fans it out to the partner webhooks and to the internal
 * consumers' registry).
 *
 * One fact, one event id: the id is the event type and the fact's own id (`payment.succeeded:
 * order_…`), so every path that announces the fact again — a duplicate callback, a retried
 * queue message, the outbox or the sweeper — produces the same id, and consumers dedupe on it.
 *
 * Adding an event type: one
 * entry in `BUSINESS_EVENT_DATA` below, and one `businessEvent(...)` where the fact commits (or
 * one fact source in src/db/business-events.ts for the sweeper).
 */

export const BUSINESS_EVENT_VERSION = 1;

const Minor = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const AtMs = z.number().int().nonnegative();
const UserId = z.string().regex(USER_ID_PATTERN);
const Id = z.string().min(1).max(128);

/** Each event type's data, the part consumers and partners read. */
export const BUSINESS_EVENT_DATA = {
  /**
   * A channel reported an order paid and the wallet was credited: a top-up, or a pay-to-tip,
   * cashier-paid packet or pay-to-unlock order. `tipId`, `packetId`, `unlockId`: what the order
   * made from the money in the same step (null when it was kept from happening: the money then
   * stays in the wallet); `roomId` the tip's or packet's room, `contentId` the unlock's item.
   * `packetId`, `contentId` and `unlockId` came after the first producers: a message without
   * them (in the queue or its DLQ across a deploy) still parses, as null.
   */
  "payment.succeeded": z.object({
    orderId: Id,
    orderKind: z.enum(ORDER_KINDS),
    userId: UserId,
    channel: z.string().min(1).max(32),
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    roomId: Id.nullable(),
    tipId: Id.nullable(),
    packetId: Id.nullable().default(null),
    contentId: Id.nullable().default(null),
    unlockId: Id.nullable().default(null),
    succeededAtMs: AtMs,
  }),
  /** An operator refunded (part of) a paid order: the payer's wallet debited, the refund sent to the channel. */
  "payment.refunded": z.object({
    refundId: Id,
    orderId: Id,
    /**
     * What the order paid for, and a pay-to-unlock order's item (null otherwise); both came after
     * the first producers (a message without them parses, as null).
     */
    orderKind: z.enum(ORDER_KINDS).nullable().default(null),
    contentId: Id.nullable().default(null),
    userId: UserId,
    channel: z.string().min(1).max(32),
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    refundedAtMs: AtMs,
  }),
  "tip.created": z.object({
    tipId: Id,
    /** The room and stream it was sent in; null for a tip on a content item (issue 19). */
    roomId: Id.nullable(),
    streamId: Id.nullable(),
    /** The content item tipped; null for a tip in a room. */
    contentId: Id.nullable(),
    creatorId: UserId,
    viewerId: UserId,
    giftId: Id.nullable(),
    tier: z.enum(GIFT_TIERS).nullable(),
    quantity: z.number().int().min(1),
    amountMinor: Minor,
    big: z.boolean(),
    createdAtMs: AtMs,
  }),
  /** An operator reversed a tip: the creator's part and the platform's go back to the viewer. */
  "tip.reversed": z.object({
    reversalId: Id,
    tipId: Id,
    /** The content item the tip was on (its host adjusts its totals); null for a tip in a room. */
    contentId: Id.nullable(),
    creatorId: UserId,
    viewerId: UserId,
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    reversedAtMs: AtMs,
  }),
  /**
   * A content item unlocked (付费阅读): from the wallet, or by a pay-to-unlock order (`orderId`).
   * The payer's money split between the creator's pending earnings and the platform's revenue,
   * and the entitlement granted, in one step.
   */
  "unlock.created": z.object({
    unlockId: Id,
    contentId: Id,
    userId: UserId,
    creatorId: UserId,
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    platformMinor: Minor,
    creatorMinor: Minor,
    orderId: Id.nullable(),
    createdAtMs: AtMs,
  }),
  /** An operator refunded a paid unlock: the whole price back to the payer, the entitlement revoked. */
  "unlock.refunded": z.object({
    refundId: Id,
    unlockId: Id,
    contentId: Id,
    creatorId: UserId,
    userId: UserId,
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    refundedAtMs: AtMs,
  }),
  "red_packet.sent": z.object({
    packetId: Id,
    roomId: Id,
    senderId: UserId,
    totalMinor: Minor,
    currency: z.string().min(3).max(3),
    shares: z.number().int().min(1),
    split: z.string().min(1).max(16),
    createdAtMs: AtMs,
    expiresAtMs: AtMs,
  }),
  /** Every share of the packet was claimed and credited. */
  "red_packet.exhausted": z.object({
    packetId: Id,
    roomId: Id,
    senderId: UserId,
    currency: z.string().min(3).max(3),
    totalMinor: Minor,
    shares: z.number().int().min(1),
    exhaustedAtMs: AtMs,
  }),
  /** The packet expired with shares unclaimed: the remainder went back to the sender (or its campaign). */
  "red_packet.refunded": z.object({
    packetId: Id,
    roomId: Id,
    senderId: UserId,
    currency: z.string().min(3).max(3),
    totalMinor: Minor,
    claimCount: z.number().int().nonnegative(),
    claimedMinor: Minor,
    refundedMinor: Minor,
    refundedAtMs: AtMs,
  }),
  /** The payout channel confirmed a creator's withdrawal paid (amount − fee reached the payee). */
  "withdrawal.paid": z.object({
    withdrawalId: Id,
    creatorId: UserId,
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    feeMinor: Minor,
    channel: z.string().min(1).max(32),
    paidAtMs: AtMs,
  }),
  /**
   * The payout channel confirmed a user's withdrawal of red-packet winnings paid (docs/adr/0017).
   * Its own type, not `withdrawal.paid`: that one is a creator's earnings, which partners and the
   * creator inbox hear of; a winnings withdrawal names no creator and is for internal consumers.
   */
  "winnings_withdrawal.paid": z.object({
    withdrawalId: Id,
    userId: UserId,
    currency: z.string().min(3).max(3),
    amountMinor: Minor,
    feeMinor: Minor,
    channel: z.string().min(1).max(32),
    paidAtMs: AtMs,
  }),
  "room.live": z.object({
    roomId: Id,
    streamId: Id,
    creatorId: UserId,
    title: z.string().max(500),
    startedAtMs: AtMs,
  }),
  "room.ended": z.object({ roomId: Id, streamId: Id, endedAtMs: AtMs }),
} as const;

export type BusinessEventType = keyof typeof BUSINESS_EVENT_DATA;
export const BUSINESS_EVENT_TYPES = Object.keys(BUSINESS_EVENT_DATA) as [BusinessEventType, ...BusinessEventType[]];
export type BusinessEventData<T extends BusinessEventType> = z.infer<(typeof BUSINESS_EVENT_DATA)[T]>;

/** A fact's event id: its type and its own id (both stable, so every re-announcement repeats it). */
export function businessEventId(type: BusinessEventType, factId: string): string {
  return `${type}:${factId}`;
}

const ENVELOPES = Object.fromEntries(
  BUSINESS_EVENT_TYPES.map((type) => [
    type,
    z.strictObject({
      v: z.literal(BUSINESS_EVENT_VERSION),
      /** `${type}:${factId}`: the consumers' idempotency key. */
      id: z.string().min(1).max(160),
      type: z.literal(type),
      /** The fact's own id (an order, a tip, a packet, a withdrawal, a stream). */
      factId: Id,
      /** When the fact committed (not when this copy was sent). */
      occurredAtMs: AtMs,
      /** Whose business it is: the creator, when the fact names one; else its room (consumers resolve it). */
      creatorId: UserId.nullable(),
      roomId: Id.nullable(),
      data: BUSINESS_EVENT_DATA[type],
    }),
  ]),
) as unknown as Record<BusinessEventType, z.ZodType>;

/** The envelope of one event type (version 1). A consumer meeting a newer version fails its schema. */
export type BusinessEvent<T extends BusinessEventType = BusinessEventType> = {
  [K in T]: {
    readonly v: typeof BUSINESS_EVENT_VERSION;
    readonly id: string;
    readonly type: K;
    readonly factId: string;
    readonly occurredAtMs: number;
    readonly creatorId: string | null;
    readonly roomId: string | null;
    readonly data: BusinessEventData<K>;
  };
}[T];

/**
 * Parses an envelope against its own type's schema (so an error names the type's field, not a
 * union's every branch), and checks that its id is `type:factId`.
 */
export function safeParseBusinessEvent(
  value: unknown,
): { readonly success: true; readonly data: BusinessEvent } | { readonly success: false; readonly error: z.ZodError } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    // Not an object at all: zod's own words, at the root.
    const parsed = z.object({}).safeParse(value);
    assert(!parsed.success, "a non-object is no envelope");
    return { success: false, error: parsed.error };
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string" || !Object.hasOwn(ENVELOPES, type)) {
    const error = new z.ZodError([
      { code: "custom", path: ["type"], message: `unknown business event type`, input: type } as z.core.$ZodIssue,
    ]);
    return { success: false, error };
  }
  const parsed = ENVELOPES[type as BusinessEventType].safeParse(value);
  if (!parsed.success) return { success: false, error: parsed.error };
  const event = parsed.data as BusinessEvent;
  if (event.id !== businessEventId(event.type, event.factId)) {
    const error = new z.ZodError([
      { code: "custom", path: ["id"], message: "an event id is type:factId", input: event.id } as z.core.$ZodIssue,
    ]);
    return { success: false, error };
  }
  return { success: true, data: event };
}

/** Builds an event and checks it: a malformed event is a producer bug and throws here, not in the consumer. */
export function businessEvent<T extends BusinessEventType>(
  type: T,
  factId: string,
  occurredAtMs: number,
  data: BusinessEventData<T>,
  subject: { readonly creatorId?: string | null; readonly roomId?: string | null },
): BusinessEvent<T> {
  const parsed = safeParseBusinessEvent({
    v: BUSINESS_EVENT_VERSION,
    id: businessEventId(type, factId),
    type,
    factId,
    occurredAtMs,
    creatorId: subject.creatorId ?? null,
    roomId: subject.roomId ?? null,
    data,
  });
  if (!parsed.success) throw parsed.error;
  return parsed.data as BusinessEvent<T>;
}
