/**
 * Business events (issue 19 item 3; the envelope: domain/business-events.ts): built here from
 * what the databases recorded, sent on the BUSINESS_EVENTS queue, and remembered in the control
 * database once the consumer took them.
 *
 * Where each fact's event comes from — always from the durable record of the fact, keyed by its id:
 * - room events (tips, packets sent, rooms live / ended): where the room outbox is applied
 *   (`businessEventsOfRoomEvents`, called before the outbox row is marked delivered, so a failed
 *   send leaves the row for the outbox's queue and sweeper, which announce it again);
 * - the other money facts (`OPERATION_FACTS`): read back from the ledger shard by their
 *   operation's id, right after the consumer or job that committed them (`emitOperationEvents`),
 *   and by the sweeper (worker/cron/business-event-sweep.ts), which walks each shard's
 *   `operations` by time behind a cursor and sends again every fact whose event the consumer has
 *   not recorded (`business_events`) — so an event lost between commit and send is repaired with
 *   the same id.
 */

import { type BusinessEvent, type BusinessEventType, businessEvent, businessEventId } from "../domain/business-events";
import type { OrderKind } from "../domain/order";
import type { Logger } from "../platform/logger";
import type { RoomEvent } from "./messages/room-events";
import type { LedgerShard } from "./shards";

/** Sends events, 100 per `sendBatch` (the queue's limit). Throws when the queue refuses. */
export async function publishBusinessEvents(queue: Queue, events: readonly BusinessEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 100) {
    await queue.sendBatch(events.slice(i, i + 100).map((body) => ({ body, contentType: "json" as const })));
  }
}

/** The business events of room events (a held tip's message and a greeting are not business facts). */
export function businessEventsOfRoomEvents(events: readonly RoomEvent[]): BusinessEvent[] {
  const out: BusinessEvent[] = [];
  for (const e of events) {
    switch (e.type) {
      case "tip":
        out.push(
          businessEvent(
            "tip.created",
            e.id,
            e.createdAtMs,
            {
              tipId: e.id,
              roomId: e.roomId,
              streamId: e.streamId,
              contentId: null,
              creatorId: e.creatorId,
              viewerId: e.viewerId,
              giftId: e.giftId,
              tier: e.tier,
              quantity: e.quantity,
              amountMinor: e.amountMinor,
              big: e.big,
              createdAtMs: e.createdAtMs,
            },
            { creatorId: e.creatorId, roomId: e.roomId },
          ),
        );
        break;
      case "stream.started":
        out.push(
          businessEvent(
            "room.live",
            e.streamId,
            e.atMs,
            { roomId: e.roomId, streamId: e.streamId, creatorId: e.creatorId, title: e.title, startedAtMs: e.atMs },
            { creatorId: e.creatorId, roomId: e.roomId },
          ),
        );
        break;
      case "stream.ended":
        out.push(
          businessEvent(
            "room.ended",
            e.streamId,
            e.atMs,
            { roomId: e.roomId, streamId: e.streamId, endedAtMs: e.atMs },
            { roomId: e.roomId },
          ),
        );
        break;
      case "packet.sent": {
        const p = e.packet;
        out.push(
          businessEvent(
            "red_packet.sent",
            p.id,
            p.createdAtMs,
            {
              packetId: p.id,
              roomId: e.roomId,
              senderId: p.senderId,
              totalMinor: p.totalMinor,
              currency: p.currency,
              shares: p.shares,
              split: p.split,
              createdAtMs: p.createdAtMs,
              expiresAtMs: p.expiresAtMs,
            },
            { creatorId: p.creatorId, roomId: e.roomId },
          ),
        );
        break;
      }
      case "tip.message":
      case "packet.greeting":
        break;
    }
  }
  return out;
}

// ————— Facts recorded as ledger operations —————

/** An operation of a kind that is a business fact, as the sweeper and the emitters find it. */
export interface OperationRef {
  readonly id: string;
  readonly kind: string;
}

/** Reads the events of some operations of one kind from their shard (operations that are no such fact give none). */
type FactReader = (db: D1Database, operationIds: readonly string[]) => Promise<BusinessEvent[]>;

async function rowsOf<T>(db: D1Database, sql: string, operationIds: readonly string[]): Promise<T[]> {
  const { results } = await db.prepare(sql).bind(JSON.stringify(operationIds)).all<T>();
  return results;
}

const IDS = "(SELECT value FROM json_each(?))";

/**
 * Each operation kind that is a business fact, and how its event is read back. Tips and packets
 * sent are not here: their events come from the room outbox, which has its own sweeper.
 * A new fact recorded as an operation is one entry here.
 */
/**
 * Who an order's events reach (its payment and its refunds alike), over `payment_orders po`: a
 * tip or packet order its room (resolved to the room's creator), a pay-to-unlock order that
 * unlocked the item's creator (one that could not names its item in `contentId`, resolved to
 * its creator by the partner consumer); a top-up no partner.
 */
const ORDER_ROUTE_COLUMNS = `COALESCE(json_extract(po.tip_request, '$.roomId'),
           json_extract(po.packet_request, '$.roomId')) AS room_id, e.creator_id`;
const ORDER_ROUTE_JOIN = "LEFT JOIN entitlements e ON po.unlock_outcome = 'unlocked' AND e.id = po.unlock_id";

export const OPERATION_FACTS: Readonly<Record<string, FactReader>> = {
  // Every order kind; a pay-to-unlock order that unlocked names the item's creator (partners
  // owning them hear of it), a tip or packet order its room (resolved to the room's creator).
  payment_credit: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      kind: OrderKind;
      user_id: string;
      channel: string;
      currency: string;
      amount_minor: number;
      room_id: string | null;
      tip_id: string | null;
      packet_id: string | null;
      content_id: string | null;
      unlock_id: string | null;
      creator_id: string | null;
      at_ms: number;
    }>(
      db,
      `SELECT po.id, po.kind, po.user_id, po.channel, po.currency, po.amount_minor, ${ORDER_ROUTE_COLUMNS},
         CASE WHEN po.tip_outcome = 'sent' THEN po.tip_id END AS tip_id,
         CASE WHEN po.packet_outcome = 'sent' THEN po.packet_id END AS packet_id,
         po.unlock_content_id AS content_id, e.id AS unlock_id, o.created_at_ms AS at_ms
       FROM operations o JOIN payment_orders po ON po.id = o.id ${ORDER_ROUTE_JOIN}
       WHERE o.kind = 'payment_credit' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "payment.succeeded",
        r.id,
        r.at_ms,
        {
          orderId: r.id,
          orderKind: r.kind,
          userId: r.user_id,
          channel: r.channel,
          currency: r.currency,
          amountMinor: r.amount_minor,
          roomId: r.room_id,
          tipId: r.tip_id,
          packetId: r.packet_id,
          contentId: r.content_id,
          unlockId: r.unlock_id,
          succeededAtMs: r.at_ms,
        },
        { creatorId: r.creator_id, roomId: r.room_id },
      ),
    );
  },
  payment_refund: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      order_id: string;
      kind: OrderKind;
      user_id: string;
      channel: string;
      currency: string;
      amount_minor: number;
      room_id: string | null;
      creator_id: string | null;
      content_id: string | null;
      at_ms: number;
    }>(
      db,
      `SELECT r.id, r.order_id, po.kind, po.user_id, po.channel, po.currency, r.amount_minor, ${ORDER_ROUTE_COLUMNS},
         po.unlock_content_id AS content_id, o.created_at_ms AS at_ms
       FROM operations o JOIN payment_refunds r ON r.id = o.id JOIN payment_orders po ON po.id = r.order_id
         ${ORDER_ROUTE_JOIN}
       WHERE o.kind = 'payment_refund' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "payment.refunded",
        r.id,
        r.at_ms,
        {
          refundId: r.id,
          orderId: r.order_id,
          orderKind: r.kind,
          contentId: r.content_id,
          userId: r.user_id,
          channel: r.channel,
          currency: r.currency,
          amountMinor: r.amount_minor,
          refundedAtMs: r.at_ms,
        },
        { creatorId: r.creator_id, roomId: r.room_id },
      ),
    );
  },
  // A wallet unlock or a pay-to-unlock order's (its order in the operation's metadata); the
  // entitlement is read whatever became of it since (a refund is its own fact).
  unlock: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      content_id: string;
      user_id: string;
      creator_id: string;
      currency: string;
      amount_minor: number;
      platform_minor: number;
      creator_minor: number;
      order_id: string | null;
      at_ms: number;
    }>(
      db,
      `SELECT e.id, e.content_id, e.user_id, e.creator_id, e.currency, e.amount_minor, e.platform_minor,
         e.creator_minor, json_extract(o.metadata, '$.orderId') AS order_id, o.created_at_ms AS at_ms
       FROM operations o JOIN entitlements e ON e.id = o.id
       WHERE o.kind = 'unlock' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "unlock.created",
        r.id,
        r.at_ms,
        {
          unlockId: r.id,
          contentId: r.content_id,
          userId: r.user_id,
          creatorId: r.creator_id,
          currency: r.currency,
          amountMinor: r.amount_minor,
          platformMinor: r.platform_minor,
          creatorMinor: r.creator_minor,
          orderId: r.order_id,
          createdAtMs: r.at_ms,
        },
        { creatorId: r.creator_id },
      ),
    );
  },
  /**
   * A tip on a content item (issue 19): no room outbox announces it, so it is read back here like
   * the other facts. A room's tip gives none (its outbox does). `tier` is null: no room shows it.
   */
  tip: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      content_id: string;
      creator_id: string;
      viewer_id: string;
      gift_id: string | null;
      quantity: number;
      amount_minor: number;
      created_at_ms: number;
    }>(
      db,
      `SELECT t.id, t.content_id, t.creator_id, t.viewer_id, t.gift_id, t.quantity, t.amount_minor, t.created_at_ms
       FROM operations o JOIN tips t ON t.id = o.id
       WHERE o.kind = 'tip' AND t.content_id IS NOT NULL AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "tip.created",
        r.id,
        r.created_at_ms,
        {
          tipId: r.id,
          roomId: null,
          streamId: null,
          contentId: r.content_id,
          creatorId: r.creator_id,
          viewerId: r.viewer_id,
          giftId: r.gift_id,
          tier: null,
          quantity: r.quantity,
          amountMinor: r.amount_minor,
          big: false,
          createdAtMs: r.created_at_ms,
        },
        { creatorId: r.creator_id },
      ),
    );
  },
  tip_reversal: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      tip_id: string;
      content_id: string | null;
      creator_id: string;
      viewer_id: string;
      currency: string;
      amount_minor: number;
      at_ms: number;
    }>(
      db,
      `SELECT tr.id, tr.tip_id, tr.content_id, tr.creator_id, tr.viewer_id, tr.currency, tr.amount_minor, o.created_at_ms AS at_ms
       FROM operations o JOIN tip_reversals tr ON tr.id = o.id
       WHERE o.kind = 'tip_reversal' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "tip.reversed",
        r.id,
        r.at_ms,
        {
          reversalId: r.id,
          tipId: r.tip_id,
          contentId: r.content_id,
          creatorId: r.creator_id,
          viewerId: r.viewer_id,
          currency: r.currency,
          amountMinor: r.amount_minor,
          reversedAtMs: r.at_ms,
        },
        { creatorId: r.creator_id },
      ),
    );
  },
  // The creator's leg (in the creator's shard) is the refund's commit; the payer's leg follows.
  unlock_refund: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      unlock_id: string;
      content_id: string;
      creator_id: string;
      user_id: string;
      currency: string;
      amount_minor: number;
      at_ms: number;
    }>(
      db,
      `SELECT r.id, r.unlock_id, r.content_id, r.creator_id, r.user_id, r.currency, r.amount_minor,
         o.created_at_ms AS at_ms
       FROM operations o JOIN unlock_refunds r ON r.id = o.id
       WHERE o.kind = 'unlock_refund' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "unlock.refunded",
        r.id,
        r.at_ms,
        {
          refundId: r.id,
          unlockId: r.unlock_id,
          contentId: r.content_id,
          creatorId: r.creator_id,
          userId: r.user_id,
          currency: r.currency,
          amountMinor: r.amount_minor,
          refundedAtMs: r.at_ms,
        },
        { creatorId: r.creator_id },
      ),
    );
  },
  packet_refund: async (db, ids) => {
    const rows = await rowsOf<PacketRow & { refunded_minor: number; claim_count: number; claimed_minor: number }>(
      db,
      `SELECT p.id, p.room_id, p.sender_id, p.currency, p.total_minor, p.shares, p.refunded_minor,
         COALESCE(p.final_claim_count, 0) AS claim_count, COALESCE(p.final_claimed_minor, 0) AS claimed_minor,
         o.created_at_ms AS at_ms
       FROM operations o JOIN red_packets p ON p.id = json_extract(o.metadata, '$.packetId')
       WHERE o.kind = 'packet_refund' AND p.status = 'refunded' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "red_packet.refunded",
        r.id,
        r.at_ms,
        {
          packetId: r.id,
          roomId: r.room_id,
          senderId: r.sender_id,
          currency: r.currency,
          totalMinor: r.total_minor,
          claimCount: r.claim_count,
          claimedMinor: r.claimed_minor,
          refundedMinor: r.refunded_minor,
          refundedAtMs: r.at_ms,
        },
        { roomId: r.room_id },
      ),
    );
  },
  // Every claim of an exhausted packet names the same event (the packet's): one event per packet.
  packet_claim: async (db, ids) => {
    const rows = await rowsOf<PacketRow>(
      db,
      `SELECT DISTINCT p.id, p.room_id, p.sender_id, p.currency, p.total_minor, p.shares, p.finished_at_ms AS at_ms
       FROM operations o JOIN red_packets p ON p.id = json_extract(o.metadata, '$.packetId')
       WHERE o.kind = 'packet_claim' AND p.status = 'exhausted' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      businessEvent(
        "red_packet.exhausted",
        r.id,
        r.at_ms,
        {
          packetId: r.id,
          roomId: r.room_id,
          senderId: r.sender_id,
          currency: r.currency,
          totalMinor: r.total_minor,
          shares: r.shares,
          exhaustedAtMs: r.at_ms,
        },
        { roomId: r.room_id },
      ),
    );
  },
  // One operation kind, two facts: a creator's withdrawal (`withdrawal.paid`) or a user's
  // withdrawal of winnings (`winnings_withdrawal.paid`), by the withdrawal's owner.
  withdrawal_payout: async (db, ids) => {
    const rows = await rowsOf<{
      id: string;
      owner_kind: "creator" | "user";
      creator_id: string;
      currency: string;
      amount_minor: number;
      fee_minor: number;
      channel: string;
      at_ms: number;
    }>(
      db,
      `SELECT w.id, w.owner_kind, w.creator_id, w.currency, w.amount_minor, w.fee_minor, w.channel,
         o.created_at_ms AS at_ms
       FROM operations o JOIN withdrawals w ON o.id = w.id || ':payout'
       WHERE o.kind = 'withdrawal_payout' AND w.state = 'paid' AND o.id IN ${IDS}`,
      ids,
    );
    return rows.map((r) =>
      r.owner_kind === "user"
        ? businessEvent(
            "winnings_withdrawal.paid",
            r.id,
            r.at_ms,
            {
              withdrawalId: r.id,
              userId: r.creator_id,
              currency: r.currency,
              amountMinor: r.amount_minor,
              feeMinor: r.fee_minor,
              channel: r.channel,
              paidAtMs: r.at_ms,
            },
            {},
          )
        : businessEvent(
            "withdrawal.paid",
            r.id,
            r.at_ms,
            {
              withdrawalId: r.id,
              creatorId: r.creator_id,
              currency: r.currency,
              amountMinor: r.amount_minor,
              feeMinor: r.fee_minor,
              channel: r.channel,
              paidAtMs: r.at_ms,
            },
            { creatorId: r.creator_id },
          ),
    );
  },
};

interface PacketRow {
  id: string;
  room_id: string;
  sender_id: string;
  currency: string;
  total_minor: number;
  shares: number;
  at_ms: number;
}

export const OPERATION_FACT_KINDS = Object.keys(OPERATION_FACTS);

/**
 * Which of those operations the sweeper walks (SQL over `operations`): a tip only when it is on
 * a content item (its metadata names the item), so a busy room's tips never fill a sweep.
 */
export const OPERATION_FACT_WHERE = "(kind <> 'tip' OR json_extract(metadata, '$.contentId') IS NOT NULL)";

/**
 * The types of the facts above: the consumer records each of their ids in `business_events`
 * (the sweeper's "taken" and the consumer's duplicate check). Room events (tips, packets sent,
 * streams) are not recorded — a hot room's every tip would be a control-database row — their
 * outbox is their sweeper, and every consumer is idempotent by event id anyway.
 */
export const RECORDED_EVENT_TYPES: ReadonlySet<BusinessEventType> = new Set<BusinessEventType>([
  "payment.succeeded",
  "payment.refunded",
  "tip.reversed",
  "unlock.refunded",
  "red_packet.exhausted",
  "red_packet.refunded",
  "withdrawal.paid",
  "unlock.created",
  "winnings_withdrawal.paid",
]);

/**
 * Whether the consumer records this event (`business_events`): the types above, and a tip on a
 * content item (read back from its operation like them, so the sweeper must know it was taken;
 * a room's tips are not recorded — their outbox is their sweeper).
 */
export function isRecordedEvent(e: BusinessEvent): boolean {
  if (RECORDED_EVENT_TYPES.has(e.type)) return true;
  return e.type === "tip.created" && (e as BusinessEvent<"tip.created">).data.contentId !== null;
}

/** The events of some operations of one shard (any kinds; those that are no business fact give none), one per event id. */
export async function readOperationEvents(db: D1Database, refs: readonly OperationRef[]): Promise<BusinessEvent[]> {
  const byKind = new Map<string, string[]>();
  for (const r of refs) {
    if (!Object.hasOwn(OPERATION_FACTS, r.kind)) continue;
    byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r.id]);
  }
  const out = new Map<string, BusinessEvent>();
  for (const [kind, ids] of byKind) {
    const read = OPERATION_FACTS[kind];
    if (!read) continue;
    for (let i = 0; i < ids.length; i += 500) {
      for (const e of await read(db, ids.slice(i, i + 500))) out.set(e.id, e);
    }
  }
  return [...out.values()];
}

/**
 * Right after a consumer or job committed some operations: reads their facts back and sends
 * their events. Never throws — a failure is logged and the sweeper sends them (same ids).
 * Returns the events sent.
 */
export async function emitOperationEvents(
  env: Pick<Env, "BUSINESS_EVENTS">,
  shard: Pick<LedgerShard, "db" | "index">,
  refs: readonly OperationRef[],
  log: Logger,
): Promise<BusinessEvent[]> {
  if (refs.length === 0) return [];
  try {
    const events = await readOperationEvents(shard.db, refs);
    await publishBusinessEvents(env.BUSINESS_EVENTS, events);
    return events;
  } catch (error) {
    log.warn("business_events_emit_failed", { shard: shard.index, operations: refs.length, error: String(error) });
    return [];
  }
}

// ————— What the consumer took (control database) —————

/**
 * Records events as taken by the consumer (`received`), once per id, in one statement.
 * Returns the ids already `done` (a duplicate the consumer acknowledges without fanning out).
 */
export async function receiveBusinessEvents(
  control: D1Database,
  events: readonly BusinessEvent[],
  nowMs: number,
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = events.map((e) => ({ id: e.id, type: e.type, factId: e.factId, at: e.occurredAtMs }));
  const [, done] = await control.batch<{ id: string }>([
    control
      .prepare(
        `INSERT INTO business_events (id, type, fact_id, occurred_at_ms, received_at_ms, state)
         SELECT json_extract(value, '$.id'), json_extract(value, '$.type'), json_extract(value, '$.factId'),
           json_extract(value, '$.at'), ?, 'received'
         FROM json_each(?) WHERE true ON CONFLICT (id) DO NOTHING`,
      )
      .bind(nowMs, JSON.stringify(rows)),
    control
      .prepare(`SELECT id FROM business_events WHERE state = 'done' AND id IN (SELECT value FROM json_each(?))`)
      .bind(JSON.stringify(rows.map((r) => r.id))),
  ]);
  return new Set((done?.results ?? []).map((r) => r.id));
}

/** Marks events fanned out to every consumer. */
export async function markBusinessEventsDone(
  control: D1Database,
  ids: readonly string[],
  nowMs: number,
): Promise<void> {
  if (ids.length === 0) return;
  await control
    .prepare(
      `UPDATE business_events SET state = 'done', done_at_ms = ? WHERE id IN (SELECT value FROM json_each(?)) AND state = 'received'`,
    )
    .bind(nowMs, JSON.stringify(ids))
    .run();
}

/** Of these event ids, those the consumer never took (neither received nor done). */
export async function untakenEventIds(control: D1Database, ids: readonly string[]): Promise<Set<string>> {
  const missing = new Set(ids);
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const { results } = await control
      .prepare("SELECT id FROM business_events WHERE id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(chunk))
      .all<{ id: string }>();
    for (const r of results) missing.delete(r.id);
  }
  return missing;
}

export function findBusinessEvent(
  control: D1Database,
  type: BusinessEventType,
  factId: string,
): Promise<{ id: string; state: string; received_at_ms: number } | null> {
  return control
    .prepare("SELECT id, state, received_at_ms FROM business_events WHERE id = ?")
    .bind(businessEventId(type, factId))
    .first();
}
