/**
 * The creator's inbox (站内信): notices through the CREATOR_NOTICES queue stored once per id,
 * mutes, templates rendered at read time per locale with operators' overrides, the unread
 * count and marking read.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CreatorNotice } from "../../src/domain/notices";
import { createLogger } from "../../src/platform/logger";
import { noticeCreator, noticeSettlementDone, noticeWithdrawalState } from "../../src/worker/notifications/notice";
import { handleCreatorNoticesBatch } from "../../src/worker/queues/creator-notices";
import { call, ledger, operatorToken, shardDbOf, token, until } from "./helpers";

const log = createLogger({ test: "creator-inbox" });

/** A queue batch as the runtime hands it, recording what the consumer acked and retried. */
function batchOf(bodies: unknown[], attempts = 1) {
  const acked: number[] = [];
  const retried: number[] = [];
  const batch = {
    queue: "giftwire-creator-notices",
    messages: bodies.map((body, i) => ({
      id: `m-${i}`,
      timestamp: new Date(),
      attempts,
      body,
      ack: () => acked.push(i),
      retry: () => retried.push(i),
    })),
    ackAll: () => undefined,
    retryAll: () => undefined,
  } as unknown as MessageBatch<unknown>;
  return { batch, acked, retried };
}

function settled(creatorId: string, day: string, netMinor: number): CreatorNotice {
  return {
    id: `settled:${creatorId}:${day}`,
    creatorId,
    kind: "settlement_done",
    vars: { day, tipCount: 3, grossMinor: 30_000, netMinor },
    atMs: Date.parse(`${day}T12:00:00Z`),
  };
}

function bigGift(creatorId: string, tipId: string, atMs: number): CreatorNotice {
  return {
    id: `big:${tipId}`,
    creatorId,
    kind: "big_gift",
    vars: {
      tipId,
      roomId: "room_x",
      viewerId: "fan-1",
      giftName: "Rocket",
      quantity: 2,
      amountMinor: 1_000_000,
      atMs,
    },
    atMs,
  };
}

async function inboxRows(creatorId: string) {
  const { results } = await (await shardDbOf(creatorId))
    .prepare("SELECT id, kind FROM inbox_messages WHERE creator_id = ? ORDER BY id")
    .bind(creatorId)
    .all<{ id: string; kind: string }>();
  return results;
}

async function inbox(creatorId: string, query = "") {
  const res = await call("GET", `/v1/creators/me/inbox${query}`, { token: await token(creatorId, "creator") });
  expect(res.status).toBe(200);
  return res.body as {
    locale: string;
    items: { id: string; kind: string; title: string; body: string; unread: boolean }[];
    nextCursor: string | null;
  };
}

describe("delivery", () => {
  it("stores a notice once however often it is delivered, in the creator's shard", async () => {
    const creatorId = "inbox-once";
    const notice = settled(creatorId, "2026-11-20", 21_000);
    const first = batchOf([notice, notice, { ...notice }]);
    await handleCreatorNoticesBatch(first.batch, env, log);
    expect(first.acked).toEqual([0, 1, 2]);
    const again = batchOf([notice], 3);
    await handleCreatorNoticesBatch(again.batch, env, log);
    expect(again.acked).toEqual([0]);
    expect(await inboxRows(creatorId)).toEqual([{ id: "settled:inbox-once:2026-11-20", kind: "settlement_done" }]);
    // Only the creator's own shard holds it.
    const l = await ledger();
    let copies = 0;
    for (const s of l.shards) {
      copies +=
        (await s.db
          .prepare("SELECT COUNT(*) AS n FROM inbox_messages WHERE creator_id = ?")
          .bind(creatorId)
          .first<number>("n")) ?? 0;
    }
    expect(copies).toBe(1);
  });

  it("goes through the real queue: the hooks produce, the consumer stores, resends store nothing more", async () => {
    const creatorId = "inbox-queue";
    const settledVars = { day: "2026-11-21", tipCount: 4, grossMinor: 40_000, netMinor: 28_000 };
    expect(await noticeSettlementDone(env, creatorId, settledVars, Date.now())).toBe(true);
    expect(await noticeSettlementDone(env, creatorId, settledVars, Date.now())).toBe(true);
    const wd = { withdrawalId: "wd_q1", state: "paid" as const, amountMinor: 28_000, reason: null };
    expect(await noticeWithdrawalState(env, creatorId, wd, Date.now())).toBe(true);
    const rows = await until(
      () => inboxRows(creatorId),
      (r) => r.length >= 2,
    );
    expect(rows).toEqual([
      { id: "settled:inbox-queue:2026-11-21", kind: "settlement_done" },
      { id: "withdrawal:wd_q1:paid", kind: "withdrawal_state" },
    ]);
    const count = await call("GET", "/v1/creators/me/inbox/unread-count", { token: await token(creatorId, "creator") });
    expect(count.body).toEqual({ unread: 2 });
  });

  it("refuses to produce a notice its schema does not allow (a producer bug throws, it is not dropped later)", async () => {
    const bad = { ...settled("inbox-bad", "2026-11-20", 1), vars: { day: "yesterday" } } as unknown as CreatorNotice;
    const errors: string[] = [];
    const logged = { ...log, error: (msg: string) => errors.push(msg) } as typeof log;
    expect(await noticeCreator(env, bad, logged)).toBe(false);
    expect(errors).toEqual(["alert_notice_send_failed"]);
  });

  it("retries the messages whose store failed, and acks the rest", async () => {
    const creatorId = "inbox-retry";
    const failing = {
      ...env,
      LEDGER_0: { batch: () => Promise.reject(new Error("D1 busy")) },
      LEDGER_1: { batch: () => Promise.reject(new Error("D1 busy")) },
      LEDGER_2: { batch: () => Promise.reject(new Error("D1 busy")) },
      LEDGER_3: { batch: () => Promise.reject(new Error("D1 busy")) },
    } as unknown as Env;
    // openLedger caches per env object: a fresh object gets shards whose batch fails.
    const { batch, acked, retried } = batchOf([settled(creatorId, "2026-11-22", 5)]);
    await handleCreatorNoticesBatch(batch, failing, log);
    expect([acked, retried]).toEqual([[], [0]]);
    expect(await inboxRows(creatorId)).toEqual([]);
  });
});

describe("mutes", () => {
  it("skips the kinds a creator muted from then on, and keeps what is already in the inbox", async () => {
    const creatorId = "inbox-mutes";
    const as = await token(creatorId, "creator");
    const t0 = Date.now();
    await handleCreatorNoticesBatch(batchOf([bigGift(creatorId, "tip_before", t0)]).batch, env, log);
    expect((await call("GET", "/v1/creators/me/notification-mutes", { token: as })).body).toEqual({ kinds: [] });
    const put = await call("PUT", "/v1/creators/me/notification-mutes", {
      token: as,
      body: { kinds: ["big_gift", "tips_merged"] },
    });
    expect(put).toMatchObject({ status: 200, body: { kinds: ["big_gift", "tips_merged"] } });
    const { batch, acked } = batchOf([bigGift(creatorId, "tip_after", t0 + 1), settled(creatorId, "2026-11-23", 7)]);
    await handleCreatorNoticesBatch(batch, env, log);
    expect(acked).toEqual([0, 1]);
    expect((await inboxRows(creatorId)).map((r) => r.id)).toEqual(["big:tip_before", "settled:inbox-mutes:2026-11-23"]);
    // Unmuting lets the kind through again.
    await call("PUT", "/v1/creators/me/notification-mutes", { token: as, body: { kinds: [] } });
    await handleCreatorNoticesBatch(batchOf([bigGift(creatorId, "tip_later", t0 + 2)]).batch, env, log);
    expect((await inboxRows(creatorId)).map((r) => r.id)).toContain("big:tip_later");
    const bad = await call("PUT", "/v1/creators/me/notification-mutes", { token: as, body: { kinds: ["nonsense"] } });
    expect(bad.status).toBe(400);
  });
});

describe("templates", () => {
  it("renders at read time in the creator's locale, in ?locale=, and with operators' overrides", async () => {
    const creatorId = "inbox-render";
    const minuteStartMs = Date.parse("2026-11-22T12:31:00Z"); // 20:31 in Asia/Shanghai
    const merged: CreatorNotice = {
      id: `tips:${creatorId}:${minuteStartMs}`,
      creatorId,
      kind: "tips_merged",
      vars: { roomId: "room_r", minuteStartMs, tipCount: 20, giftCount: 23, grossMinor: 18_800 },
      atMs: minuteStartMs + 60_000,
    };
    await handleCreatorNoticesBatch(batchOf([merged]).batch, env, log);

    // No creator row: the default locale.
    const zh = await inbox(creatorId);
    expect(zh.locale).toBe("zh-CN");
    expect(zh.items.map((i) => [i.title, i.body, i.unread])).toEqual([
      ["打赏汇总", "最近一分钟收到 23 个礼物，共 ¥188.00（2026-11-22 20:31）", true],
    ]);
    const en = await inbox(creatorId, "?locale=en");
    expect(en.items.map((i) => [i.title, i.body])).toEqual([
      ["Tips this minute", "23 gifts, ¥188.00 in the last minute (2026-11-22 20:31)"],
    ]);

    // The creator's own locale.
    const now = Date.now();
    await env.CONTROL.prepare(
      "INSERT INTO creators (user_id, display_name, locale, created_at_ms, updated_at_ms) VALUES (?, ?, 'en', ?, ?)",
    )
      .bind(creatorId, "Render", now, now)
      .run();
    expect((await inbox(creatorId)).items[0]?.title).toBe("Tips this minute");

    // An operator's override applies to messages already stored; the other locale keeps its default.
    const ops = await token("templates-ops", "ops");
    const put = await call("PUT", "/v1/admin/notification-templates/tips_merged/en", {
      token: ops,
      body: { title: "Minute {time}", body: "{tips} tips ({gifts} gifts) made {amount}" },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      kind: "tips_merged",
      locale: "en",
      source: "override",
      updatedBy: "templates-ops",
    });
    expect((await inbox(creatorId)).items.map((i) => [i.title, i.body])).toEqual([
      ["Minute 2026-11-22 20:31", "20 tips (23 gifts) made ¥188.00"],
    ]);
    expect((await inbox(creatorId, "?locale=zh-CN")).items[0]?.title).toBe("打赏汇总");

    const list = await call("GET", "/v1/admin/notification-templates", { token: ops });
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(10);
    const en1 = list.body.items.find(
      (t: { kind: string; locale: string }) => t.kind === "tips_merged" && t.locale === "en",
    );
    expect(en1).toMatchObject({
      source: "override",
      title: "Minute {time}",
      variables: ["gifts", "tips", "amount", "time", "room"],
    });
    const zh1 = list.body.items.find(
      (t: { kind: string; locale: string }) => t.kind === "withdrawal_state" && t.locale === "zh-CN",
    );
    expect(zh1).toMatchObject({ source: "default", updatedBy: null });
  });

  it("refuses a template with a placeholder its kind does not have, and stores nothing", async () => {
    const ops = await operatorToken();
    const before = await call("GET", "/v1/admin/notification-templates", { token: ops });
    for (const body of [
      { title: "Big", body: "{viewer} sent {amuont}" },
      { title: "{ gift }", body: "fine" },
      { title: "ok", body: "{net}" }, // settlement_done has {net}; big_gift does not
    ]) {
      const res = await call("PUT", "/v1/admin/notification-templates/big_gift/zh-CN", { token: ops, body });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error.code).toBe("template_variable_unknown");
    }
    const after = await call("GET", "/v1/admin/notification-templates", { token: ops });
    expect(after.body).toEqual(before.body);
    const unknownKind = await call("PUT", "/v1/admin/notification-templates/nonsense/en", {
      token: ops,
      body: { title: "x", body: "y" },
    });
    expect(unknownKind.status).toBe(400);
  });

  it("renders every kind's default in both locales with no placeholder left", async () => {
    const creatorId = "inbox-kinds";
    const at = Date.parse("2026-11-22T02:05:00Z");
    const notices: CreatorNotice[] = [
      bigGift(creatorId, "tip_k", at),
      settled(creatorId, "2026-11-21", 70_000),
      {
        id: "withdrawal:wd_k:rejected",
        creatorId,
        kind: "withdrawal_state",
        vars: { withdrawalId: "wd_k", state: "rejected", amountMinor: 12_345, reason: "account mismatch" },
        atMs: at + 1,
      },
      {
        id: `verification:${creatorId}:${at}`,
        creatorId,
        kind: "verification_result",
        vars: { result: "verified", reason: null },
        atMs: at + 2,
      },
    ];
    await handleCreatorNoticesBatch(batchOf(notices).batch, env, log);
    const zh = await inbox(creatorId, "?locale=zh-CN");
    expect(zh.items.map((i) => i.body)).toEqual([
      "你的实名认证已通过。",
      "提现 ¥123.45（wd_k）已拒绝。原因：account mismatch",
      "fan-1 送出 Rocket ×2，价值 ¥10000.00",
      "2026-11-21 的收入已结算：3 笔打赏，流水 ¥300.00，到账 ¥700.00",
    ]);
    const en = await inbox(creatorId, "?locale=en");
    expect(en.items.map((i) => i.body)).toEqual([
      "Your verification was approved.",
      "Your withdrawal of ¥123.45 (wd_k) is rejected. Reason: account mismatch.",
      "fan-1 sent Rocket ×2, worth ¥10000.00",
      "Earnings of 2026-11-21 settled: 3 tips, ¥300.00 gross, ¥700.00 to your balance",
    ]);
  });
});

describe("reading", () => {
  it("counts unread, marks some or all read (own messages only), and pages newest first", async () => {
    const creatorId = "inbox-read";
    const other = "inbox-read-other";
    const base = Date.now() - 10_000;
    await handleCreatorNoticesBatch(
      batchOf([
        ...Array.from({ length: 5 }, (_, i) => bigGift(creatorId, `tip_r${i}`, base + i)),
        bigGift(other, "tip_o", base),
      ]).batch,
      env,
      log,
    );
    const as = await token(creatorId, "creator");
    const unread = async (t = as) =>
      (await call("GET", "/v1/creators/me/inbox/unread-count", { token: t })).body.unread as number;
    expect(await unread()).toBe(5);

    const p1 = await inbox(creatorId, "?limit=2");
    expect(p1.items.map((i) => i.id)).toEqual(["big:tip_r4", "big:tip_r3"]);
    const p2 = await inbox(creatorId, `?limit=2&cursor=${encodeURIComponent(p1.nextCursor ?? "")}`);
    expect(p2.items.map((i) => i.id)).toEqual(["big:tip_r2", "big:tip_r1"]);
    const p3 = await inbox(creatorId, `?limit=2&cursor=${encodeURIComponent(p2.nextCursor ?? "")}`);
    expect([p3.items.map((i) => i.id), p3.nextCursor]).toEqual([["big:tip_r0"], null]);
    expect((await call("GET", "/v1/creators/me/inbox?cursor=garbage", { token: as })).status).toBe(400);

    // Another creator's id is not ours to mark.
    const some = await call("POST", "/v1/creators/me/inbox/read", {
      token: as,
      body: { ids: ["big:tip_r4", "big:tip_r3", "big:tip_o", "big:tip_r4"] },
    });
    expect(some.body).toEqual({ marked: 2, unread: 3 });
    const again = await call("POST", "/v1/creators/me/inbox/read", { token: as, body: { ids: ["big:tip_r4"] } });
    expect(again.body).toEqual({ marked: 0, unread: 3 });
    expect((await inbox(creatorId)).items.map((i) => i.unread)).toEqual([false, false, true, true, true]);
    const all = await call("POST", "/v1/creators/me/inbox/read", { token: as, body: { all: true } });
    expect(all.body).toEqual({ marked: 3, unread: 0 });
    expect(await unread(await token(other, "creator"))).toBe(1);
    const neither = await call("POST", "/v1/creators/me/inbox/read", { token: as, body: { all: false } });
    expect(neither.status).toBe(400);
  });

  it("is the creator's: a viewer token is refused", async () => {
    const res = await call("GET", "/v1/creators/me/inbox", { token: await token("just-a-viewer", "viewer") });
    expect(res.status).toBe(403);
  });
});
