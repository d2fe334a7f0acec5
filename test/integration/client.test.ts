/**
 * The typed client (packages/client) against the Worker in workerd: its fetch is the Worker's
 * own (`exports.default.fetch`), wrapped where a test needs the network to misbehave — an
 * answer lost after the server committed, a request still in flight, an outage — so retries
 * and the Idempotency-Key are proven against the real idempotency store and ledger.
 */
import { exports } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import document from "../../packages/client/generated/openapi.json";
import { createGiftwireClient, type GiftwireClientOptions, isHeldTip } from "../../packages/client/src/index";
import { riskCache } from "../../src/db/risk";
import { RiskRuleSchema } from "../../src/domain/risk/rules";
import { BASE, balanceOf, fund, openRoom, token } from "./helpers";

const uid = () => crypto.randomUUID().slice(0, 8);

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  readonly body: string;
}

/**
 * A client whose every attempt is recorded and goes to the Worker, unless `intercept` answers
 * it: `intercept(n, request, forward)` sees the attempt number (1-based) and may forward it and
 * still answer something else (the answer lost on the way back).
 */
function clientFor(
  bearer: string,
  intercept?: (n: number, request: Request, forward: () => Promise<Response>) => Promise<Response | null>,
  options: Partial<GiftwireClientOptions> = {},
) {
  const sent: Sent[] = [];
  const waits: number[] = [];
  const api = createGiftwireClient({
    baseUrl: `${BASE}/v1`,
    token: () => bearer,
    sleep: async (ms) => {
      waits.push(ms);
    },
    random: () => 0.5,
    ...options,
    fetch: async (request) => {
      const body = await request.clone().text();
      sent.push({
        method: request.method,
        path: new URL(request.url).pathname,
        idempotencyKey: request.headers.get("idempotency-key"),
        body,
      });
      const forward = () => exports.default.fetch(request);
      return (await intercept?.(sent.length, request, forward)) ?? forward();
    },
  });
  return { api, sent, waits };
}

const envelope = (status: number, code: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message: code, requestId: "req_test" } }, { status, headers });

let roomId: string;
let viewerId: string;
let viewer: string;

beforeAll(async () => {
  roomId = await openRoom(`client-creator-${uid()}`);
  viewerId = `client-viewer-${uid()}`;
  await fund(viewerId, "100.00");
  viewer = await token(viewerId);
});

describe("the typed client in workerd", () => {
  it("was generated from exactly the document the Worker serves", async () => {
    // Not an operation of its own document: fetched as it is.
    const response = await exports.default.fetch(`${BASE}/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(document);
  });

  it("reads typed data: the gift catalog, the caller's wallet; reads carry no Idempotency-Key", async () => {
    const { api, sent } = clientFor(viewer);
    const wallet = await api.GET("/users/{userId}/wallet", { params: { path: { userId: viewerId } } });
    expect(wallet.response.status).toBe(200);
    expect(wallet.data?.balanceMinor).toBeGreaterThan(0);
    expect(sent).toEqual([{ method: "GET", path: `/v1/users/${viewerId}/wallet`, idempotencyKey: null, body: "" }]);
  });

  it("reads the creator's statement as a typed union: the page's kind, then each line's", async () => {
    const creatorId = `client-stmt-creator-${uid()}`;
    const room = await openRoom(creatorId);
    const tipped = await clientFor(viewer).api.POST("/rooms/{roomId}/tips", {
      params: { path: { roomId: room } },
      body: { kind: "custom", amount: "6.60" },
    });
    expect(tipped.response.status).toBe(201);
    const tipId = tipped.data && "tip" in tipped.data ? tipped.data.tip.id : null;
    const { api } = clientFor(await token(creatorId, "creator"));
    const page = await api.GET("/creators/me/statement", { params: { query: { kind: "income" } } });
    expect(page.response.status).toBe(200);
    const data = page.data;
    if (data?.kind !== "income") throw new Error(`expected an income page, got ${JSON.stringify(data)}`);
    // Narrowed by the document alone: an income line is a tip or an unlock, each with its own fields.
    const tips = data.items.flatMap((line) => (line.kind === "tip" ? [{ id: line.tipId, room: line.roomId }] : []));
    expect(tips).toEqual([{ id: tipId, room }]);
    expect(data.items[0]?.grossMinor).toBe(660);
  });

  it("retries a tip whose answer was lost (503) with the same key and body: one tip, one debit, the recorded answer", async () => {
    const before = await balanceOf(`user:${viewerId}:wallet`);
    let committed: { status: number; tipId: string } | null = null;
    const { api, sent, waits } = clientFor(viewer, async (n, _request, forward) => {
      if (n !== 1) return null;
      // The Worker runs the tip; the answer is lost on the way back and a proxy says 503.
      const real = await forward();
      committed = { status: real.status, tipId: ((await real.json()) as { tip: { id: string } }).tip.id };
      return envelope(503, "unavailable", { "retry-after": "1" });
    });
    const { data, error, response } = await api.POST("/rooms/{roomId}/tips", {
      params: { path: { roomId } },
      body: { kind: "gift", giftId: "rose", quantity: 1 },
    });
    expect(error).toBeUndefined();
    expect(response.status).toBe(201);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    // These tests hold no tip (no risk rule) but the last one: a 2xx is a sent tip here.
    if (data === undefined || isHeldTip(data)) throw new Error(`not a sent tip: ${JSON.stringify(data)}`);
    expect(committed).toEqual({ status: 201, tipId: data.tip.id });
    expect(sent).toHaveLength(2);
    expect(sent[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent[1]).toEqual(sent[0]);
    // Retry-After (1 s) is longer than the first backoff (0.5 · 200 ms): it is honoured.
    expect(waits).toEqual([1_000]);
    const amountMinor = data.tip.amountMinor;
    expect(amountMinor).toBeGreaterThan(0);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - amountMinor);
  });

  it("waits out 409 idempotency_key_in_flight with backoff, then gets the result", async () => {
    const { api, sent, waits } = clientFor(viewer, async (n) =>
      n <= 2 ? envelope(409, "idempotency_key_in_flight") : null,
    );
    const { data, response } = await api.POST("/rooms/{roomId}/tips", {
      params: { path: { roomId } },
      body: { kind: "custom", amount: "1.23" },
    });
    expect(response.status).toBe(201);
    if (data === undefined || isHeldTip(data)) throw new Error(`not a sent tip: ${JSON.stringify(data)}`);
    expect(data.tip.amountMinor).toBe(123);
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.idempotencyKey)).size).toBe(1);
    // Full jitter at 0.5: half of 200 ms, then half of 400 ms.
    expect(waits).toEqual([100, 200]);
  });

  it("two concurrent sends of one logical request (the caller's own key) end as one tip, both answered with it", async () => {
    const before = await balanceOf(`user:${viewerId}:wallet`);
    // Real waits: the second send meets the first in flight (409) or finished (a replay).
    const { api, sent } = clientFor(viewer, undefined, { sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
    const idempotencyKey = `client-${uid()}`;
    const send = () =>
      api.POST("/rooms/{roomId}/tips", {
        params: { path: { roomId }, header: { "idempotency-key": idempotencyKey } },
        body: { kind: "custom", amount: "4.00" },
      });
    const [a, b] = await Promise.all([send(), send()]);
    expect([a.response.status, b.response.status]).toEqual([201, 201]);
    if (!a.data || isHeldTip(a.data) || !b.data || isHeldTip(b.data)) throw new Error("not sent tips");
    expect(a.data.tip.id).toBe(b.data.tip.id);
    expect(new Set(sent.map((s) => s.idempotencyKey))).toEqual(new Set([idempotencyKey]));
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 400);
  });

  it("never retries other 4xx: insufficient funds, a malformed body, a bad token", async () => {
    const poor = `client-poor-${uid()}`;
    const { api: poorApi, sent: poorSent } = clientFor(await token(poor));
    const broke = await poorApi.POST("/rooms/{roomId}/tips", {
      params: { path: { roomId } },
      body: { kind: "custom", amount: "5.00" },
    });
    expect([broke.response.status, broke.error?.error.code]).toEqual([409, "insufficient_funds"]);
    expect(poorSent).toHaveLength(1);

    const { api, sent } = clientFor(viewer);
    const malformed = await api.POST("/rooms/{roomId}/tips", {
      params: { path: { roomId } },
      body: { kind: "gift", giftId: "rose", quantity: 0 },
    });
    expect(malformed.response.status).toBe(400);
    expect(sent).toHaveLength(1);

    const { api: anonymous, sent: anonymousSent } = clientFor("not-a-token");
    const refused = await anonymous.GET("/users/{userId}/wallet", { params: { path: { userId: viewerId } } });
    expect([refused.response.status, refused.error?.error.code]).toEqual([401, "unauthenticated"]);
    expect(anonymousSent).toHaveLength(1);
  });

  it("gives up after the attempts, and at once when Retry-After is longer than it will wait", async () => {
    const down = clientFor(viewer, async () => envelope(503, "unavailable"));
    // `as const`: the body is a union on `kind`.
    const tip = { params: { path: { roomId } }, body: { kind: "custom" as const, amount: "1.00" } };
    const gaveUp = await down.api.POST("/rooms/{roomId}/tips", tip);
    expect([gaveUp.response.status, gaveUp.error?.error.code]).toEqual([503, "unavailable"]);
    expect(down.sent).toHaveLength(4);
    expect(new Set(down.sent.map((s) => s.idempotencyKey)).size).toBe(1);
    expect(down.waits).toEqual([100, 200, 400]);

    const later = clientFor(viewer, async () => envelope(503, "shard_moving", { "retry-after": "120" }));
    expect((await later.api.POST("/rooms/{roomId}/tips", tip)).response.status).toBe(503);
    expect(later.sent).toHaveLength(1);
  });

  it("retries a network error with the same key, and sends writes that are not money through the same path", async () => {
    const before = await balanceOf(`user:${viewerId}:wallet`);
    const { api, sent, waits } = clientFor(viewer, async (n) => {
      if (n === 1) throw new TypeError("network connection lost");
      return null;
    });
    const { data, response } = await api.POST("/rooms/{roomId}/tips", {
      params: { path: { roomId } },
      body: { kind: "custom", amount: "3.00" },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("idempotent-replayed")).toBeNull();
    if (data === undefined || isHeldTip(data)) throw new Error(`not a sent tip: ${JSON.stringify(data)}`);
    expect(data.tip.amountMinor).toBe(300);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    expect(waits).toEqual([100]);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 300);

    // Opening a room moves no money; the key the client adds is harmless there.
    const creator = clientFor(await token(`client-creator-${uid()}`, "creator", "viewer"));
    const room = await creator.api.POST("/rooms", { body: { title: "Opened through the client" } });
    expect(room.response.status).toBe(201);
    expect(room.data?.id).toMatch(/^room_/);
    expect(creator.sent[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("gives each logical request its own key: two tips are two tips", async () => {
    const before = await balanceOf(`user:${viewerId}:wallet`);
    const { api, sent } = clientFor(viewer);
    const tip = { params: { path: { roomId } }, body: { kind: "custom" as const, amount: "2.00" } };
    const [a, b] = [await api.POST("/rooms/{roomId}/tips", tip), await api.POST("/rooms/{roomId}/tips", tip)];
    expect([a.response.status, b.response.status]).toEqual([201, 201]);
    if (!a.data || isHeldTip(a.data) || !b.data || isHeldTip(b.data)) throw new Error("not sent tips");
    expect(a.data.tip.id).not.toBe(b.data.tip.id);
    expect(sent[0]?.idempotencyKey).not.toBe(sent[1]?.idempotencyKey);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 400);
  });
  describe("a held tip", () => {
    afterEach(() => riskCache.forget());

    it("is told apart from a sent tip by isHeldTip (202), its amount held from the wallet", async () => {
      // Pinned in this file's isolate only: a rule in the shared control database would hold other files' tips.
      riskCache.pinForTests([
        RiskRuleSchema.parse({
          id: "client-review-cap",
          kind: "amount_cap",
          action: "tip",
          maxMinor: 500,
          outcome: "review",
          enabled: true,
        }),
      ]);
      const before = await balanceOf(`user:${viewerId}:wallet`);
      const { api } = clientFor(viewer);
      const send = (amount: string) =>
        api.POST("/rooms/{roomId}/tips", { params: { path: { roomId } }, body: { kind: "custom", amount } });
      const held = await send("6.00");
      expect(held.response.status).toBe(202);
      if (held.data === undefined || !isHeldTip(held.data)) throw new Error(`not held: ${JSON.stringify(held.data)}`);
      expect(held.data.heldTip).toMatchObject({ state: "held", amountMinor: 600, roomId, viewerId });
      const sent = await send("1.00");
      expect(sent.response.status).toBe(201);
      if (sent.data === undefined || isHeldTip(sent.data)) throw new Error(`not sent: ${JSON.stringify(sent.data)}`);
      expect(sent.data.tip.amountMinor).toBe(100);
      expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 700);
    });
  });
});
