/**
 * The simulated payment provider behind giftwire's sandbox channel, for development, demos,
 * tests and load tests: from giftwire's side it behaves like a real provider. One per
 * simulator (`getByName("sandbox")`). It keeps, in its own SQLite, the payments merchants
 * opened, the payer's decision, refunds and its own transaction ids, and it delivers signed
 * callbacks the way providers do: by HTTP POST to the `notify_url` the merchant gave when it
 * opened the payment, late (a configurable delay), again when not acknowledged (a compressed
 * version of a real provider's retry schedule, every attempt recorded), and now and then
 * twice (a configurable duplicate rate).
 *
 * All scheduled work runs from the one alarm (no timers: the object may be evicted between
 * any two events). The alarm is at-least-once: each attempt is recorded, with its failure
 * outcome, before the callback is sent, so a run that dies mid-delivery, or a second run,
 * never loses or repeats more than a provider would.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { bytesHex, CHINA_STANDARD_TIME_OFFSET_MS } from "../../../src/channels/encoding";
import { formatSandboxStatement } from "../../../src/channels/sandbox/statement";
import { newId } from "../../../src/domain/ids";
import { assert, LIMITS } from "../../../src/domain/limits";
import type { StatementLine } from "../../../src/domain/reconcile";
import { cryptoRandomInt } from "../../../src/domain/red-packet";
import { retryDelayMs } from "../../../src/domain/retry";
import {
  OpenPayoutInput,
  type OpenPayoutRequest,
  type OpenPayoutResult,
  PAYOUTS_SCHEMA,
  type PayoutRow,
  payoutEventBody,
  payoutView,
  type SandboxPayout,
} from "./payouts";
import { DEFAULT_DELIVERY_DELAY_MS } from "./schedule";
import { signSandbox } from "./signature";

/** WeChat Pay's out_trade_no rule (6–32 of letters, digits, _ and -), which our order ids meet. */
const OrderNo = z.string().regex(/^[A-Za-z0-9_-]{6,32}$/);
const Currency = z.string().regex(/^[A-Z]{3}$/);
const AmountMinor = z.number().int().positive().max(LIMITS.amountMaxMinor);

/** Callbacks sent by one alarm run, concurrently; more due re-arm the alarm at once. */
const DELIVERIES_PER_RUN_MAX = 50;
/** A callback the merchant has not answered by then counts as unanswered, and is retried. */
const DELIVERY_TIMEOUT_MS = 10_000;
/** Payouts settled by one alarm run; more re-arm the alarm at once. */
const PAYOUT_SETTLES_PER_RUN_MAX = 200;
/** Payments closed by one alarm run; more re-arm the alarm at once. */
const EXPIRIES_PER_RUN_MAX = 200;
/** The statement's header and trailer count against the file's line limit. */
const STATEMENT_LINES_MAX = LIMITS.statementLinesMax - 2;
const DAY_MS = 86_400_000;

/**
 * How the provider behaves: the simulator's DELIVERY_DELAY_MS and DUPLICATE_RATE vars, unless
 * set at run time through the control API (which tests use); read when a callback is scheduled.
 */
export const Simulation = z.strictObject({
  /** A callback arrives uniformly within [min, max] ms of the event. */
  deliveryDelayMs: z
    .tuple([z.number().int().min(0).max(600_000), z.number().int().min(0).max(600_000)])
    .refine(([min, max]) => min <= max, "deliveryDelayMs is [min, max] with min <= max"),
  /** How often an acknowledged callback is delivered once more. */
  duplicateRate: z.number().min(0).max(1),
  /** Payouts: how long after being accepted a payout settles, uniformly within [min, max] ms. */
  payoutSettleDelayMs: z
    .tuple([z.number().int().min(0).max(600_000), z.number().int().min(0).max(600_000)])
    .refine(([min, max]) => min <= max, "payoutSettleDelayMs is [min, max] with min <= max")
    .default([1_000, 3_000]),
  /** Payouts: how often an accepted payout fails when it settles (payees named `fail…` always do). */
  payoutFailRate: z.number().min(0).max(1).default(0),
});
export type Simulation = z.infer<typeof Simulation>;

/** The vars' form: `DELIVERY_DELAY_MS` = "min-max" (or one number), `DUPLICATE_RATE` = a decimal in [0, 1]. */
function simulationFromVars(env: Pick<SandboxProviderEnv, "DELIVERY_DELAY_MS" | "DUPLICATE_RATE">): Simulation {
  const [min = "", max = min] = env.DELIVERY_DELAY_MS.split("-").map((part) => part.trim());
  return Simulation.parse({
    deliveryDelayMs: [Number(min || DEFAULT_DELIVERY_DELAY_MS[0]), Number(max || DEFAULT_DELIVERY_DELAY_MS[1])],
    duplicateRate: Number(env.DUPLICATE_RATE || "0"),
  });
}

/** Storage keys (the object's KV storage): the armed alarm's time, and a run-time simulation. */
const ALARM_AT_KEY = "alarm_at_ms";
const SIMULATION_KEY = "simulation";

export const OpenPaymentInput = z.strictObject({
  merchantId: z.string().min(1).max(64),
  merchantOrderNo: OrderNo,
  amountMinor: AmountMinor,
  currency: Currency,
  description: z
    .string()
    .min(1)
    .refine((d) => new TextEncoder().encode(d).length <= 127, "the description is at most 127 bytes"),
  // Where the callbacks go: the provider POSTs to it, so only http(s).
  notifyUrl: z.url({ protocol: /^https?$/ }).max(512),
  expiresAtMs: z.number().int().positive(),
});
type OpenPaymentRequest = z.input<typeof OpenPaymentInput>;

export const RefundInput = z.strictObject({
  merchantOrderNo: OrderNo,
  /** The merchant's refund number; the provider dedupes on it (WeChat out_refund_no). */
  refundNo: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  amountMinor: AmountMinor,
  /** The original payment's amount, which the provider checks (WeChat amount.total). */
  totalMinor: AmountMinor,
  currency: Currency,
  reason: z.string().max(80),
});
type SandboxRefundRequest = z.input<typeof RefundInput>;

export const Decision = z.enum(["succeeded", "failed"]);
export type Decision = z.infer<typeof Decision>;

export const StatementDate = z
  .string()
  .regex(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/)
  .refine((d) => new Date(`${d}T00:00:00Z`).toISOString().slice(0, 10) === d, "a calendar date");

type PaymentState = "open" | "succeeded" | "failed" | "closed";
type EventType =
  | "payment.succeeded"
  | "payment.failed"
  | "payment.closed"
  | "refund.succeeded"
  | "payout.succeeded"
  | "payout.failed";

interface AttemptView {
  readonly n: number;
  readonly atMs: number;
  /** This delivery repeated one already acknowledged (the provider's duplicate). */
  readonly duplicate: boolean;
  /** The callback path's HTTP status; null when it gave none (an error, or still in flight). */
  readonly status: number | null;
  readonly acknowledged: boolean;
  readonly error: string | null;
}

interface DeliveryView {
  readonly eventId: string;
  readonly type: EventType;
  /** `scheduled` until acknowledged; `gave_up` after the last unacknowledged attempt. */
  readonly state: "scheduled" | "delivered" | "gave_up";
  readonly createdAtMs: number;
  readonly nextAttemptAtMs: number | null;
  readonly deliveredAtMs: number | null;
  readonly attempts: readonly AttemptView[];
}

interface RefundView {
  readonly refundNo: string;
  readonly refundId: string;
  readonly amountMinor: number;
  readonly createdAtMs: number;
}

export interface SandboxPayment {
  readonly orderNo: string;
  readonly merchantId: string;
  readonly txnId: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly description: string;
  readonly state: PaymentState;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly decidedAtMs: number | null;
  readonly closedAtMs: number | null;
  readonly refundedMinor: number;
  readonly refunds: readonly RefundView[];
  readonly deliveries: readonly DeliveryView[];
}

type OpenResult =
  /**
   * `exists`: the same order was opened before (a retried create); the provider answers as
   * for the first. `payCode` is the payment's capability: whoever holds the payer link holds
   * it (as whoever scans a WeChat Native QR code may pay), and nobody else can see or decide.
   */
  | { readonly kind: "opened" | "exists"; readonly payment: SandboxPayment; readonly payCode: string }
  | {
      readonly kind: "rejected";
      readonly code: "invalid_request" | "order_no_reused" | "already_expired";
      readonly detail: string;
    };

export type DecideResult =
  /** Also the answer to the same decision made again (a payer's second tap): nothing new is sent. */
  | { readonly kind: "decided"; readonly payment: SandboxPayment }
  | {
      readonly kind: "rejected";
      readonly code: "unknown_payment" | "expired" | "already_decided";
      readonly payment: SandboxPayment | null;
    };

type RefundOutcome =
  | {
      readonly kind: "refunded";
      readonly refundId: string;
      readonly amountMinor: number;
      /** The sandbox settles refunds at once; the callback confirms it like a provider's notify. */
      readonly status: "succeeded";
    }
  | {
      readonly kind: "rejected";
      readonly code:
        | "invalid_request"
        | "unknown_payment"
        | "not_paid"
        | "total_mismatch"
        | "currency_mismatch"
        | "exceeds_refundable"
        | "refund_no_reused";
      readonly detail: string;
    };

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS payments (order_no TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, txn_id TEXT NOT NULL UNIQUE,
     pay_code TEXT NOT NULL,
     amount_minor INTEGER NOT NULL CHECK (amount_minor > 0), currency TEXT NOT NULL, description TEXT NOT NULL,
     notify_url TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('open', 'succeeded', 'failed', 'closed')),
     created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, decided_at_ms INTEGER, closed_at_ms INTEGER,
     refunded_minor INTEGER NOT NULL DEFAULT 0,
     CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor))`,
  `CREATE INDEX IF NOT EXISTS payments_open_expiry ON payments (expires_at_ms) WHERE state = 'open'`,
  `CREATE INDEX IF NOT EXISTS payments_decided ON payments (decided_at_ms) WHERE state = 'succeeded'`,
  `CREATE TABLE IF NOT EXISTS refunds (refund_no TEXT PRIMARY KEY, refund_id TEXT NOT NULL UNIQUE, order_no TEXT NOT NULL,
     amount_minor INTEGER NOT NULL CHECK (amount_minor > 0), reason TEXT NOT NULL, created_at_ms INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS refunds_order ON refunds (order_no)`,
  `CREATE INDEX IF NOT EXISTS refunds_created ON refunds (created_at_ms)`,
  // One row per callback the provider owes; `next_attempt_at_ms` is set while a delivery
  // (first, retry or duplicate) is due, and the alarm is armed for the earliest.
  `CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, order_no TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
     created_at_ms INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'gave_up')),
     attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at_ms INTEGER, acked_at_ms INTEGER,
     duplicates_left INTEGER NOT NULL CHECK (duplicates_left >= 0))`,
  `CREATE INDEX IF NOT EXISTS events_due ON events (next_attempt_at_ms) WHERE next_attempt_at_ms IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS events_order ON events (order_no)`,
  `CREATE TABLE IF NOT EXISTS attempts (event_id TEXT NOT NULL, n INTEGER NOT NULL, at_ms INTEGER NOT NULL,
     duplicate INTEGER NOT NULL, status INTEGER, acknowledged INTEGER NOT NULL DEFAULT 0, error TEXT,
     PRIMARY KEY (event_id, n))`,
];

type PaymentRow = {
  order_no: string;
  merchant_id: string;
  txn_id: string;
  pay_code: string;
  amount_minor: number;
  currency: string;
  description: string;
  notify_url: string;
  state: PaymentState;
  created_at_ms: number;
  expires_at_ms: number;
  decided_at_ms: number | null;
  closed_at_ms: number | null;
  refunded_minor: number;
};

type EventRow = {
  id: string;
  order_no: string;
  type: EventType;
  body: string;
  created_at_ms: number;
  state: "pending" | "delivered" | "gave_up";
  attempts: number;
  next_attempt_at_ms: number | null;
  acked_at_ms: number | null;
  duplicates_left: number;
};

type AttemptRow = {
  event_id: string;
  n: number;
  at_ms: number;
  duplicate: number;
  status: number | null;
  acknowledged: number;
  error: string | null;
};

/** A delivery leased by an alarm run: sent after the lease is written. */
interface Lease {
  eventId: string;
  n: number;
  duplicate: boolean;
  body: string;
  notifyUrl: string;
}

/**
 * The provider's transaction id for a merchant order. The sandbox takes one payment per
 * order, so one id per order is unique; deriving it keeps it stable if the order is opened
 * again, and keeps the `sbx_<order id>` shape earlier sandbox transactions had.
 */
function txnIdFor(orderNo: string): string {
  return `sbx_${orderNo.replace(/^order_/, "")}`;
}

/** 128 random bits, hex: the payer link's capability. */
function newPayCode(): string {
  return bytesHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** Compares two codes in time independent of where they first differ. */
function sameCode(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function eventId(nowMs: number): string {
  return `evt_${newId("ntf", nowMs).slice("ntf_".length)}`;
}

/** True with probability `rate`, from the CSPRNG, in steps of one in a million. */
function chance(rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return cryptoRandomInt(0, 999_999) < Math.round(rate * 1_000_000);
}

export class SandboxProvider extends DurableObject<SandboxProviderEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: SandboxProviderEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of [...SCHEMA, ...PAYOUTS_SCHEMA]) this.sql.exec(statement);
  }

  // ── RPC ──────────────────────────────────────────────────────────────────────────────

  /** Opens a payment for a merchant order (WeChat's prepay, Stripe's PaymentIntent create). */
  async openPayment(request: OpenPaymentRequest): Promise<OpenResult> {
    // A request the provider's rules refuse is its 400 PARAM_ERROR: an answer, not a failure.
    const parsed = OpenPaymentInput.safeParse(request);
    if (!parsed.success) return { kind: "rejected", code: "invalid_request", detail: z.prettifyError(parsed.error) };
    const input = parsed.data;
    const nowMs = Date.now();
    const existing = this.paymentRow(input.merchantOrderNo);
    if (existing) {
      const same =
        existing.merchant_id === input.merchantId &&
        existing.amount_minor === input.amountMinor &&
        existing.currency === input.currency;
      if (!same) {
        return {
          kind: "rejected",
          code: "order_no_reused",
          detail: `order ${input.merchantOrderNo} was opened with other details`,
        };
      }
      return { kind: "exists", payment: this.view(existing), payCode: existing.pay_code };
    }
    if (input.expiresAtMs <= nowMs) {
      return { kind: "rejected", code: "already_expired", detail: "time_expire is in the past" };
    }
    const payCode = newPayCode();
    this.sql.exec(
      `INSERT INTO payments (order_no, merchant_id, txn_id, pay_code, amount_minor, currency, description, notify_url, state,
         created_at_ms, expires_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
      input.merchantOrderNo,
      input.merchantId,
      txnIdFor(input.merchantOrderNo),
      payCode,
      input.amountMinor,
      input.currency,
      input.description,
      input.notifyUrl,
      nowMs,
      input.expiresAtMs,
    );
    await this.arm();
    const row = this.paymentRow(input.merchantOrderNo);
    assert(row, "the payment exists after its insert");
    return { kind: "opened", payment: this.view(row), payCode };
  }

  /**
   * Accepts a payout (payouts.ts): `opened` the first time, `exists` for the same payout
   * number with the same details (a retried send), refused with other details.
   */
  async openPayout(request: OpenPayoutRequest): Promise<OpenPayoutResult> {
    const parsed = OpenPayoutInput.safeParse(request);
    if (!parsed.success) return { kind: "rejected", code: "invalid_request", detail: z.prettifyError(parsed.error) };
    const input = parsed.data;
    const nowMs = Date.now();
    const existing = this.payoutRow(input.payoutNo);
    if (existing) {
      const same =
        existing.merchant_id === input.merchantId &&
        existing.amount_minor === input.amountMinor &&
        existing.currency === input.currency &&
        existing.payee === input.payee;
      if (!same) {
        return {
          kind: "rejected",
          code: "payout_no_reused",
          detail: `payout ${input.payoutNo} was sent with other details`,
        };
      }
      return { kind: "exists", payout: payoutView(existing) };
    }
    const simulation = this.simulation();
    const [minMs, maxMs] = simulation.payoutSettleDelayMs;
    const willFail = input.payee.startsWith("fail") || chance(simulation.payoutFailRate);
    this.sql.exec(
      `INSERT INTO payouts (payout_no, merchant_id, payout_id, payee, amount_minor, currency, remark, notify_url, state,
         will_fail, created_at_ms, settle_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'processing', ?, ?, ?)`,
      input.payoutNo,
      input.merchantId,
      `sbp_${newId("ntf", nowMs).slice("ntf_".length)}`,
      input.payee,
      input.amountMinor,
      input.currency,
      input.remark,
      this.env.PAYOUT_NOTIFY_URL,
      willFail ? 1 : 0,
      nowMs,
      nowMs + cryptoRandomInt(minMs, maxMs),
    );
    await this.arm();
    const row = this.payoutRow(input.payoutNo);
    assert(row, "the payout exists after its insert");
    return { kind: "opened", payout: payoutView(row) };
  }

  /** What the provider knows about a payout: for the merchant's queries. */
  async payout(payoutNo: string): Promise<SandboxPayout | null> {
    const row = this.payoutRow(payoutNo);
    return row ? payoutView(row) : null;
  }

  /** What the provider knows about a payment: for the merchant's queries. */
  async payment(orderNo: string): Promise<SandboxPayment | null> {
    const no = OrderNo.safeParse(orderNo);
    if (!no.success) return null; // no payment can have that number
    const row = this.paymentRow(no.data);
    return row ? this.view(row) : null;
  }

  /** The payment the payer link names, for its holder only: null for a wrong code as for no payment. */
  async payerPayment(orderNo: string, payCode: string): Promise<SandboxPayment | null> {
    const row = this.payersRow(orderNo, payCode);
    return row ? this.view(row) : null;
  }

  /** The payer approves or declines; the outcome's callback is scheduled after the delay. */
  async decide(orderNo: string, payCode: string, outcome: Decision): Promise<DecideResult> {
    const decision = Decision.parse(outcome);
    const payer = this.payersRow(orderNo, payCode);
    if (!payer) return { kind: "rejected", code: "unknown_payment", payment: null };
    const no = payer.order_no;
    const nowMs = Date.now();
    type Verdict =
      | { readonly kind: "decided" }
      | { readonly kind: "rejected"; readonly code: "unknown_payment" | "expired" | "already_decided" };
    const verdict = this.ctx.storage.transactionSync((): Verdict => {
      const row = this.paymentRow(no);
      if (!row) return { kind: "rejected", code: "unknown_payment" };
      if (row.state === "open" && row.expires_at_ms <= nowMs) {
        // The alarm closes it at its deadline; a payer faster than the alarm still finds it closed.
        this.closeExpired(nowMs);
        return { kind: "rejected", code: "expired" };
      }
      if (row.state === "closed") return { kind: "rejected", code: "expired" };
      if (row.state !== "open") {
        return row.state === decision ? { kind: "decided" } : { kind: "rejected", code: "already_decided" };
      }
      this.sql.exec(
        "UPDATE payments SET state = ?, decided_at_ms = ? WHERE order_no = ? AND state = 'open'",
        decision,
        nowMs,
        no,
      );
      this.scheduleEvent(row, decision === "succeeded" ? "payment.succeeded" : "payment.failed", nowMs);
      return { kind: "decided" };
    });
    await this.arm();
    const row = this.paymentRow(no);
    const payment = row ? this.view(row) : null;
    if (verdict.kind === "rejected") return { kind: "rejected", code: verdict.code, payment };
    assert(payment, "a decided payment exists");
    return { kind: "decided", payment };
  }

  /** Refunds part or all of a paid payment, once per refund number. */
  async refund(request: SandboxRefundRequest): Promise<RefundOutcome> {
    const parsed = RefundInput.safeParse(request);
    if (!parsed.success) return { kind: "rejected", code: "invalid_request", detail: z.prettifyError(parsed.error) };
    const input = parsed.data;
    const nowMs = Date.now();
    const outcome = this.ctx.storage.transactionSync((): RefundOutcome => {
      const row = this.paymentRow(input.merchantOrderNo);
      if (!row) return { kind: "rejected", code: "unknown_payment", detail: `no payment ${input.merchantOrderNo}` };
      const earlier = this.sql
        .exec<{ refund_id: string; order_no: string; amount_minor: number }>(
          "SELECT refund_id, order_no, amount_minor FROM refunds WHERE refund_no = ?",
          input.refundNo,
        )
        .toArray()[0];
      if (earlier) {
        // A retried refund request: the provider answers what it did the first time.
        if (earlier.order_no === input.merchantOrderNo && earlier.amount_minor === input.amountMinor) {
          return {
            kind: "refunded",
            refundId: earlier.refund_id,
            amountMinor: earlier.amount_minor,
            status: "succeeded",
          };
        }
        return { kind: "rejected", code: "refund_no_reused", detail: `refund ${input.refundNo} had other details` };
      }
      if (row.state !== "succeeded")
        return { kind: "rejected", code: "not_paid", detail: `the payment is ${row.state}` };
      if (input.currency !== row.currency) {
        return { kind: "rejected", code: "currency_mismatch", detail: `the payment is in ${row.currency}` };
      }
      if (input.totalMinor !== row.amount_minor) {
        return { kind: "rejected", code: "total_mismatch", detail: `the payment's total is ${row.amount_minor}` };
      }
      const refundableMinor = row.amount_minor - row.refunded_minor;
      if (input.amountMinor > refundableMinor) {
        return { kind: "rejected", code: "exceeds_refundable", detail: `${refundableMinor} is left to refund` };
      }
      const refundId = `sbr_${newId("refund", nowMs).slice("refund_".length)}`;
      this.sql.exec(
        "INSERT INTO refunds (refund_no, refund_id, order_no, amount_minor, reason, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        input.refundNo,
        refundId,
        row.order_no,
        input.amountMinor,
        input.reason,
        nowMs,
      );
      this.sql.exec(
        "UPDATE payments SET refunded_minor = refunded_minor + ? WHERE order_no = ?",
        input.amountMinor,
        row.order_no,
      );
      this.scheduleEvent(row, "refund.succeeded", nowMs, { refundId, amountMinor: input.amountMinor });
      return { kind: "refunded", refundId, amountMinor: input.amountMinor, status: "succeeded" };
    });
    await this.arm();
    return outcome;
  }

  /**
   * The day's statement (an Asia/Shanghai day, `YYYY-MM-DD`) as CSV: every payment that
   * succeeded and every refund made that day, in time order.
   */
  async statement(date: string): Promise<string> {
    const day = StatementDate.parse(date);
    const startMs = Date.parse(`${day}T00:00:00Z`) - CHINA_STANDARD_TIME_OFFSET_MS;
    const endMs = startMs + DAY_MS;
    const rows = this.sql
      .exec<{
        at_ms: number;
        type: "payment" | "refund";
        order_no: string;
        txn_id: string;
        refund_id: string | null;
        amount_minor: number;
        currency: string;
      }>(
        `SELECT decided_at_ms AS at_ms, 'payment' AS type, order_no, txn_id, NULL AS refund_id, amount_minor, currency
           FROM payments WHERE state = 'succeeded' AND decided_at_ms >= ? AND decided_at_ms < ?
         UNION ALL
         SELECT r.created_at_ms, 'refund', r.order_no, p.txn_id, r.refund_id, r.amount_minor, p.currency
           FROM refunds r JOIN payments p ON p.order_no = r.order_no WHERE r.created_at_ms >= ? AND r.created_at_ms < ?
         ORDER BY at_ms, type, order_no LIMIT ?`,
        startMs,
        endMs,
        startMs,
        endMs,
        STATEMENT_LINES_MAX + 1,
      )
      .toArray();
    assert(rows.length <= STATEMENT_LINES_MAX, `a day's statement has at most ${STATEMENT_LINES_MAX} lines`);
    // The sandbox settles at once: a listed payment succeeded, a listed refund was paid out.
    const lines = rows.map((r, i): StatementLine => {
      const base = {
        merchantOrderNo: r.order_no,
        providerTxnId: r.txn_id,
        amountMinor: r.amount_minor,
        currency: r.currency,
        occurredAtMs: r.at_ms,
        line: i + 2,
        merchantRefundNo: null,
      };
      return r.type === "payment"
        ? { ...base, kind: "payment", status: "succeeded", providerRefundId: null }
        : { ...base, kind: "refund", status: "refunded", providerRefundId: r.refund_id };
    });
    return formatSandboxStatement(lines);
  }

  // ── control (development and tests) ──────────────────────────────────────────────────

  /**
   * Runs the armed alarm now, as if its time had come: the work due by then is done and the
   * next alarm armed. False when nothing was armed. Tests drive the provider's clock with this.
   */
  async runDue(): Promise<boolean> {
    if (this.ctx.storage.kv.get<number>(ALARM_AT_KEY) === undefined) return false;
    await this.ctx.storage.deleteAlarm();
    await this.alarm();
    return true;
  }

  /** Replaces the vars' simulation until the next call; `null` goes back to the vars. */
  async setSimulation(simulation: Simulation | null): Promise<Simulation> {
    if (simulation === null) this.ctx.storage.kv.delete(SIMULATION_KEY);
    else this.ctx.storage.kv.put(SIMULATION_KEY, Simulation.parse(simulation));
    return this.simulation();
  }

  // ── the alarm: expiries and deliveries ───────────────────────────────────────────────

  /**
   * Closes what expired and sends what is due. The horizon is the time this alarm was set
   * for, or now if later: work due by then is done even when the alarm runs early (a test's
   * `runDurableObjectAlarm`), which stands for "that time has come".
   */
  override async alarm(): Promise<void> {
    const nowMs = Date.now();
    const setForMs = this.ctx.storage.kv.get<number>(ALARM_AT_KEY) ?? nowMs;
    this.ctx.storage.kv.delete(ALARM_AT_KEY); // this alarm has fired; arm() sets the next one
    const horizonMs = Math.max(nowMs, setForMs);
    this.ctx.storage.transactionSync(() => this.closeExpired(horizonMs));
    this.ctx.storage.transactionSync(() => this.settlePayouts(horizonMs));
    const leases = this.ctx.storage.transactionSync(() => this.leaseDue(horizonMs, nowMs));
    await Promise.all(leases.map((lease) => this.deliver(lease)));
    await this.arm();
  }

  /** Settles accepted payouts whose time has come, each with its payout callback. */
  private settlePayouts(horizonMs: number): void {
    const due = this.sql
      .exec<PayoutRow>(
        "SELECT * FROM payouts WHERE state = 'processing' AND settle_at_ms <= ? ORDER BY settle_at_ms LIMIT ?",
        horizonMs,
        PAYOUT_SETTLES_PER_RUN_MAX,
      )
      .toArray();
    for (const row of due) {
      const settledAtMs = Math.max(Date.now(), row.settle_at_ms);
      const failed = row.will_fail === 1;
      this.sql.exec(
        "UPDATE payouts SET state = ?, fail_reason = ?, settled_at_ms = ? WHERE payout_no = ? AND state = 'processing'",
        failed ? "failed" : "succeeded",
        failed ? "PAYEE_ACCOUNT_ABNORMAL" : null,
        settledAtMs,
        row.payout_no,
      );
      const settled = this.payoutRow(row.payout_no);
      assert(settled, "a settled payout exists");
      const id = eventId(settledAtMs);
      this.sql.exec(
        `INSERT INTO events (id, order_no, type, body, created_at_ms, state, next_attempt_at_ms, duplicates_left)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
        id,
        settled.payout_no,
        failed ? "payout.failed" : "payout.succeeded",
        payoutEventBody(settled, id),
        settledAtMs,
        settledAtMs + this.delayMs(),
        chance(this.simulation().duplicateRate) ? 1 : 0,
      );
    }
  }

  /** Closes open payments past their deadline, each with its payment.closed callback. */
  private closeExpired(horizonMs: number): void {
    const expired = this.sql
      .exec<PaymentRow>(
        "SELECT * FROM payments WHERE state = 'open' AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?",
        horizonMs,
        EXPIRIES_PER_RUN_MAX,
      )
      .toArray();
    for (const row of expired) {
      const closedAtMs = Math.max(Date.now(), row.expires_at_ms);
      this.sql.exec(
        "UPDATE payments SET state = 'closed', closed_at_ms = ? WHERE order_no = ? AND state = 'open'",
        closedAtMs,
        row.order_no,
      );
      this.scheduleEvent(row, "payment.closed", closedAtMs);
    }
  }

  /**
   * Takes the due deliveries and records each attempt before it is made, with the outcome
   * it has if no answer ever comes back (the next retry's time, or giving up after the
   * last). A run that dies mid-delivery therefore leaves the schedule as a provider would
   * after a timeout; an answer that does come back then overwrites it.
   */
  private leaseDue(horizonMs: number, nowMs: number): Lease[] {
    const due = this.sql
      .exec<EventRow & { notify_url: string }>(
        // A payment's events go to its notify_url, a payout's to the merchant's payout notify URL.
        `SELECT e.*, COALESCE(p.notify_url, po.notify_url) AS notify_url FROM events e
           LEFT JOIN payments p ON p.order_no = e.order_no LEFT JOIN payouts po ON po.payout_no = e.order_no
          WHERE e.next_attempt_at_ms IS NOT NULL AND e.next_attempt_at_ms <= ? ORDER BY e.next_attempt_at_ms LIMIT ?`,
        horizonMs,
        DELIVERIES_PER_RUN_MAX,
      )
      .toArray();
    const leases: Lease[] = [];
    for (const event of due) {
      const n =
        this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM attempts WHERE event_id = ?", event.id).one().n + 1;
      const duplicate = event.state === "delivered";
      if (duplicate) {
        // A duplicate is one extra delivery of an acknowledged event; it is not retried.
        const more = event.duplicates_left - 1;
        this.sql.exec(
          "UPDATE events SET duplicates_left = ?, next_attempt_at_ms = ? WHERE id = ?",
          more,
          more > 0 ? nowMs + this.delayMs() : null,
          event.id,
        );
      } else {
        const attempts = event.attempts + 1;
        // The provider's resend schedule, compressed; after its last step the provider gives up.
        const retryInMs = retryDelayMs("sandboxCallback", attempts, Math.random());
        this.sql.exec(
          "UPDATE events SET attempts = ?, state = ?, next_attempt_at_ms = ? WHERE id = ?",
          attempts,
          retryInMs === null ? "gave_up" : "pending",
          retryInMs === null ? null : nowMs + retryInMs,
          event.id,
        );
      }
      this.sql.exec(
        "INSERT INTO attempts (event_id, n, at_ms, duplicate) VALUES (?, ?, ?, ?)",
        event.id,
        n,
        nowMs,
        duplicate ? 1 : 0,
      );
      leases.push({ eventId: event.id, n, duplicate, body: event.body, notifyUrl: event.notify_url });
    }
    return leases;
  }

  /**
   * One delivery: an HTTP POST of the event to the merchant's notify_url, signed with the
   * simulator's signing secret, its answer recorded on the attempt. Only a 2xx acknowledges.
   */
  private async deliver(lease: Lease): Promise<void> {
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(lease.notifyUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          // Signed afresh for every attempt, as providers do: the signature's timestamp is the send time.
          "sandbox-signature": await signSandbox(this.env.SIGNING_SECRET, lease.body, Date.now()),
          "user-agent": "giftwire-sandbox-provider/1",
          "request-id": `${lease.eventId}-${lease.n}`,
        },
        body: lease.body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      status = response.status;
      await response.body?.cancel();
    } catch (thrown) {
      error = String(thrown).slice(0, 300);
    }
    const acknowledged = status !== null && status >= 200 && status < 300;
    const nowMs = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        "UPDATE attempts SET status = ?, acknowledged = ?, error = ? WHERE event_id = ? AND n = ?",
        status,
        acknowledged ? 1 : 0,
        error,
        lease.eventId,
        lease.n,
      );
      if (!acknowledged || lease.duplicate) return;
      const event = this.sql.exec<EventRow>("SELECT * FROM events WHERE id = ?", lease.eventId).toArray()[0];
      if (!event || event.state === "delivered") return;
      const duplicateDue = event.duplicates_left > 0 ? nowMs + this.delayMs() : null;
      this.sql.exec(
        "UPDATE events SET state = 'delivered', acked_at_ms = ?, next_attempt_at_ms = ? WHERE id = ?",
        nowMs,
        duplicateDue,
        lease.eventId,
      );
    });
    if (!acknowledged) {
      console.warn(
        JSON.stringify({
          msg: "sandbox_callback_not_acknowledged",
          eventId: lease.eventId,
          attempt: lease.n,
          status,
          error,
        }),
      );
    }
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────

  /** Schedules the callback an event owes, after the payment's simulated delay. */
  private scheduleEvent(
    row: PaymentRow,
    type: EventType,
    nowMs: number,
    refund?: { refundId: string; amountMinor: number },
  ): void {
    const id = eventId(nowMs);
    const body = JSON.stringify({
      id,
      type,
      merchant_id: row.merchant_id,
      order_no: row.order_no,
      txn_id: row.txn_id,
      amount_minor: refund ? refund.amountMinor : row.amount_minor,
      currency: row.currency,
      ...(refund ? { refund_id: refund.refundId } : {}),
    });
    this.sql.exec(
      `INSERT INTO events (id, order_no, type, body, created_at_ms, state, next_attempt_at_ms, duplicates_left)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
      id,
      row.order_no,
      type,
      body,
      nowMs,
      nowMs + this.delayMs(),
      chance(this.simulation().duplicateRate) ? 1 : 0,
    );
  }

  /** The knobs, read each time rather than kept: a change applies to the next callback scheduled. */
  private simulation(): Simulation {
    return this.ctx.storage.kv.get<Simulation>(SIMULATION_KEY) ?? simulationFromVars(this.env);
  }

  /** How long a callback takes to arrive, uniform in the configured range. */
  private delayMs(): number {
    const [minMs, maxMs] = this.simulation().deliveryDelayMs;
    return cryptoRandomInt(minMs, maxMs);
  }

  /** Arms the alarm for the earliest due work: a delivery or an open payment's deadline. */
  private async arm(): Promise<void> {
    const next = this.sql
      .exec<{ at: number | null }>(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(next_attempt_at_ms) AS at FROM events WHERE next_attempt_at_ms IS NOT NULL
           UNION ALL SELECT MIN(expires_at_ms) FROM payments WHERE state = 'open'
           UNION ALL SELECT MIN(settle_at_ms) FROM payouts WHERE state = 'processing')`,
      )
      .one().at;
    const current = this.ctx.storage.kv.get<number>(ALARM_AT_KEY);
    if (next === null) {
      if (current !== undefined) {
        this.ctx.storage.kv.delete(ALARM_AT_KEY);
        await this.ctx.storage.deleteAlarm();
      }
      return;
    }
    if (current === next) return;
    this.ctx.storage.kv.put(ALARM_AT_KEY, next);
    await this.ctx.storage.setAlarm(next);
  }

  private payersRow(orderNo: string, payCode: string): PaymentRow | null {
    const no = OrderNo.safeParse(orderNo);
    if (!no.success) return null;
    const row = this.paymentRow(no.data);
    return row && sameCode(row.pay_code, payCode) ? row : null;
  }

  private payoutRow(payoutNo: string): PayoutRow | null {
    return this.sql.exec<PayoutRow>("SELECT * FROM payouts WHERE payout_no = ?", payoutNo).toArray()[0] ?? null;
  }

  private paymentRow(orderNo: string): PaymentRow | null {
    return this.sql.exec<PaymentRow>("SELECT * FROM payments WHERE order_no = ?", orderNo).toArray()[0] ?? null;
  }

  private view(row: PaymentRow): SandboxPayment {
    const events = this.sql
      .exec<EventRow>("SELECT * FROM events WHERE order_no = ? ORDER BY created_at_ms, id", row.order_no)
      .toArray();
    const attempts = this.sql
      .exec<AttemptRow>(
        "SELECT a.* FROM attempts a JOIN events e ON e.id = a.event_id WHERE e.order_no = ? ORDER BY a.event_id, a.n",
        row.order_no,
      )
      .toArray();
    const refunds = this.sql
      .exec<{ refund_no: string; refund_id: string; amount_minor: number; created_at_ms: number }>(
        "SELECT refund_no, refund_id, amount_minor, created_at_ms FROM refunds WHERE order_no = ? ORDER BY created_at_ms",
        row.order_no,
      )
      .toArray();
    return {
      orderNo: row.order_no,
      merchantId: row.merchant_id,
      txnId: row.txn_id,
      amountMinor: row.amount_minor,
      currency: row.currency,
      description: row.description,
      state: row.state,
      createdAtMs: row.created_at_ms,
      expiresAtMs: row.expires_at_ms,
      decidedAtMs: row.decided_at_ms,
      closedAtMs: row.closed_at_ms,
      refundedMinor: row.refunded_minor,
      refunds: refunds.map((r) => ({
        refundNo: r.refund_no,
        refundId: r.refund_id,
        amountMinor: r.amount_minor,
        createdAtMs: r.created_at_ms,
      })),
      deliveries: events.map((e) => ({
        eventId: e.id,
        type: e.type,
        state: e.state === "pending" ? "scheduled" : e.state,
        createdAtMs: e.created_at_ms,
        nextAttemptAtMs: e.next_attempt_at_ms,
        deliveredAtMs: e.acked_at_ms,
        attempts: attempts
          .filter((a) => a.event_id === e.id)
          .map((a) => ({
            n: a.n,
            atMs: a.at_ms,
            duplicate: a.duplicate === 1,
            status: a.status,
            acknowledged: a.acknowledged === 1,
            error: a.error,
          })),
      })),
    };
  }
}
