import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import type { TierSchedule } from "../../../src/domain/revenue-tiers";
import {
  quoteOutside,
  type RateContext,
  TierDesk,
  type TierDeskPorts,
} from "../../../src/durable-objects/live-room.tiers";

const TZ = "Asia/Shanghai";
const NOV_30_2300 = Date.UTC(2026, 10, 30, 15); // 2026-11-30 23:00 in Shanghai
const schedule: TierSchedule = {
  version: 1,
  effectiveFromMs: 0,
  tiers: [
    { fromGrossMinor: 0, platformBps: 5_000 },
    { fromGrossMinor: 1_000, platformBps: 4_000 },
  ],
};
const rates: RateContext = { schedules: [schedule], defaultBps: 3_000, creatorOverrideBps: null };

/** A desk over doubles: a clock the test moves, the month's gross and tip rows it sets, timers it runs. */
function world(options: { gross?: number; stored?: number | null } = {}) {
  const state = {
    now: NOV_30_2300,
    gross: options.gross ?? 0,
    reads: [] as [number, number][],
    rows: new Map<string, number>(),
    stored: options.stored ?? null,
    timers: [] as { at: number; fn: () => void }[],
  };
  const ports: TierDeskPorts = {
    now: () => state.now,
    timeZone: TZ,
    readMonthGross: async (_creator, fromMs, toMs) => {
      state.reads.push([fromMs, toMs]);
      return state.gross;
    },
    readTipCreatedAt: async (id) => state.rows.get(id) ?? null,
    quiet: {
      get: () => state.stored,
      put: (ms) => {
        state.stored = ms;
      },
    },
    setTimer: (fn, ms) => void state.timers.push({ at: state.now + ms, fn }),
    warn: () => {},
  };
  const advance = async (ms: number) => {
    state.now += ms;
    const due = state.timers.filter((t) => t.at <= state.now);
    state.timers = state.timers.filter((t) => t.at > state.now);
    for (const t of due) t.fn();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return { state, desk: new TierDesk(ports), advance };
}

/** What the last "wait" waits for (pricers share the desk's memory of it). */
let afterWait: () => Promise<void> = async () => {};

async function quote(desk: TierDesk, id: string, atMs: number, grossMinor: number) {
  const pricer = await desk.turn();
  try {
    afterWait = pricer.afterWait;
    return await pricer.quote(rates, { id, creatorId: "c", atMs, grossMinor });
  } finally {
    pricer.release();
  }
}

describe("the room's tier desk", () => {
  it("reads the month's gross once, over the business month, and counts committed tips only", async () => {
    const { state, desk } = world({ gross: 900 });
    const a = await quote(desk, "a", state.now, 50);
    expect(a).toMatchObject({ share: { platformBps: 5_000, month: "2026-11" } });
    expect(state.reads).toEqual([[Date.UTC(2026, 9, 31, 16), Date.UTC(2026, 10, 30, 16)]]);
    // 900 + 60, plus the uncommitted 50 or not: may or may not reach 1,000, so it waits.
    expect(await quote(desk, "b", state.now, 60)).toBe("wait");
    // The answer may arrive before anyone waits for it: the wait still ends.
    desk.settle("a", "posted");
    await afterWait();
    expect(await quote(desk, "b", state.now, 60)).toMatchObject({ share: { platformBps: 4_000 } });
    desk.settle("b", "posted");
    expect(await quote(desk, "c", state.now, 10)).toMatchObject({ share: { platformBps: 4_000 } });
    desk.settle("c", "failed");
    expect(desk.bookOf()).toEqual({ month: "2026-11", committedMinor: 1_010 });
    expect(state.reads.length).toBe(1);
  });

  it("starts a new month at zero without reading again", async () => {
    const { state, desk, advance } = world({ gross: 5_000 });
    expect(await quote(desk, "a", state.now, 10)).toMatchObject({ share: { platformBps: 4_000 } });
    desk.settle("a", "posted");
    await advance(2 * 3_600_000); // 01:00 on December 1st in Shanghai
    expect(await quote(desk, "b", state.now, 10)).toMatchObject({ share: { platformBps: 5_000, month: "2026-12" } });
    expect(desk.bookOf()).toEqual({ month: "2026-12", committedMinor: 0 });
    expect(state.reads.length).toBe(1);
    // A late answer for a November tip does not count in December.
    desk.settle("b", "posted");
    expect(desk.bookOf()).toEqual({ month: "2026-12", committedMinor: 10 });
  });

  it("settles a tip whose answer was lost by reading it after its quote's time", async () => {
    const { state, desk, advance } = world();
    const a = await quote(desk, "a", state.now, 600);
    const b = await quote(desk, "b", state.now, 300);
    expect(a).not.toBe("wait");
    expect(b).not.toBe("wait");
    desk.settle("a", "unknown");
    desk.settle("b", "unknown");
    state.rows.set("a", state.now); // a committed, b did not
    await advance(LIMITS.tipRateTtlMs);
    expect(desk.uncommittedCount()).toBe(2); // not before the time plus the margin
    await advance(LIMITS.tipRateClockMarginMs + 1);
    expect(desk.uncommittedCount()).toBe(0);
    expect(desk.bookOf()).toEqual({ month: "2026-11", committedMinor: 600 });
  });

  it("after a restart, reads the month only once the earlier instance's quotes have expired", async () => {
    const first = world({ gross: 0 });
    await quote(first.desk, "a", first.state.now, 10);
    const stored = first.state.stored;
    expect(stored).toBe(first.state.now + LIMITS.tipRateTtlMs);
    const { state, desk, advance } = world({ gross: 995, stored });
    expect(await quote(desk, "b", state.now, 10)).toBe("wait");
    expect(state.reads).toEqual([]);
    const readable = afterWait();
    await advance(LIMITS.tipRateTtlMs + LIMITS.tipRateClockMarginMs + 1);
    await readable;
    expect(await quote(desk, "b", state.now, 10)).toMatchObject({ share: { platformBps: 4_000 } });
  });

  it("never reads when no rate depends on the gross, and asks a repeated tip id to wait for its first answer", async () => {
    const { state, desk } = world();
    const pricer = await desk.turn();
    const none = await pricer.quote(
      { ...rates, schedules: [] },
      { id: "a", creatorId: "c", atMs: state.now, grossMinor: 5 },
    );
    const override = await pricer.quote(
      { ...rates, creatorOverrideBps: 1_234 },
      { id: "b", creatorId: "c", atMs: state.now, grossMinor: 5 },
    );
    const again = await pricer.quote(rates, { id: "b", creatorId: "c", atMs: state.now, grossMinor: 5 });
    pricer.release();
    expect(none).toMatchObject({ share: { platformBps: 3_000, scheduleVersion: null } });
    expect(override).toMatchObject({ share: { platformBps: 1_234, scheduleVersion: null } });
    expect(again).toBe("wait");
    expect(state.reads).toEqual([]);
  });

  it("a tip quoted for another path waits near a threshold without holding up the room's pricing", async () => {
    const { state, desk } = world({ gross: 900 });
    expect(await quote(desk, "a", state.now, 50)).not.toBe("wait");
    let answered = false;
    const outside = quoteOutside(
      desk,
      {
        tipId: "x",
        creatorId: "c",
        grossMinor: 60,
        schedules: [{ ...schedule, tiers: [...schedule.tiers] }],
        defaultBps: 3_000,
        creatorOverrideBps: null,
      },
      () => state.now,
    ).then((q) => {
      answered = true;
      return q;
    });
    // The room's next flush is priced meanwhile (far enough from the threshold).
    expect(await quote(desk, "b", state.now, 10)).toMatchObject({ share: { platformBps: 5_000 } });
    expect(answered).toBe(false);
    desk.settle("a", "posted");
    expect(await outside).toMatchObject({ share: { platformBps: 4_000 } }); // 950 + 60 (+ 10)
    expect(desk.uncommittedCount()).toBe(2);
  });

  it("serves pricers in the order they took their turn", async () => {
    const { desk } = world();
    const order: number[] = [];
    const turns = [desk.turn(), desk.turn(), desk.turn()];
    await Promise.all(
      [...turns].reverse().map((t, i) =>
        t.then(async (p) => {
          order.push(2 - i);
          await Promise.resolve();
          p.release();
        }),
      ),
    );
    expect(order).toEqual([0, 1, 2]);
  });
});
