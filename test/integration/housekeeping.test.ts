import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEMO_PIN } from "../../dev/seed";
import { LIMITS } from "../../src/domain/limits";
import worker from "../../src/worker/index";
import { call, invariantReport } from "./helpers";

describe("scheduled housekeeping", () => {
  it("purges idempotency records past retention and keeps the rest", async () => {
    const now = Date.now();
    const insert = env.LEDGER_0.prepare(
      `INSERT INTO idempotency_keys (principal_id, key, request_hash, state, operation_id, locked_until_ms, created_at_ms, expires_at_ms)
       VALUES (?, ?, 'h', 'completed', ?, 0, ?, ?)`,
    );
    await env.LEDGER_0.batch([
      ...Array.from({ length: 1_200 }, (_, i) =>
        insert.bind("old", `k${i}`, `tip_old_${i}`, now - 2 * LIMITS.idempotencyRetentionMs, now - 1),
      ),
      insert.bind("fresh", "k", "tip_fresh", now, now + LIMITS.idempotencyRetentionMs),
    ]);
    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "*/15 * * * *" }), env);
    const left = await env.LEDGER_0.prepare(
      "SELECT principal_id, COUNT(*) AS n FROM idempotency_keys GROUP BY principal_id",
    ).all();
    expect(left.results).toEqual([{ principal_id: "fresh", n: 1 }]);
  });
});

describe("the demo seed", () => {
  it("is idempotent: running it twice funds each wallet once and reuses the live room", async () => {
    const first = await call("POST", "/v1/dev/seed");
    const second = await call("POST", "/v1/dev/seed");
    expect(first.status).toBe(200);
    expect(second.body.roomId).toBe(first.body.roomId);
    const balances = (r: typeof first) =>
      Object.fromEntries(r.body.users.map((u: any) => [u.userId, u.walletBalanceMinor]));
    expect(balances(second)).toEqual(balances(first));
    expect(balances(first)["viewer-ana"]).toBe(100_000);
    // The demo's paid articles: the same two rows however often it runs, owned by the creator.
    expect(second.body.articles).toEqual(first.body.articles);
    expect(first.body.articles.map((a: { price: string }) => a.price)).toEqual(["6.00", "288.00"]);
    const rows = await env.CONTROL.prepare(
      "SELECT creator_id, price_minor FROM content_items WHERE id IN (?, ?) ORDER BY price_minor",
    )
      .bind(...first.body.articles.map((a: { id: string }) => a.id))
      .all<{ creator_id: string; price_minor: number }>();
    expect(rows.results).toEqual([
      { creator_id: "creator-lin", price_minor: 600 },
      { creator_id: "creator-lin", price_minor: 28_800 },
    ]);
    const ana = first.body.users.find((u: any) => u.userId === "viewer-ana");
    const tip = await call("POST", `/v1/rooms/${first.body.roomId}/tips`, {
      token: ana.token,
      idempotencyKey: "seeded-tip",
      // Above the password-free limits: the demo PIN.
      body: { kind: "gift", giftId: "sports-car", quantity: 1, pin: DEMO_PIN },
    });
    expect(tip.status).toBe(201);
    expect((await invariantReport()).ok).toBe(true);
  });
});
