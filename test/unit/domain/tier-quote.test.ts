import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ShareContext, shareTip, shareTips, type TierSchedule } from "../../../src/domain/revenue-tiers";
import { quoteTip } from "../../../src/domain/tier-quote";

const TZ = "Asia/Shanghai";
const NOV_1 = Date.UTC(2026, 9, 31, 16); // 2026-11-01 00:00 in Shanghai
const schedule: TierSchedule = {
  version: 3,
  effectiveFromMs: 0,
  tiers: [
    { fromGrossMinor: 0, platformBps: 5000 },
    { fromGrossMinor: 10_000, platformBps: 4000 },
    { fromGrossMinor: 30_000, platformBps: 4000 },
    { fromGrossMinor: 100_000, platformBps: 3000 },
  ],
};
const ctx: ShareContext = { schedules: [schedule], defaultBps: 5000, creatorOverrideBps: null, timeZone: TZ };
const at = NOV_1 + 3_600_000;

describe("quoteTip", () => {
  it("prices a tip exactly when every outcome of the uncommitted tips gives one rate, and waits otherwise", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 150_000 }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 40_000 }),
        (committed, uncommitted, gross) => {
          const sum = uncommitted.reduce((a, b) => a + b, 0);
          const q = quoteTip(
            ctx,
            { month: "2026-11", committedMinor: committed, uncommittedMinor: sum },
            {
              atMs: at,
              grossMinor: gross,
            },
          );
          const shareWith = (before: number) =>
            shareTip(ctx, { month: "2026-11", grossMinor: before }, { atMs: at, grossMinor: gross }).share;
          if (q.kind === "exact") {
            // Every subset of the uncommitted tips committing gives the quoted share.
            for (let mask = 0; mask < 1 << uncommitted.length; mask++) {
              const s = uncommitted.reduce((a, b, i) => (mask & (1 << i) ? a + b : a), 0);
              expect(shareWith(committed + s)).toEqual(q.share);
            }
          } else {
            expect(q.kind).toBe("wait");
            // Waiting is needed: all failing and all committing give different rates.
            expect(shareWith(committed).platformBps).not.toBe(shareWith(committed + sum).platformBps);
          }
        },
      ),
    );
  });

  it("needs the month's book only when the rate depends on the gross", () => {
    expect(quoteTip(ctx, null, { atMs: at, grossMinor: 100 })).toEqual({ kind: "load", month: "2026-11" });
    const stale = { month: "2026-10", committedMinor: 5, uncommittedMinor: 0 };
    expect(quoteTip(ctx, stale, { atMs: at, grossMinor: 100 }).kind).toBe("load");
    const override = quoteTip({ ...ctx, creatorOverrideBps: 1234 }, null, { atMs: at, grossMinor: 100 });
    expect(override).toMatchObject({ kind: "exact", share: { platformBps: 1234, scheduleVersion: null } });
    const none = quoteTip({ ...ctx, schedules: [] }, null, { atMs: at, grossMinor: 100 });
    expect(none).toMatchObject({ kind: "exact", share: { platformBps: 5000, scheduleVersion: null } });
  });

  it("a room pricing tips while others commit, some refused, gives every committed tip its sequential share", () => {
    // A model of the room: tips arrive; each is priced when exact (else it waits for outcomes);
    // outcomes arrive in any order. Replaying the committed tips in pricing order through the
    // sequential domain gives the same shares.
    fc.assert(
      fc.property(
        fc.array(fc.record({ gross: fc.integer({ min: 1, max: 30_000 }), fails: fc.boolean() }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 200 }),
        (tips, schedule_) => {
          let committed = 0;
          const inflight: { i: number; gross: number }[] = [];
          const priced: { i: number; share: ReturnType<typeof shareTip>["share"] }[] = [];
          let next = 0;
          let step = 0;
          while (next < tips.length || inflight.length > 0) {
            const choice = schedule_[step++ % schedule_.length] ?? 0;
            const tip = tips[next];
            if (tip !== undefined && (choice % 3 !== 0 || inflight.length === 0)) {
              const uncommitted = inflight.reduce((a, t) => a + t.gross, 0);
              const q = quoteTip(
                ctx,
                { month: "2026-11", committedMinor: committed, uncommittedMinor: uncommitted },
                {
                  atMs: at,
                  grossMinor: tip.gross,
                },
              );
              if (q.kind === "exact") {
                priced.push({ i: next, share: q.share });
                inflight.push({ i: next, gross: tip.gross });
                next += 1;
                continue;
              }
              expect(q.kind).toBe("wait");
              expect(inflight.length).toBeGreaterThan(0);
            }
            const [done] = inflight.splice(choice % inflight.length, 1);
            if (done && !tips[done.i]?.fails) committed += done.gross;
          }
          const kept = priced.filter((p) => !tips[p.i]?.fails);
          const replay = shareTips(
            ctx,
            null,
            kept.map((p) => ({ atMs: at, grossMinor: tips[p.i]?.gross ?? 0 })),
          ).shares;
          expect(kept.map((p) => p.share)).toEqual(replay);
        },
      ),
    );
  });
});
