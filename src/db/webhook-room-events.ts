/**
 * Room events as partner webhooks (issue 18): what the room outbox announces (db/messages/
 * room-events.ts) becomes `tip.created` (and `gift.big` for a tip in the big-gift lane),
 * `room.live`, `room.ended` and `red_packet.sent`, for the partners owning the room's creator.
 * Called where a room event is applied — the Worker's outbox delivery (worker/rooms/outbox.ts)
 * and the room's own tip commits (live-room.tips.ts) — before the outbox row is marked, so an
 * emission that fails leaves the row for the outbox to deliver again; emitting twice makes no
 * second message (one per partner, event and type).
 */

import type { RoomEvent } from "./messages/room-events";
import { emitWebhookEvents, type WebhookEvent } from "./webhooks";

export interface WebhookBindings {
  readonly CONTROL: D1Database;
  readonly WEBHOOKS: Queue;
}

/** The webhook events of room events; `creatorOf` names a room's creator when the event does not. */
export function webhookEventsOf(events: readonly RoomEvent[], creatorOf: ReadonlyMap<string, string>): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  for (const e of events) {
    switch (e.type) {
      case "tip": {
        const data = {
          tipId: e.id,
          roomId: e.roomId,
          streamId: e.streamId,
          creatorId: e.creatorId,
          viewerId: e.viewerId,
          giftId: e.giftId,
          tier: e.tier,
          quantity: e.quantity,
          amountMinor: e.amountMinor,
          big: e.big,
          createdAtMs: e.createdAtMs,
        };
        out.push({ type: "tip.created", creatorId: e.creatorId, eventKey: e.id, data, createdAtMs: e.createdAtMs });
        if (e.big)
          out.push({ type: "gift.big", creatorId: e.creatorId, eventKey: e.id, data, createdAtMs: e.createdAtMs });
        break;
      }
      case "stream.started":
        out.push({
          type: "room.live",
          creatorId: e.creatorId,
          eventKey: e.streamId,
          data: { roomId: e.roomId, streamId: e.streamId, creatorId: e.creatorId, title: e.title, startedAtMs: e.atMs },
          createdAtMs: e.atMs,
        });
        break;
      case "stream.ended": {
        const creatorId = creatorOf.get(e.roomId);
        if (creatorId === undefined) break;
        out.push({
          type: "room.ended",
          creatorId,
          eventKey: e.streamId,
          data: { roomId: e.roomId, streamId: e.streamId, creatorId, endedAtMs: e.atMs },
          createdAtMs: e.atMs,
        });
        break;
      }
      case "packet.sent": {
        const p = e.packet;
        out.push({
          type: "red_packet.sent",
          creatorId: p.creatorId,
          eventKey: p.id,
          data: {
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
          createdAtMs: p.createdAtMs,
        });
        break;
      }
      case "tip.message":
        break;
    }
  }
  return out;
}

/** Emits the partner webhooks of applied room events (nothing when no partner owns their creators). */
export async function emitRoomWebhooks(
  bindings: WebhookBindings,
  events: readonly RoomEvent[],
  nowMs: number,
): Promise<void> {
  if (events.length === 0) return;
  const endedRooms = [...new Set(events.filter((e) => e.type === "stream.ended").map((e) => e.roomId))];
  const creatorOf = new Map<string, string>();
  if (endedRooms.length > 0) {
    const { results } = await bindings.CONTROL.prepare(
      "SELECT id, creator_id FROM rooms WHERE id IN (SELECT value FROM json_each(?))",
    )
      .bind(JSON.stringify(endedRooms))
      .all<{ id: string; creator_id: string }>();
    for (const r of results) creatorOf.set(r.id, r.creator_id);
  }
  await emitWebhookEvents(bindings.CONTROL, bindings.WEBHOOKS, webhookEventsOf(events, creatorOf), nowMs);
}
