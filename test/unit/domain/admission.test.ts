import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { admitPacket, type SubsidyFacts } from "../../../src/domain/red-packet";
import { liveStreamOf } from "../../../src/domain/room/live";
import { tipTarget } from "../../../src/domain/tip";

const live = { status: "live" as const, current_stream_id: "stream_1", creator_id: "ling" };

describe("is the room live", () => {
  it("answers the current stream of a live room, and why not otherwise", () => {
    expect(liveStreamOf(live)).toEqual({ ok: true, value: { creatorId: "ling", streamId: "stream_1" } });
    expect(liveStreamOf(null)).toMatchObject({ ok: false, code: "room_not_found" });
    expect(liveStreamOf({ ...live, status: "offline" })).toMatchObject({ ok: false, code: "room_not_live" });
    expect(liveStreamOf({ ...live, current_stream_id: null })).toMatchObject({ ok: false, code: "room_not_live" });
  });

  it("lets anyone but the creator tip into a live room", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("ling", "ana", "bo"),
        fc.constantFrom("live" as const, "offline" as const),
        (viewer, status) => {
          const target = tipTarget({ ...live, status }, viewer);
          if (status === "offline") expect(target).toMatchObject({ ok: false, code: "room_not_live" });
          else if (viewer === "ling") expect(target).toMatchObject({ ok: false, code: "self_tip" });
          else expect(target.ok).toBe(true);
        },
      ),
    );
  });
});

describe("packet admission", () => {
  const subsidy: SubsidyFacts = {
    id: "subsidy_1",
    campaign_id: "campaign_1",
    user_id: "ana",
    amount_minor: 800,
    status: "issued",
  };

  it("pays from the wallet the total asked, or from the sender's own unused subsidy its whole amount", () => {
    expect(admitPacket("ana", { subsidy: "wallet", totalMinor: 1000 }, 10)).toEqual({
      ok: true,
      value: { kind: "wallet", totalMinor: 1000 },
    });
    expect(admitPacket("ana", { subsidy, totalMinor: null }, 8)).toEqual({
      ok: true,
      value: { kind: "subsidy", totalMinor: 800, subsidyId: "subsidy_1", campaignId: "campaign_1" },
    });
    expect(admitPacket("bo", { subsidy, totalMinor: null }, 8)).toMatchObject({ ok: false, code: "subsidy_not_found" });
    expect(admitPacket("ana", { subsidy: null, totalMinor: null }, 8)).toMatchObject({
      ok: false,
      code: "subsidy_not_found",
    });
    expect(admitPacket("ana", { subsidy: { ...subsidy, status: "used" }, totalMinor: null }, 8)).toMatchObject({
      ok: false,
      code: "subsidy_used",
    });
  });

  it("admits exactly the packets whose every share can be at least one fen", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: LIMITS.packetTotalMaxMinor }),
        fc.integer({ min: 1, max: LIMITS.packetSharesMax }),
        (totalMinor, shares) => {
          const admitted = admitPacket("ana", { subsidy: "wallet", totalMinor }, shares);
          if (totalMinor < shares) expect(admitted.ok).toBe(false);
          if (admitted.ok) expect(admitted.value.totalMinor).toBe(totalMinor);
        },
      ),
    );
  });
});
