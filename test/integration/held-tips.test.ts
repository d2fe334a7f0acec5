/**
 * Held tips (issue 16, risk outcome `review`) end to end: a tip a rule sends to review is held
 * with its money (202), on both commit paths, once per Idempotency-Key; operators approve it
 * into the tip (revenue share, creator credit across shards, the room's announcement) or
 * decline it back to the wallet, exactly once under racing duplicates; the sweeper declines
 * what nobody decided in time; the ledger's invariants (held balance = Σ held tips) hold.
 *
 * The review rule is pinned in this file's isolate (`riskCache.pinForTests`): written to the
 * shared control database it would hold other files' tips.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { riskCache } from "../../src/db/risk";
import { LIMITS } from "../../src/domain/limits";
import { type RiskRule, RiskRuleSchema } from "../../src/domain/risk/rules";
import { createLogger } from "../../src/platform/logger";
import { expireHeldTips } from "../../src/worker/held-tips";
import {
  BASE,
  balanceOf,
  call,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  settleTransit,
  shardDbOf,
  token,
  until,
} from "./helpers";

afterEach(() => riskCache.forget());

const run = Math.random().toString(36).slice(2, 8);
const id = (name: string) => `held-${run}-${name}`;

/** Tips above 3.00 go to review; nothing else is ruled. */
const REVIEW_ABOVE_MINOR = 300;
function pinReviewRule(): void {
  riskCache.pinForTests([
    RiskRuleSchema.parse({
      id: "held-review-cap",
      kind: "amount_cap",
      action: "tip",
      maxMinor: REVIEW_ABOVE_MINOR,
      outcome: "review",
      enabled: true,
    }) satisfies RiskRule,
  ]);
}

const custom = (amount: string) => ({ kind: "custom", amount });

function tip(roomId: string, as: string, body: unknown, idempotencyKey: string = key()) {
  return call("POST", `/v1/rooms/${roomId}/tips`, { token: as, body, idempotencyKey });
}

async function riskOperator(name: string): Promise<string> {
  return token(id(name), "risk");
}

async function heldRowsOf(viewerId: string) {
  const db = await shardDbOf(viewerId);
  const { results } = await db
    .prepare("SELECT id, state, amount_minor, tip_id FROM held_tips WHERE viewer_id = ? ORDER BY id")
    .bind(viewerId)
    .all<{ id: string; state: string; amount_minor: number; tip_id: string }>();
  return results;
}

async function tipsOf(viewerId: string) {
  const db = await shardDbOf(viewerId);
  const { results } = await db
    .prepare("SELECT id, amount_minor, creator_minor, platform_minor FROM tips WHERE viewer_id = ?")
    .bind(viewerId)
    .all<{ id: string; amount_minor: number; creator_minor: number; platform_minor: number }>();
  return results;
}

describe("a tip sent to review is held with its money", () => {
  it("a storm: small tips post, big ones are held once per key; racing approve/decline duplicates decide each once; balances exact, invariants clean", async () => {
    pinReviewRule();
    const creator = id("storm-creator");
    const roomId = await openRoom(creator);
    const viewers = Array.from({ length: 10 }, (_, i) => id(`viewer-${i}`));
    await Promise.all(viewers.map((v) => fund(v, "50.00")));
    const tokens = new Map(await Promise.all(viewers.map(async (v) => [v, await token(v)] as const)));
    const creatorPendingBefore = await balanceOf(`creator:${creator}:pending`);

    // Per viewer: two small tips (1.00, posted), two big ones (5.00 and 4.00, held), and the
    // 5.00 again under the same key, all at once: the duplicate holds nothing more.
    const sends = viewers.flatMap((v) => {
      const dupKey = key();
      return [
        { v, body: custom("1.00"), k: key(), big: false },
        { v, body: custom("1.00"), k: key(), big: false },
        { v, body: custom("5.00"), k: dupKey, big: true },
        { v, body: custom("5.00"), k: dupKey, big: true },
        { v, body: custom("4.00"), k: key(), big: true },
      ];
    });
    const answers = await Promise.all(sends.map((s) => tip(roomId, tokens.get(s.v) as string, s.body, s.k)));
    for (const [i, s] of sends.entries()) {
      const a = answers[i];
      if (!s.big) expect(a?.status, JSON.stringify(a?.body)).toBe(201);
      // A concurrent duplicate of a key in flight is told so (409); otherwise the hold's 202.
      else expect([202, 409], JSON.stringify(a?.body)).toContain(a?.status);
    }
    // Every key again, one by one: the stored answers (a held tip's 202 with the same id).
    const heldIds = new Map<string, Set<string>>();
    for (const s of sends) {
      const again = await tip(roomId, tokens.get(s.v) as string, s.body, s.k);
      expect(again.status, JSON.stringify(again.body)).toBe(s.big ? 202 : 201);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      if (s.big) {
        expect(again.body.heldTip.state).toBe("held");
        const set = heldIds.get(s.v) ?? new Set<string>();
        set.add(again.body.heldTip.id);
        heldIds.set(s.v, set);
      }
    }
    for (const v of viewers) {
      expect(heldIds.get(v)?.size).toBe(2);
      expect((await heldRowsOf(v)).map((r) => [r.state, r.amount_minor]).sort()).toEqual([
        ["held", 400],
        ["held", 500],
      ]);
      expect(await balanceOf(`user:${v}:wallet`)).toBe(5_000 - 200 - 900);
      expect(await balanceOf(`user:${v}:held`)).toBe(900);
      expect((await tipsOf(v)).length).toBe(2);
    }
    expect((await invariantReport()).violations).toEqual([]);

    // The queue lists them with the rule that fired, and counts what waits.
    const ops = await riskOperator("storm-reviewer");
    const listed = new Map<string, any>();
    let cursor: string | null = null;
    let waiting = 0;
    do {
      const page: any = await call(
        "GET",
        `/v1/admin/risk/reviews?state=held&limit=100${cursor ? `&cursor=${cursor}` : ""}`,
        { token: ops },
      );
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      waiting = page.body.waiting;
      for (const h of page.body.heldTips) listed.set(h.id, h);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    const all = [...heldIds.values()].flatMap((s) => [...s]);
    expect(waiting).toBeGreaterThanOrEqual(all.length);
    // The console's queues badge counts the same tips (bounded like every queue's count).
    const queues = await call("GET", "/v1/admin/queues", { token: ops });
    expect(queues.body.counts.riskReviews).toBe(Math.min(waiting, LIMITS.workQueueCountMax));
    for (const h of all) {
      expect(listed.get(h)?.fired[0]).toMatchObject({ ruleId: "held-review-cap", reason: "amount_cap" });
    }

    // Decisions: per viewer, the 5.00 gets approve, decline and approve at once, twice over
    // (6 racing requests); the 4.00 is approved by two at once.
    const decide = (heldId: string, how: "approve" | "decline") =>
      call("POST", `/v1/admin/risk/reviews/${heldId}/${how}`, {
        token: ops,
        body: how === "decline" ? { reason: "looks like a stolen card" } : undefined,
      });
    const byAmount = async (v: string) => {
      const rows = await heldRowsOf(v);
      return {
        five: rows.find((r) => r.amount_minor === 500)?.id as string,
        four: rows.find((r) => r.amount_minor === 400)?.id as string,
      };
    };
    const targets = await Promise.all(viewers.map(byAmount));
    const decisions = await Promise.all(
      targets.flatMap(({ five, four }) => [
        ...(["approve", "decline", "approve", "approve", "decline", "approve"] as const).map((how) =>
          decide(five, how).then((r) => ({ held: five, how, r })),
        ),
        decide(four, "approve").then((r) => ({ held: four, how: "approve" as const, r })),
        decide(four, "approve").then((r) => ({ held: four, how: "approve" as const, r })),
      ]),
    );
    // Each request: 200 with the state its decision made, or 409 held_tip_decided (the other one won).
    for (const { how, r } of decisions) {
      if (r.status === 200) expect(r.body.heldTip.state).toBe(how === "approve" ? "approved" : "declined");
      else expect([r.status, r.body.error.code], JSON.stringify(r.body)).toEqual([409, "held_tip_decided"]);
    }

    await settleTransit();
    let expectedCreatorMinor = 0;
    for (const [i, v] of viewers.entries()) {
      const { five, four } = targets[i] as { five: string; four: string };
      const rows = await heldRowsOf(v);
      const fiveState = rows.find((r) => r.id === five)?.state;
      expect(["approved", "declined"]).toContain(fiveState);
      expect(rows.find((r) => r.id === four)?.state).toBe("approved");
      // The winner's requests answered 200, the loser's 409: never both kinds of 200 for one tip.
      const wins = decisions.filter((d) => d.held === five && d.r.status === 200).map((d) => d.how);
      expect(new Set(wins)).toEqual(new Set([fiveState === "approved" ? "approve" : "decline"]));
      const approved = 400 + (fiveState === "approved" ? 500 : 0);
      expect(await balanceOf(`user:${v}:held`)).toBe(0);
      expect(await balanceOf(`user:${v}:wallet`)).toBe(5_000 - 200 - approved);
      const tips = await tipsOf(v);
      expect(tips.length).toBe(2 + (fiveState === "approved" ? 2 : 1));
      expect(tips.reduce((s, t) => s + t.amount_minor, 0)).toBe(200 + approved);
      // An approved tip is the tip with the id fixed when held, split as a wallet tip is.
      for (const row of rows.filter((r) => r.state === "approved")) {
        const t = tips.find((x) => x.id === row.tip_id);
        expect(t?.amount_minor).toBe(row.amount_minor);
        expect((t?.creator_minor ?? 0) + (t?.platform_minor ?? 0)).toBe(row.amount_minor);
      }
      expectedCreatorMinor += tips.reduce((s, t) => s + t.creator_minor, 0);
    }
    expect((await balanceOf(`creator:${creator}:pending`)) - creatorPendingBefore).toBe(expectedCreatorMinor);

    // Deciding again: the same decision answers the same; the contrary one is refused; nothing moves.
    const first = targets[0] as { five: string; four: string };
    const again = await decide(first.four, "approve");
    expect([again.status, again.body.heldTip.state]).toEqual([200, "approved"]);
    const contrary = await decide(first.four, "decline");
    expect([contrary.status, contrary.body.error.code]).toEqual([409, "held_tip_decided"]);
    expect(await balanceOf(`user:${viewers[0]}:held`)).toBe(0);

    // The room announced the approved tips (its outbox row, applied by the room).
    const approvedTipIds = (await Promise.all(viewers.map(heldRowsOf)))
      .flat()
      .filter((r) => r.state === "approved")
      .map((r) => r.tip_id);
    const viewerShards = await Promise.all(viewers.map(shardDbOf));
    const undelivered = await until(
      async () => {
        let n = 0;
        for (const db of new Set(viewerShards)) {
          const row = await db
            .prepare(
              "SELECT COUNT(*) AS n FROM room_outbox WHERE id IN (SELECT value FROM json_each(?)) AND delivered_at_ms IS NULL",
            )
            .bind(JSON.stringify(approvedTipIds))
            .first<{ n: number }>();
          n += row?.n ?? 0;
        }
        return n;
      },
      (n) => n === 0,
    );
    expect(undelivered).toBe(0);

    const report = await invariantReport();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("the direct commit path holds the same way, once per key; without the money nothing is held", async () => {
    pinReviewRule();
    const roomId = await openRoom(id("direct-creator"));
    const viewer = id("direct-viewer");
    const poor = id("direct-poor");
    await fund(viewer, "10.00");
    await fund(poor, "2.00");
    const { default: devWorker } = await import("../../dev/giftwire-dev");
    const direct = async (as: string, body: unknown, k: string) => {
      const ctx = createExecutionContext();
      const res = await devWorker.fetch(
        new Request(`${BASE}/v1/rooms/${roomId}/tips`, {
          method: "POST",
          headers: { authorization: `Bearer ${as}`, "idempotency-key": k, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
        { ...env, TIP_COMMIT: "direct" },
        ctx,
      );
      const text = await res.text();
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: JSON.parse(text), text, replayed: res.headers.get("idempotent-replayed") };
    };
    const t = await token(viewer);
    const k = key();
    const held = await direct(t, custom("6.00"), k);
    expect(held.status, held.text).toBe(202);
    expect(held.body.heldTip).toMatchObject({ state: "held", amountMinor: 600, amount: "6.00" });
    expect(held.body.walletBalanceMinor).toBe(400);
    const replayed = await direct(t, custom("6.00"), k);
    expect([replayed.status, replayed.text, replayed.replayed]).toEqual([202, held.text, "true"]);
    const reused = await direct(t, custom("7.00"), k);
    expect([reused.status, reused.body.error.code]).toEqual([422, "idempotency_key_reused"]);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(400);
    expect(await balanceOf(`user:${viewer}:held`)).toBe(600);
    expect((await direct(t, custom("1.00"), key())).status).toBe(201);

    const short = await direct(await token(poor), custom("6.00"), key());
    expect([short.status, short.body.error.code]).toEqual([409, "insufficient_funds"]);
    expect(await heldRowsOf(poor)).toEqual([]);
    expect(await balanceOf(`user:${poor}:wallet`)).toBe(200);

    // Declined: the money is back in the wallet, once.
    const ops = await riskOperator("direct-reviewer");
    const heldId = held.body.heldTip.id as string;
    const detail = await call("GET", `/v1/admin/risk/reviews/${heldId}`, { token: ops });
    expect(detail.body.heldTip).toMatchObject({ state: "held", viewerId: viewer, amountMinor: 600 });
    expect(detail.body.heldTip.fired[0].detail).toBe("600 above the cap of 300");
    const declined = await Promise.all(
      [0, 1, 2].map(() =>
        call("POST", `/v1/admin/risk/reviews/${heldId}/decline`, { token: ops, body: { reason: "not the owner" } }),
      ),
    );
    expect(declined.map((d) => [d.status, d.body.heldTip?.state])).toEqual([
      [200, "declined"],
      [200, "declined"],
      [200, "declined"],
    ]);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(900);
    expect(await balanceOf(`user:${viewer}:held`)).toBe(0);
    // One audit entry, in the payer's shard's chain, for the one decline that moved money.
    const { results: entries } = await (await ledger())
      .forId(heldId)
      .db.prepare("SELECT action, actor FROM audit_log WHERE target = ?")
      .bind(heldId)
      .all<{ action: string; actor: string }>();
    expect(entries).toEqual([{ action: "risk_review.decline", actor: id("direct-reviewer") }]);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a held tip nobody decides within 72 h is declined by the sweeper, once; a viewer or a reader may not decide", async () => {
    pinReviewRule();
    const roomId = await openRoom(id("expiry-creator"));
    const viewer = id("expiry-viewer");
    await fund(viewer, "10.00");
    const res = await tip(roomId, await token(viewer), custom("8.00"));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const heldId = res.body.heldTip.id as string;
    expect(res.body.heldTip.expiresAtMs - res.body.heldTip.createdAtMs).toBe(LIMITS.heldTipDecideWithinMs);

    const viewerTries = await call("POST", `/v1/admin/risk/reviews/${heldId}/approve`, { token: await token(viewer) });
    expect(viewerTries.status).toBe(403);
    const reader = await token(id("reader"), "auditor");
    expect((await call("POST", `/v1/admin/risk/reviews/${heldId}/approve`, { token: reader })).status).toBe(403);
    const unknown = await call("GET", `/v1/admin/risk/reviews/held_${"0".repeat(26)}`, { token: reader });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "held_tip_not_found"]);

    const log = createLogger({ test: "held-tips" });
    // Not yet due: nothing of it moves.
    await expireHeldTips(env, Date.now(), log);
    expect((await heldRowsOf(viewer))[0]?.state).toBe("held");
    const due = res.body.heldTip.expiresAtMs + 1;
    await Promise.all([expireHeldTips(env, due, log), expireHeldTips(env, due, log)]);
    expect((await heldRowsOf(viewer))[0]?.state).toBe("expired");
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(1_000);
    expect(await balanceOf(`user:${viewer}:held`)).toBe(0);
    const l = await ledger();
    const releases = await l
      .forId(heldId)
      .db.prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?")
      .bind(`${heldId}:release`)
      .first<{ n: number }>();
    expect(releases?.n).toBe(1);
    const late = await call("POST", `/v1/admin/risk/reviews/${heldId}/approve`, {
      token: await riskOperator("late-reviewer"),
    });
    expect([late.status, late.body.error.code]).toEqual([409, "held_tip_decided"]);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("an approval waits for a live room: after the stream ended it is refused and the tip stays held; a decline refunds it", async () => {
    pinReviewRule();
    const creator = id("ended-creator");
    const roomId = await openRoom(creator);
    const viewer = id("ended-viewer");
    await fund(viewer, "10.00");
    const res = await tip(roomId, await token(viewer), { kind: "custom", amount: "4.00", message: "加油" });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const heldId = res.body.heldTip.id as string;
    const ended = await call("POST", `/v1/rooms/${roomId}/end`, { token: await token(creator, "creator", "viewer") });
    expect(ended.status, JSON.stringify(ended.body)).toBe(200);
    const ops = await riskOperator("ended-reviewer");
    const refused = await call("POST", `/v1/admin/risk/reviews/${heldId}/approve`, { token: ops });
    expect([refused.status, refused.body.error.code]).toEqual([409, "room_not_live"]);
    const detail = await call("GET", `/v1/admin/risk/reviews/${heldId}`, { token: ops });
    expect(detail.body.heldTip).toMatchObject({
      state: "held",
      message: { text: "加油", shown: "加油", status: "shown" },
      ask: { kind: "custom", amount: "4.00" },
    });
    expect(await balanceOf(`user:${viewer}:held`)).toBe(400);
    const declined = await call("POST", `/v1/admin/risk/reviews/${heldId}/decline`, {
      token: ops,
      body: { reason: "stream over" },
    });
    expect(declined.body.heldTip).toMatchObject({ state: "declined", decisionReason: "stream over" });
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(1_000);
    expect((await tipsOf(viewer)).length).toBe(0);
  });
});
