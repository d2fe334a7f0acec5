/**
 * A randomized command model of every way money moves, run in workerd against the real
 * Worker, its Durable Objects, D1 and queues (fast-check `commands`).
 *
 * Each run opens a fresh room and users and plays a random sequence of commands: operator
 * credits and debits, tips (gifts and custom amounts, above the password-free limits with and
 * without the payer's PIN), red packets (lucky and equal, from the wallet or from a campaign's
 * subsidy), claims, expiry (by the room's alarm or by the cron sweeper), Stripe top-ups paid
 * through signed callbacks, operator refunds, and the deliveries a distributed system
 * produces: the same Idempotency-Key again, the same callback twice, queue messages again and
 * out of order, a failure report before or after the success, a refund notification before
 * or after the refund request. A model (wallet balances, packets' shares and remainders,
 * orders' payments and refunds, the campaign's budget) predicts each answer.
 *
 * After every command, the ledger invariant checker (GET /v1/admin/ledger/invariants) finds
 * nothing. After every rejected command (and every replay or repeat that must be a no-op),
 * every table of the database is byte-identical to before (helpers.ledgerSnapshot); there
 * are no exceptions to that rule.
 *
 * Everything goes through the public surfaces: HTTP (`exports.default.fetch`), the Worker's
 * queue and scheduled handlers, and the room's alarm. Two things cannot: moving a packet's
 * expiry into the past (the clock cannot be moved; see `expireInPast`) and reading the raw
 * rows a queue redelivery needs.
 *
 * Runs: `MODEL_RUNS` (default 10, 35–45 s on two busy cores) sequences of up to
 * `MODEL_COMMANDS` (default 20) commands, e.g. `MODEL_RUNS=200 npm test -- command-model`.
 * A failure prints fast-check's seed and path; `MODEL_SEED=<seed> MODEL_PATH=<path>` replays
 * that run's commands (lucky draws are the room's, so a sequence that depends on them may differ).
 */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import worker from "../../src/worker/index";
import { LEDGER_POSTINGS_QUEUE } from "../../src/worker/queues/ledger-postings";
import { PAYMENT_CALLBACKS_QUEUE, type PaymentCallbackMessage } from "../../src/worker/queues/payment-callbacks";
import { stripeEvent, stripeSignature } from "../support/providers";
import {
  call,
  changedTables,
  key,
  ledgerSnapshot,
  openRoom,
  operatorToken,
  type Reply,
  setPin,
  settleTransit,
  shardDbOfId,
  TEST_PIN,
  token,
  undeliveredRoomEvents,
  until,
} from "./helpers";

const RUNS = Number(env.MODEL_RUNS || "10");
const COMMANDS_MAX = Number(env.MODEL_COMMANDS || "20");
const SEED = env.MODEL_SEED ? Number(env.MODEL_SEED) : undefined;
const PATH = env.MODEL_PATH || undefined;
const STRIPE_WEBHOOK_SECRET = "whsec_test_0123456789abcdef";
/** The payers' own password-free limits (PUT /v1/me/autopay), small so that runs cross them. */
const AUTOPAY = { perTipMaxMinor: 500, perDayMaxMinor: 1500 };
const GIFT_PRICES = { rose: 100, "lucky-cat": 990 } as const;
type GiftId = keyof typeof GIFT_PRICES;
const CUSTOM_TIP_MIN_MINOR = 100;
/** Payers (tip, send packets, top up) are users 0–2; users 3 and 4 only claim. */
const PAYERS = 3;
const USERS = 5;
const START_MINOR = 3000;
const START_SUBSIDY_MINOR = 300;

// ── the model ────────────────────────────────────────────────────────────────────────────

interface ClaimM {
  readonly id: string;
  readonly userId: string;
  readonly index: number;
  readonly amountMinor: number;
  readonly claimedAtMs: number;
}

interface PacketM {
  readonly id: string;
  readonly senderId: string;
  readonly funding: "wallet" | "subsidy";
  readonly totalMinor: number;
  readonly shares: number;
  readonly split: "lucky" | "equal";
  readonly claims: ClaimM[];
  remainingMinor: number;
  expired: boolean;
}

interface OrderM {
  readonly id: string;
  readonly userId: string;
  readonly amountMinor: number;
  readonly intentId: string;
  readonly successEventId: string;
  refundedMinor: number;
}

/** A request that succeeded, kept to be sent again with its Idempotency-Key. */
interface SentRequest {
  readonly asUser: string | null;
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly idempotencyKey: string;
  readonly status: number;
  readonly text: string;
  /** The same key with a body that differs in one field. */
  readonly otherBody: Record<string, unknown>;
}

interface Model {
  readonly wallets: Map<string, number>;
  readonly packets: PacketM[];
  readonly orders: OrderM[];
  readonly subsidies: { id: string; userId: string; amountMinor: number; used: boolean }[];
  readonly sent: SentRequest[];
  campaignRemainingMinor: number;
  /** Fresh claims whose credit may still be on the ledger queue. */
  claimsInFlight: boolean;
}

interface Real {
  readonly tag: string;
  readonly roomId: string;
  readonly users: readonly string[];
  readonly tokens: ReadonlyMap<string, string>;
  readonly ops: string;
  readonly campaignId: string;
}

type Cmd = fc.AsyncCommand<Model, Real>;

// ── talking to the system ──────────────────────────────────────────────────────────────────

function as(r: Real, userId: string | null): string {
  return userId === null ? r.ops : (r.tokens.get(userId) as string);
}

async function post(r: Real, userId: string | null, path: string, body: unknown, idempotencyKey?: string) {
  return call("POST", path, { token: as(r, userId), body, ...(idempotencyKey ? { idempotencyKey } : {}) });
}

function fen(minor: number): string {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
}

function expectError(res: Reply, status: number, code: string | readonly string[]) {
  const codes: readonly string[] = typeof code === "string" ? [code] : code;
  const got = { status: res.status, code: res.body?.error?.code as string };
  expect(got).toEqual({ status, code: codes.includes(got.code) ? got.code : codes.join(" or ") });
}

/** Stores a successful money request for ReplayCommand. */
function remember(m: Model, res: Reply & { text?: string }, req: Omit<SentRequest, "status" | "text">): void {
  m.sent.push({ ...req, status: res.status, text: JSON.stringify(res.body) });
}

/** Runs a command the model says must change nothing: the whole database stays byte-identical. */
async function unchanged<T>(m: Model, r: Real, act: () => Promise<T>): Promise<T> {
  await settle(m, r);
  const before = await ledgerSnapshot();
  const result = await act();
  const after = await ledgerSnapshot();
  if (after !== before) expect(changedTables(before, after), "tables a no-op changed").toEqual([]);
  return result;
}

/**
 * Waits until nothing is moving: the room heard every tip (the outbox is delivered), its
 * alarm has run (leaderboard rows written, claim credits handed to the queue), every claim is
 * credited, every payment callback applied and every refund answered by the channel.
 */
async function settle(m: Model, r: Real): Promise<void> {
  const undelivered = await until(undeliveredRoomEvents, (n) => n === 0);
  expect(undelivered, "room events still undelivered").toBe(0);
  await runDurableObjectAlarm(env.LIVE_ROOM.getByName(r.roomId));
  if (m.claimsInFlight) {
    for (const p of m.packets) {
      if (p.claims.length === 0) continue;
      const detail = await until(
        () => packetDetail(r, p.id),
        (d) => d.ledger.creditedCount === p.claims.length,
      );
      expect(detail.ledger.creditedCount, `credits of ${p.id}`).toBe(p.claims.length);
    }
    m.claimsInFlight = false;
  }
  // Credits bound for another shard (a claimer's wallet, a creator's earnings) are delivered.
  await settleTransit();
  const unapplied = await until(
    async () =>
      (await env.CONTROL.prepare(
        "SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 1 AND applied_at_ms IS NULL",
      ).first<number>("n")) ?? 0,
    (n) => n === 0,
  );
  expect(unapplied, "payment callbacks not applied").toBe(0);
  for (const o of m.orders) {
    if (o.refundedMinor === 0) continue;
    const refunds = await until(
      async () =>
        (await call("GET", `/v1/admin/payments/orders/${o.id}/refunds`, { token: r.ops })).body.refunds as {
          state: string;
        }[],
      (rs) => rs.every((x) => x.state === "succeeded"),
    );
    expect(refunds.map((x) => x.state)).toEqual(refunds.map(() => "succeeded"));
  }
}

async function packetDetail(r: Real, packetId: string) {
  const res = await call("GET", `/v1/rooms/${r.roomId}/red-packets/${packetId}`, { token: r.ops });
  expect(res.status).toBe(200);
  return res.body as {
    packet: { totalMinor: number; shares: number; split: string; funding: string };
    live: { remainingShares: number; status: string };
    ledger: { status: string; creditedCount: number; creditedMinor: number; refundedMinor: number };
  };
}

async function walletOf(r: Real, userId: string): Promise<number> {
  const res = await call("GET", `/v1/users/${userId}/wallet`, { token: r.ops });
  expect(res.status).toBe(200);
  return res.body.balanceMinor as number;
}

/** Every wallet, packet, order and the campaign as the model has them (after `settle`). */
async function agree(m: Model, r: Real): Promise<void> {
  await settle(m, r);
  const wallets: Record<string, number> = {};
  for (const u of r.users) wallets[u] = await walletOf(r, u);
  expect(wallets).toEqual(Object.fromEntries(m.wallets));
  for (const p of m.packets) {
    const d = await packetDetail(r, p.id);
    const claimedMinor = p.claims.reduce((s, c) => s + c.amountMinor, 0);
    const finished = p.claims.length === p.shares;
    expect({ id: p.id, live: d.live, ledger: d.ledger }).toEqual({
      id: p.id,
      live: { ...d.live, remainingShares: p.shares - p.claims.length },
      ledger: {
        status: finished ? "exhausted" : p.expired ? "refunded" : "open",
        creditedCount: p.claims.length,
        creditedMinor: claimedMinor,
        refundedMinor: p.expired && !finished ? p.totalMinor - claimedMinor : 0,
      },
    });
  }
  for (const o of m.orders) {
    const res = await call("GET", `/v1/payments/orders/${o.id}`, { token: as(r, o.userId) });
    expect(res.body.order).toMatchObject({
      id: o.id,
      state: o.refundedMinor > 0 ? "refunded" : "succeeded",
      amountMinor: o.amountMinor,
    });
  }
  const campaign = await call("GET", `/v1/admin/campaigns/${r.campaignId}`, { token: r.ops });
  expect(campaign.body.campaign.remainingMinor).toBe(m.campaignRemainingMinor);
}

async function invariantsHold(): Promise<void> {
  const res = await call("GET", "/v1/admin/ledger/invariants", { token: await operatorToken() });
  expect(res.body.violations).toEqual([]);
  expect(res.body.ok).toBe(true);
}

/** A Stripe webhook, signed with the endpoint's secret, through the public callback route. */
async function stripeWebhook(body: string): Promise<void> {
  const res = await call("POST", "/v1/payments/callbacks/stripe", {
    rawBody: body,
    headers: {
      "content-type": "application/json",
      "stripe-signature": await stripeSignature(STRIPE_WEBHOOK_SECRET, body, Date.now()),
    },
  });
  expect(res.status).toBe(200);
}

/** Stripe's `charge.refunded`: the order's charge has been refunded `refundedMinor` in all. */
function chargeRefunded(o: OrderM, refundedMinor: number): string {
  return JSON.stringify({
    id: `evt_${crypto.randomUUID().replaceAll("-", "")}`,
    object: "event",
    api_version: "2025-10-29.clover",
    created: 1_790_000_000,
    type: "charge.refunded",
    livemode: false,
    data: {
      object: {
        id: `ch_${o.intentId.slice(3)}`,
        object: "charge",
        payment_intent: o.intentId,
        amount: o.amountMinor,
        amount_refunded: refundedMinor,
        currency: "cny",
        metadata: { order_no: o.id },
      },
    },
  });
}

/** The operator flags raised about an order, oldest first. */
async function flagsOf(orderId: string): Promise<string[]> {
  const { results } = await env.CONTROL.prepare("SELECT kind FROM payment_flags WHERE order_id = ? ORDER BY rowid")
    .bind(orderId)
    .all<{ kind: string }>();
  return results.map((f) => f.kind);
}

/** Steers the Stripe double (test/support/provider-network.ts). */
async function stripeControl(action: string, args: Record<string, unknown>): Promise<{ transactionId: string }> {
  const res = await fetch(`https://doubles.test/stripe/${action}`, { method: "POST", body: JSON.stringify(args) });
  if (!res.ok) throw new Error(`stripe double ${action}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Sends messages to the Worker's queue handler as the queue would, and says which it acknowledged. */
async function deliver(queue: string, bodies: unknown[]) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `model-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  // The handler's message type is the union of every queue's; these bodies are checked by it.
  await worker.queue(batch as Parameters<typeof worker.queue>[0], env);
  const result = await getQueueResult(batch, ctx);
  return { acked: result.ackAll ? bodies.length : result.explicitAcks.length, retried: result.retryMessages.length };
}

/**
 * The ledger queue's message for a claim's credit, as the room sends it. Spelled out here
 * rather than typed from src/db: if the schema moves on, the consumer retries these and the
 * model's `retried: 0` says so.
 */
function creditOf(p: PacketM, c: ClaimM) {
  return {
    kind: "packet.claim",
    claimId: c.id,
    packetId: p.id,
    userId: c.userId,
    claimIndex: c.index,
    amountMinor: c.amountMinor,
    claimedAtMs: c.claimedAtMs,
    currency: "CNY",
  };
}

/**
 * Moves a packet's expiry into the past, in the ledger and in its room: the runtime's clock
 * cannot be moved, and the room and the sweeper both read it. Two minutes back, so the
 * sweeper (which leaves the room its grace period) takes it too.
 */
async function expireInPast(r: Real, packetId: string): Promise<void> {
  const at = Date.now() - 120_000;
  await (await shardDbOfId(packetId))
    .prepare("UPDATE red_packets SET expires_at_ms = ? WHERE id = ?")
    .bind(at, packetId)
    .run();
  await runInDurableObject(env.LIVE_ROOM.getByName(r.roomId), async (_room: LiveRoom, state) => {
    state.storage.sql.exec("UPDATE packets SET expires_at_ms = ? WHERE id = ?", at, packetId);
  });
}

// ── commands ─────────────────────────────────────────────────────────────────────────────

const user = (r: Real, i: number) => r.users[i % r.users.length] as string;

class AdjustCommand implements Cmd {
  constructor(
    readonly who: number,
    readonly direction: "credit" | "debit",
    readonly amountMinor: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = user(r, this.who);
    const have = m.wallets.get(u) ?? 0;
    const body = { direction: this.direction, amount: fen(this.amountMinor), reason: "model" };
    const path = `/v1/users/${u}/wallet/adjustments`;
    if (this.direction === "debit" && this.amountMinor > have) {
      const res = await unchanged(m, r, () => post(r, null, path, body, key()));
      return expectError(res, 409, "insufficient_funds");
    }
    await settle(m, r);
    const k = key();
    const res = await post(r, null, path, body, k);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const now = have + (this.direction === "credit" ? this.amountMinor : -this.amountMinor);
    m.wallets.set(u, now);
    expect(res.body.walletBalanceMinor).toBe(now);
    remember(m, res, {
      asUser: null,
      path,
      body,
      idempotencyKey: k,
      otherBody: { ...body, amount: fen(this.amountMinor + 1) },
    });
  }
  toString = () => `adjust(${this.who}, ${this.direction} ${this.amountMinor})`;
}

type TipSpec = { kind: "gift"; giftId: GiftId; quantity: number } | { kind: "custom"; amountMinor: number };

class TipCommand implements Cmd {
  constructor(
    readonly who: number,
    readonly spec: TipSpec,
    readonly confirmed: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = user(r, this.who % PAYERS);
    const body: Record<string, unknown> =
      this.spec.kind === "gift"
        ? { kind: "gift", giftId: this.spec.giftId, quantity: this.spec.quantity }
        : { kind: "custom", amount: fen(this.spec.amountMinor) };
    // Confirmed with the payer's PIN: the password-free limits do not apply.
    if (this.confirmed) body.pin = TEST_PIN;
    const amountMinor =
      this.spec.kind === "gift" ? GIFT_PRICES[this.spec.giftId] * this.spec.quantity : this.spec.amountMinor;
    await settle(m, r);
    const have = m.wallets.get(u) ?? 0;
    // Today's total is read, not modelled: a run may cross the business day's midnight.
    const autopay = await call("GET", "/v1/me/autopay", { token: as(r, u) });
    expect(autopay.body).toMatchObject({ perTipMaxMinor: AUTOPAY.perTipMaxMinor, custom: true });
    const spentMinor = autopay.body.spentTodayMinor as number;
    const path = `/v1/rooms/${r.roomId}/tips`;
    const rejection: [number, string] | null =
      amountMinor < CUSTOM_TIP_MIN_MINOR
        ? [422, "amount_out_of_range"]
        : amountMinor > have
          ? [409, "insufficient_funds"]
          : !this.confirmed &&
              (amountMinor > AUTOPAY.perTipMaxMinor || spentMinor + amountMinor > AUTOPAY.perDayMaxMinor)
            ? [428, "pin_required"]
            : null;
    if (rejection) {
      const res = await unchanged(m, r, () => post(r, u, path, body, key()));
      return expectError(res, ...rejection);
    }
    const k = key();
    const res = await post(r, u, path, body, k);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    m.wallets.set(u, have - amountMinor);
    expect(res.body.tip).toMatchObject({ amountMinor, viewerId: u, roomId: r.roomId });
    expect(res.body.tip.platformMinor + res.body.tip.creatorMinor).toBe(amountMinor);
    expect(res.body.walletBalanceMinor).toBe(have - amountMinor);
    remember(m, res, { asUser: u, path, body, idempotencyKey: k, otherBody: { kind: "custom", amount: "1.23" } });
  }
  toString = () => `tip(${this.who}, ${JSON.stringify(this.spec)}${this.confirmed ? ", with PIN" : ""})`;
}

class SendPacketCommand implements Cmd {
  constructor(
    readonly who: number,
    readonly totalMinor: number,
    readonly shares: number,
    readonly split: "lucky" | "equal",
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = user(r, this.who % PAYERS);
    const body = { total: fen(this.totalMinor), shares: this.shares, split: this.split };
    const path = `/v1/rooms/${r.roomId}/red-packets`;
    await settle(m, r);
    const have = m.wallets.get(u) ?? 0;
    if (this.totalMinor < this.shares || this.totalMinor > have) {
      const res = await unchanged(m, r, () => post(r, u, path, body, key()));
      return this.totalMinor < this.shares
        ? expectError(res, 422, "amount_out_of_range")
        : expectError(res, 409, "insufficient_funds");
    }
    const k = key();
    const res = await post(r, u, path, body, k);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.packet).toMatchObject({
      totalMinor: this.totalMinor,
      shares: this.shares,
      split: this.split,
      funding: "wallet",
    });
    m.wallets.set(u, have - this.totalMinor);
    expect(res.body.walletBalanceMinor).toBe(have - this.totalMinor);
    m.packets.push({
      id: res.body.packet.id,
      senderId: u,
      funding: "wallet",
      totalMinor: this.totalMinor,
      shares: this.shares,
      split: this.split,
      claims: [],
      remainingMinor: this.totalMinor,
      expired: false,
    });
    remember(m, res, { asUser: u, path, body, idempotencyKey: k, otherBody: { ...body, shares: this.shares + 1 } });
  }
  toString = () => `send(${this.who}, ${this.totalMinor}/${this.shares} ${this.split})`;
}

class IssueSubsidyCommand implements Cmd {
  constructor(
    readonly who: number,
    readonly amountMinor: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = user(r, this.who % PAYERS);
    const body = { externalId: `ext-${crypto.randomUUID()}`, userId: u, amount: fen(this.amountMinor) };
    const path = `/v1/admin/campaigns/${r.campaignId}/subsidies`;
    if (this.amountMinor > m.campaignRemainingMinor) {
      const res = await unchanged(m, r, () => post(r, null, path, body, key()));
      return expectError(res, 409, "campaign_budget_exhausted");
    }
    await settle(m, r);
    const res = await post(r, null, path, body, key());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.subsidy).toMatchObject({ userId: u, amountMinor: this.amountMinor, status: "issued" });
    m.campaignRemainingMinor -= this.amountMinor;
    m.subsidies.push({ id: res.body.subsidy.id, userId: u, amountMinor: this.amountMinor, used: false });
  }
  toString = () => `subsidy(${this.who}, ${this.amountMinor})`;
}

class SendSubsidyPacketCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly shares: number,
  ) {}
  check = (m: Readonly<Model>) => m.subsidies.length > 0;
  async run(m: Model, r: Real) {
    const s = m.subsidies[this.pick % m.subsidies.length] as Model["subsidies"][number];
    const body = { subsidyId: s.id, shares: this.shares, split: "lucky" };
    const path = `/v1/rooms/${r.roomId}/red-packets`;
    if (s.used || this.shares > s.amountMinor) {
      const res = await unchanged(m, r, () => post(r, s.userId, path, body, key()));
      return s.used ? expectError(res, 409, "subsidy_used") : expectError(res, 422, "amount_out_of_range");
    }
    await settle(m, r);
    const res = await post(r, s.userId, path, body, key());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.packet).toMatchObject({ totalMinor: s.amountMinor, shares: this.shares, funding: "subsidy" });
    s.used = true;
    m.packets.push({
      id: res.body.packet.id,
      senderId: s.userId,
      funding: "subsidy",
      totalMinor: s.amountMinor,
      shares: this.shares,
      split: "lucky",
      claims: [],
      remainingMinor: s.amountMinor,
      expired: false,
    });
  }
  toString = () => `sendSubsidy(${this.pick}, ${this.shares})`;
}

class ClaimCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly who: number,
  ) {}
  check = (m: Readonly<Model>) => m.packets.length > 0;
  async run(m: Model, r: Real) {
    const p = m.packets[this.pick % m.packets.length] as PacketM;
    const u = user(r, this.who);
    const path = `/v1/rooms/${r.roomId}/red-packets/${p.id}/claims`;
    const earlier = p.claims.find((c) => c.userId === u);
    if (earlier) {
      // Asking again answers the same claim and writes nothing.
      const res = await unchanged(m, r, () => post(r, u, path, undefined));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        alreadyClaimed: true,
        claim: { id: earlier.id, amountMinor: earlier.amountMinor },
      });
      return;
    }
    if (p.claims.length === p.shares || p.expired) {
      const res = await unchanged(m, r, () => post(r, u, path, undefined));
      return expectError(res, 409, p.claims.length === p.shares ? "packet_exhausted" : "packet_expired");
    }
    const res = await post(r, u, path, undefined);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const claim = res.body.claim as ClaimM;
    const index = p.claims.length;
    const sharesLeft = p.shares - index;
    expect(claim).toMatchObject({ userId: u, index, packetId: p.id });
    if (p.split === "equal") {
      const base = Math.floor(p.totalMinor / p.shares);
      expect(claim.amountMinor).toBe(base + (index < p.totalMinor % p.shares ? 1 : 0));
    } else if (sharesLeft === 1) {
      expect(claim.amountMinor).toBe(p.remainingMinor);
    } else {
      // Every share left gets at least one fen.
      expect(claim.amountMinor).toBeGreaterThanOrEqual(1);
      expect(claim.amountMinor).toBeLessThanOrEqual(p.remainingMinor - (sharesLeft - 1));
    }
    p.claims.push({
      id: claim.id,
      userId: u,
      index,
      amountMinor: claim.amountMinor,
      claimedAtMs: claim.claimedAtMs,
    });
    p.remainingMinor -= claim.amountMinor;
    m.wallets.set(u, (m.wallets.get(u) ?? 0) + claim.amountMinor);
    m.claimsInFlight = true;
  }
  toString = () => `claim(${this.pick}, ${this.who})`;
}

/**
 * Everyone who has not claimed a packet grabs at once; then, before the ledger queue's own
 * delivery (it waits up to a second to fill a batch), the same credits reach the consumer
 * newest first: out of order, and each of them twice in the end.
 */
class GrabAllCommand implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.packets.some((p) => !p.expired && p.claims.length < p.shares);
  async run(m: Model, r: Real) {
    const open = m.packets.filter((p) => !p.expired && p.claims.length < p.shares);
    const p = open[this.pick % open.length] as PacketM;
    const grabbers = r.users.filter((u) => !p.claims.some((c) => c.userId === u));
    // `packet_busy` (more claims in flight than ⌈1.5 × shares left⌉) asks the client to retry.
    const grab = async (u: string) => {
      for (let attempt = 0; ; attempt++) {
        const res = await post(r, u, `/v1/rooms/${r.roomId}/red-packets/${p.id}/claims`, undefined);
        if (res.status !== 429 || attempt === 50) return res;
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
      }
    };
    const answers = await Promise.all(grabbers.map(grab));
    const won = answers.filter((a) => a.status === 201).map((a) => a.body.claim as ClaimM);
    const lost = answers.filter((a) => a.status !== 201);
    const sharesLeft = p.shares - p.claims.length;
    expect(won.length).toBe(Math.min(sharesLeft, grabbers.length));
    expect(lost.map((a) => `${a.status} ${a.body.error.code}`)).toEqual(lost.map(() => "409 packet_exhausted"));
    // The room serialized them: indexes continue the packet's, each once.
    won.sort((a, b) => a.index - b.index);
    expect(won.map((c) => c.index)).toEqual(won.map((_, i) => p.claims.length + i));
    for (const c of won) {
      if (p.split === "equal") {
        const base = Math.floor(p.totalMinor / p.shares);
        expect(c.amountMinor).toBe(base + (c.index < p.totalMinor % p.shares ? 1 : 0));
      }
      p.claims.push({
        id: c.id,
        userId: c.userId,
        index: c.index,
        amountMinor: c.amountMinor,
        claimedAtMs: c.claimedAtMs,
      });
      p.remainingMinor -= c.amountMinor;
      m.wallets.set(c.userId, (m.wallets.get(c.userId) ?? 0) + c.amountMinor);
    }
    // Whatever the draws, what is left covers a fen for every share left, and nothing more once none is.
    const sharesStillLeft = p.shares - p.claims.length;
    if (sharesStillLeft === 0) expect(p.remainingMinor).toBe(0);
    else expect(p.remainingMinor).toBeGreaterThanOrEqual(sharesStillLeft);
    m.claimsInFlight = true;
    const result = await deliver(
      LEDGER_POSTINGS_QUEUE,
      [...won].reverse().map((c) => creditOf(p, c)),
    );
    expect(result).toEqual({ acked: won.length, retried: 0 });
  }
  toString = () => `grabAll(${this.pick})`;
}

class ExpireCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly by: "alarm" | "sweeper",
  ) {}
  check = (m: Readonly<Model>) => m.packets.some((p) => !p.expired && p.claims.length < p.shares);
  async run(m: Model, r: Real) {
    const open = m.packets.filter((p) => !p.expired && p.claims.length < p.shares);
    const p = open[this.pick % open.length] as PacketM;
    await settle(m, r);
    await expireInPast(r, p.id);
    if (this.by === "alarm") {
      await runDurableObjectAlarm(env.LIVE_ROOM.getByName(r.roomId));
    } else {
      await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
    }
    p.expired = true;
    if (p.funding === "wallet") m.wallets.set(p.senderId, (m.wallets.get(p.senderId) ?? 0) + p.remainingMinor);
    else m.campaignRemainingMinor += p.remainingMinor;
    const d = await packetDetail(r, p.id);
    expect(d.ledger).toMatchObject({ status: "refunded", refundedMinor: p.remainingMinor });
    // Again, by the other path: nothing more moves.
    if (this.by === "alarm") {
      await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
    } else {
      await runDurableObjectAlarm(env.LIVE_ROOM.getByName(r.roomId));
    }
  }
  toString = () => `expire(${this.pick}, by ${this.by})`;
}

type Delivery = "once" | "twice" | "failed-first" | "failed-after";

class TopUpCommand implements Cmd {
  constructor(
    readonly who: number,
    readonly amountMinor: number,
    readonly delivery: Delivery,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = user(r, this.who % PAYERS);
    await settle(m, r);
    const k = key();
    const body = { kind: "topup", channel: "stripe", amount: fen(this.amountMinor) };
    const created = await post(r, u, "/v1/payments/orders", body, k);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.order).toMatchObject({ state: "pending", amountMinor: this.amountMinor, channel: "stripe" });
    const orderId = created.body.order.id as string;
    const { transactionId: intentId } = await stripeControl("pay", { orderNo: orderId });
    const success = stripeEvent({ orderNo: orderId, intentId, amountMinor: this.amountMinor });
    const failure = stripeEvent({
      orderNo: orderId,
      intentId,
      amountMinor: this.amountMinor,
      type: "payment_intent.payment_failed",
    });
    const sequence = {
      once: [success],
      twice: [success, success],
      "failed-first": [failure, success],
      "failed-after": [success, failure],
    }[this.delivery];
    for (const event of sequence) {
      await stripeWebhook(event);
      // A report applied before the next one arrives: the order they come in is the point.
      await settle(m, r);
    }
    m.orders.push({
      id: orderId,
      userId: u,
      amountMinor: this.amountMinor,
      intentId,
      successEventId: JSON.parse(success).id,
      refundedMinor: 0,
    });
    m.wallets.set(u, (m.wallets.get(u) ?? 0) + this.amountMinor);
    // The same order asked for again with the same key is the same order, nothing new.
    const again = await unchanged(m, r, () => post(r, u, "/v1/payments/orders", body, k));
    expect(again.status).toBe(200);
    expect(again.body.order).toMatchObject({ id: orderId, state: "succeeded" });
  }
  toString = () => `topUp(${this.who}, ${this.amountMinor}, ${this.delivery})`;
}

class RefundCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly amountMinor: number,
    readonly noticeFirst: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.orders.length > 0;
  async run(m: Model, r: Real) {
    const o = m.orders[this.pick % m.orders.length] as OrderM;
    const path = `/v1/admin/payments/orders/${o.id}/refunds`;
    const body = { amount: fen(this.amountMinor), reason: "model" };
    await settle(m, r);
    const flagsBefore = await flagsOf(o.id);
    if (this.noticeFirst) {
      // The provider's refund notification arrives before we asked: it matches no refund of
      // ours, so it moves nothing and operators are flagged; the request still goes through.
      await stripeWebhook(chargeRefunded(o, o.refundedMinor + this.amountMinor));
      await settle(m, r);
      expect(await flagsOf(o.id)).toEqual([...flagsBefore, "refund_unmatched"]);
    }
    const have = m.wallets.get(o.userId) ?? 0;
    const beyondOrder = o.refundedMinor + this.amountMinor > o.amountMinor;
    const beyondWallet = this.amountMinor > have;
    if (beyondOrder || beyondWallet) {
      const res = await unchanged(m, r, () => post(r, null, path, body, key()));
      // When both hold, which guard speaks first is not part of the contract.
      const codes = [...(beyondOrder ? ["order_not_refundable"] : []), ...(beyondWallet ? ["insufficient_funds"] : [])];
      return expectError(res, 409, codes);
    }
    const k = key();
    const res = await post(r, null, path, body, k);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.refund).toMatchObject({ orderId: o.id, amountMinor: this.amountMinor, state: "requested" });
    m.wallets.set(o.userId, have - this.amountMinor);
    expect(res.body.walletBalanceMinor).toBe(have - this.amountMinor);
    o.refundedMinor += this.amountMinor;
    await settle(m, r);
    // And the provider's notification after the refund, as Stripe sends one for every refund:
    // the refund is already confirmed, so nothing moves and nobody is alerted.
    const flagsNow = await flagsOf(o.id);
    await stripeWebhook(chargeRefunded(o, o.refundedMinor));
    await settle(m, r);
    expect(await flagsOf(o.id)).toEqual(flagsNow);
    remember(m, res, { asUser: null, path, body, idempotencyKey: k, otherBody: { ...body, reason: "other" } });
  }
  toString = () => `refund(${this.pick}, ${this.amountMinor}${this.noticeFirst ? ", notice first" : ""})`;
}

class ReplayCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly sameBody: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.sent.length > 0;
  async run(m: Model, r: Real) {
    const s = m.sent[this.pick % m.sent.length] as SentRequest;
    const res = await unchanged(m, r, () =>
      post(r, s.asUser, s.path, this.sameBody ? s.body : s.otherBody, s.idempotencyKey),
    );
    if (!this.sameBody) return expectError(res, 422, "idempotency_key_reused");
    expect(res.status).toBe(s.status);
    expect(res.headers.get("idempotent-replayed")).toBe("true");
    expect(JSON.stringify(res.body)).toBe(s.text);
  }
  toString = () => `replay(${this.pick}, ${this.sameBody ? "same body" : "other body"})`;
}

class RedeliverClaimsCommand implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.packets.some((p) => p.claims.length > 0);
  async run(m: Model, r: Real) {
    const claimed = m.packets.filter((p) => p.claims.length > 0);
    const p = claimed[this.pick % claimed.length] as PacketM;
    // Every credit again, newest first, each twice: the ledger queue delivers at least once, in any order.
    const bodies = [...p.claims].reverse().flatMap((c) => [creditOf(p, c), creditOf(p, c)]);
    const result = await unchanged(m, r, () => deliver(LEDGER_POSTINGS_QUEUE, bodies));
    expect(result).toEqual({ acked: bodies.length, retried: 0 });
  }
  toString = () => `redeliverClaims(${this.pick})`;
}

class RedeliverPaymentCommand implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.orders.length > 0;
  async run(m: Model, r: Real) {
    const o = m.orders[this.pick % m.orders.length] as OrderM;
    await settle(m, r);
    const stored = await env.CONTROL.prepare(
      "SELECT id FROM payment_notifications WHERE channel = 'stripe' AND event_id = ? AND verified = 1",
    )
      .bind(o.successEventId)
      .first<string>("id");
    expect(stored).toMatch(/^ntf_/);
    const message: PaymentCallbackMessage = {
      kind: "payment.callback",
      notificationId: stored as string,
      channel: "stripe",
      eventId: o.successEventId,
      event: {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: o.id,
        providerTxnId: o.intentId,
        amountMinor: o.amountMinor,
        currency: "CNY",
        merchant: [],
      },
    };
    // The queue redelivers the applied success twice in one batch: it is credited once, ever.
    const result = await deliver(PAYMENT_CALLBACKS_QUEUE, [message, message]);
    expect(result).toEqual({ acked: 2, retried: 0 });
  }
  toString = () => `redeliverPayment(${this.pick})`;
}

class MalformedCommand implements Cmd {
  constructor(readonly variant: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = user(r, 0);
    const cases: [string, unknown, number, string][] = [
      [`/v1/rooms/${r.roomId}/tips`, { kind: "custom", amount: 5 }, 400, "malformed_request"],
      [`/v1/rooms/${r.roomId}/tips`, { kind: "gift", giftId: "unicorn", quantity: 1 }, 404, "gift_not_found"],
      [`/v1/rooms/${r.roomId}/red-packets`, { total: "1.005", shares: 1 }, 400, "malformed_request"],
      [
        `/v1/rooms/${r.roomId}/red-packets/packet_01JDEM00000000000000000000/claims`,
        undefined,
        404,
        "packet_not_found",
      ],
    ];
    const [path, body, status, code] = cases[this.variant % cases.length] as (typeof cases)[number];
    const res = await unchanged(m, r, () => post(r, u, path, body, key()));
    expectError(res, status, code);
  }
  toString = () => `malformed(${this.variant})`;
}

// ── the run ──────────────────────────────────────────────────────────────────────────────

const commands = [
  fc
    .tuple(fc.nat(USERS - 1), fc.constantFrom("credit" as const, "debit" as const), fc.integer({ min: 1, max: 3000 }))
    .map(([w, d, a]) => new AdjustCommand(w, d, a)),
  fc
    .tuple(
      fc.nat(PAYERS - 1),
      fc.oneof(
        fc.record({
          kind: fc.constant("gift" as const),
          giftId: fc.constantFrom<GiftId>("rose", "lucky-cat"),
          quantity: fc.integer({ min: 1, max: 3 }),
        }),
        fc.record({ kind: fc.constant("custom" as const), amountMinor: fc.integer({ min: 50, max: 1200 }) }),
      ),
      fc.boolean(),
    )
    .map(([w, s, c]) => new TipCommand(w, s, c)),
  fc
    .tuple(
      fc.nat(PAYERS - 1),
      fc.integer({ min: 1, max: 2500 }),
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom("lucky" as const, "equal" as const),
    )
    .map(([w, t, s, sp]) => new SendPacketCommand(w, t, s, sp)),
  fc.tuple(fc.nat(PAYERS - 1), fc.integer({ min: 4, max: 700 })).map(([w, a]) => new IssueSubsidyCommand(w, a)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 4 })).map(([p, s]) => new SendSubsidyPacketCommand(p, s)),
  // Claims are cheap and most of what happens to a packet: three times the weight.
  ...Array.from({ length: 3 }, () => fc.tuple(fc.nat(), fc.nat(USERS - 1)).map(([p, w]) => new ClaimCommand(p, w))),
  fc.nat().map((p) => new GrabAllCommand(p)),
  fc.tuple(fc.nat(), fc.constantFrom("alarm" as const, "sweeper" as const)).map(([p, b]) => new ExpireCommand(p, b)),
  fc
    .tuple(
      fc.nat(PAYERS - 1),
      fc.integer({ min: 100, max: 5000 }),
      fc.constantFrom<Delivery>("once", "twice", "failed-first", "failed-after"),
    )
    .map(([w, a, d]) => new TopUpCommand(w, a, d)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 3000 }), fc.boolean()).map(([p, a, n]) => new RefundCommand(p, a, n)),
  fc.tuple(fc.nat(), fc.boolean()).map(([p, s]) => new ReplayCommand(p, s)),
  fc.nat().map((p) => new RedeliverClaimsCommand(p)),
  fc.nat().map((p) => new RedeliverPaymentCommand(p)),
  fc.nat().map((v) => new MalformedCommand(v)),
];

let runCounter = 0;

async function setup(): Promise<{ model: Model; real: Real }> {
  runCounter += 1;
  const tag = `cm${runCounter}${Math.random().toString(36).slice(2, 6)}`;
  const users = Array.from({ length: USERS }, (_, i) => `${tag}-u${i}`);
  const tokens = new Map<string, string>();
  for (const u of users) tokens.set(u, await token(u));
  const ops = await operatorToken();
  const roomId = await openRoom(`${tag}-creator`);
  for (const u of users.slice(0, PAYERS)) {
    await setPin(u);
    const res = await call("PUT", "/v1/me/autopay", {
      token: tokens.get(u) as string,
      body: { perTipMax: fen(AUTOPAY.perTipMaxMinor), perDayMax: fen(AUTOPAY.perDayMaxMinor) },
    });
    expect(res.status).toBe(200);
  }
  // Payers start with some money, so that most sequences get past "insufficient funds".
  for (const u of users.slice(0, PAYERS)) {
    const res = await call("POST", `/v1/users/${u}/wallet/adjustments`, {
      token: ops,
      idempotencyKey: key(),
      body: { direction: "credit", amount: fen(START_MINOR), reason: "model start" },
    });
    expect(res.status).toBe(201);
  }
  const campaign = await call("POST", "/v1/admin/campaigns", {
    token: ops,
    idempotencyKey: key(),
    body: { name: `model ${tag}`, budget: "10.00" },
  });
  expect(campaign.status).toBe(201);
  const campaignId = campaign.body.campaign.id as string;
  // One subsidy from the start, so that subsidy-funded packets (whose remainder goes back to
  // the campaign, not to the sender) come up in most runs.
  const issued = await call("POST", `/v1/admin/campaigns/${campaignId}/subsidies`, {
    token: ops,
    idempotencyKey: key(),
    body: { externalId: `ext-${tag}`, userId: users[0], amount: fen(START_SUBSIDY_MINOR) },
  });
  expect(issued.status).toBe(201);
  return {
    model: {
      wallets: new Map(users.map((u, i) => [u, i < PAYERS ? START_MINOR : 0])),
      packets: [],
      orders: [],
      subsidies: [
        { id: issued.body.subsidy.id, userId: users[0] as string, amountMinor: START_SUBSIDY_MINOR, used: false },
      ],
      sent: [],
      campaignRemainingMinor: 1000 - START_SUBSIDY_MINOR,
      claimsInFlight: false,
    },
    real: { tag, roomId, users, tokens, ops, campaignId },
  };
}

/** Runs each command, then checks the invariants and (when it can know) every balance. */
class Checked implements Cmd {
  constructor(readonly inner: Cmd) {}
  check = (m: Readonly<Model>) => this.inner.check(m);
  async run(m: Model, r: Real) {
    await this.inner.run(m, r);
    await invariantsHold();
    if (!m.claimsInFlight) await agree(m, r);
  }
  toString = () => this.inner.toString();
}

describe("the command model", () => {
  it("every command the model predicts, the invariants after each, and rejected commands change nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(
          commands.map((c) => c.map((inner) => new Checked(inner))),
          { maxCommands: COMMANDS_MAX, size: "max" },
        ),
        async (cmds) => {
          const s = await setup();
          await fc.asyncModelRun(() => s, cmds);
          await agree(s.model, s.real);
          await invariantsHold();
        },
      ),
      {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(PATH ? { path: PATH } : {}),
        endOnFailure: true,
      },
    );
  }, 900_000);
});
