import { describe, expect, it } from "vitest";
import { isRecordedEvent } from "../../../src/db/business-events";
import { businessEvent } from "../../../src/domain/business-events";

const tipData = {
  tipId: "tip_1",
  creatorId: "c1",
  viewerId: "u1",
  giftId: null,
  tier: null,
  quantity: 1,
  amountMinor: 100,
  big: false,
  createdAtMs: 1,
};

describe("which business events the consumer records", () => {
  it("a content item's tip (read back from its operation, swept), not a room's (its outbox is its sweeper)", () => {
    const onContent = businessEvent(
      "tip.created",
      "tip_1",
      1,
      { ...tipData, roomId: null, streamId: null, contentId: "cnt_1" },
      { creatorId: "c1" },
    );
    const inRoom = businessEvent(
      "tip.created",
      "tip_2",
      1,
      { ...tipData, tipId: "tip_2", roomId: "room_1", streamId: "stream_1", contentId: null },
      { creatorId: "c1", roomId: "room_1" },
    );
    expect([isRecordedEvent(onContent), isRecordedEvent(inRoom)]).toEqual([true, false]);
  });
});
