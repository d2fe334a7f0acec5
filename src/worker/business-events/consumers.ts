/**
 * The internal consumers of business events (issue 19 item 3): a typed registry. Each consumer
 * names the event types it takes and handles them idempotently by event id — the queue delivers
 * at least once, and an event may come again after a retried batch or from the sweeper — and
 * throws to have the batch retried. Adding a consumer (the dashboard, a content service) is one
 * entry in `BUSINESS_EVENT_CONSUMERS`.
 */

import { sendCreatorNotices } from "../../db/messages/creator-notices";
import { emitWebhookEvents, type WebhookEvent } from "../../db/webhooks";
import type { BusinessEvent, BusinessEventType } from "../../domain/business-events";
import type { CreatorNotice } from "../../domain/notices";
import type { WebhookEventType } from "../../domain/webhooks";
import type { Logger } from "../../platform/logger";

export interface BusinessEventConsumer<T extends BusinessEventType = BusinessEventType> {
  readonly name: string;
  readonly types: readonly T[];
  /** The batch's events of `types`, not yet done (possibly seen before). Idempotent; throws to retry. */
  handle(events: readonly BusinessEvent<T>[], env: Env, log: Logger, nowMs: number): Promise<void>;
}

/**
 * Which business events partners hear of, as which webhook type (`tip.created` of a big tip also
 * as `gift.big`). Not `winnings_withdrawal.paid`: a user's winnings name no creator, so no partner's.
 */
const WEBHOOK_TYPES = {
  "tip.created": "tip.created",
  "red_packet.sent": "red_packet.sent",
  "red_packet.exhausted": "red_packet.exhausted",
  "red_packet.refunded": "red_packet.refunded",
  "payment.succeeded": "payment.succeeded",
  "payment.refunded": "payment.refunded",
  "tip.reversed": "tip.reversed",
  "unlock.created": "unlock.created",
  "unlock.refunded": "unlock.refunded",
  "withdrawal.paid": "withdrawal.paid",
  "room.live": "room.live",
  "room.ended": "room.ended",
} as const satisfies Partial<Record<BusinessEventType, WebhookEventType>>;
type PartnerEventType = keyof typeof WEBHOOK_TYPES;

/** The creator of each room or content item named (nulls and repeats skipped): one read, none for none. */
async function creatorsOf(
  control: D1Database,
  table: "rooms" | "content_items",
  ids: readonly (string | null)[],
): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id) => id !== null))];
  if (wanted.length === 0) return new Map();
  const { results } = await control
    .prepare(`SELECT id, creator_id FROM ${table} WHERE id IN (SELECT value FROM json_each(?))`)
    .bind(JSON.stringify(wanted))
    .all<{ id: string; creator_id: string }>();
  return new Map(results.map((r) => [r.id, r.creator_id]));
}

/**
 * The partner webhooks (issue 18): each event, for the partners owning its creator (named by
 * the event, or its room's or content item's creator), becomes one message per partner, event and webhook type
 * (db/webhooks.ts stores it once, however often it is emitted) with its deliveries queued. The
 * body is the Standard Webhooks envelope `{ type, timestamp, data }` with the event's data
 * (a room's end also names its creator).
 */
export const partnerWebhooks: BusinessEventConsumer<PartnerEventType> = {
  name: "partner-webhooks",
  types: Object.keys(WEBHOOK_TYPES) as PartnerEventType[],
  async handle(events, env, _log, nowMs) {
    // An event naming neither creator nor room but a content item (a pay-to-unlock order whose
    // unlock could not be made, and its refund) is the item's creator's.
    const itemOf = (e: BusinessEvent): string | null => {
      if (e.creatorId !== null || e.roomId !== null) return null;
      const contentId = (e.data as { contentId?: unknown }).contentId;
      return typeof contentId === "string" ? contentId : null;
    };
    const [creatorOfRoom, creatorOfItem] = await Promise.all([
      creatorsOf(
        env.CONTROL,
        "rooms",
        events.map((e) => (e.creatorId === null ? e.roomId : null)),
      ),
      creatorsOf(env.CONTROL, "content_items", events.map(itemOf)),
    ]);
    const out: WebhookEvent[] = [];
    for (const e of events) {
      const item = itemOf(e);
      const creatorId =
        e.creatorId ??
        (e.roomId !== null ? creatorOfRoom.get(e.roomId) : item !== null ? creatorOfItem.get(item) : undefined);
      if (creatorId === undefined) continue; // a top-up, or a room nobody knows: no partner's business
      const data = e.type === "room.ended" ? { ...e.data, creatorId } : e.data;
      const base = { creatorId, eventKey: e.factId, data, createdAtMs: e.occurredAtMs };
      out.push({ ...base, type: WEBHOOK_TYPES[e.type] });
      if (e.type === "tip.created" && e.data.big) out.push({ ...base, type: "gift.big" });
    }
    await emitWebhookEvents(env.CONTROL, env.WEBHOOKS, out, nowMs);
  },
};

/**
 * The creator's inbox (站内信): a paid withdrawal's notice, `withdrawal:{id}:paid` — the same id
 * the payouts consumer's own notice has, so the inbox stores it once; through this queue it is
 * backed by the sweeper when that notice's send was lost.
 */
export const creatorInbox: BusinessEventConsumer<"withdrawal.paid"> = {
  name: "creator-inbox",
  types: ["withdrawal.paid"],
  async handle(events, env) {
    const notices: CreatorNotice[] = events.map((e) => ({
      id: `withdrawal:${e.data.withdrawalId}:paid`,
      creatorId: e.data.creatorId,
      kind: "withdrawal_state",
      vars: { withdrawalId: e.data.withdrawalId, state: "paid", amountMinor: e.data.amountMinor, reason: null },
      atMs: e.occurredAtMs,
    }));
    await sendCreatorNotices(env.CREATOR_NOTICES, notices);
  },
};

export const BUSINESS_EVENT_CONSUMERS: readonly BusinessEventConsumer[] = [
  partnerWebhooks as unknown as BusinessEventConsumer,
  creatorInbox as unknown as BusinessEventConsumer,
];
