/**
 * Room events reach the partner webhooks through the business-events queue (issue 19): where a
 * room event is applied — the Worker's outbox delivery (worker/rooms/outbox.ts) and the room's
 * own tip commits (live-room.tips.ts) — its business event is sent, before the outbox row is
 * marked, so a send that fails leaves the row for the outbox to deliver (and send) again; the
 * consumer (worker/queues/business-events.ts) stores the partner messages, one per partner,
 * event and type. One queue send per flush: no control-database query on the room's path.
 */

import { businessEventsOfRoomEvents, publishBusinessEvents } from "./business-events";
import type { RoomEvent } from "./messages/room-events";

export interface RoomEventBindings {
  readonly BUSINESS_EVENTS: Queue;
}

/** Sends the business events of applied room events. Throws when the queue refuses. */
export async function publishRoomEvents(bindings: RoomEventBindings, events: readonly RoomEvent[]): Promise<void> {
  await publishBusinessEvents(bindings.BUSINESS_EVENTS, businessEventsOfRoomEvents(events));
}
