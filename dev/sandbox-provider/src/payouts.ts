/**
 * The simulator's payouts (money out to a payee, like WeChat 商家转账 or Alipay's transfer): the
 * merchant sends a payout under its own payout number, the provider accepts it (`processing`)
 * and settles it later, from its alarm, as `succeeded` or `failed`, then owes the merchant a
 * signed callback at its payout notify URL (the PAYOUT_NOTIFY_URL var: one address per merchant,
 * as Alipay's app gateway is). The payout number is the idempotency key: the same number with
 * the same details answers the same payout; with other details it is refused.
 *
 * A payout fails after being accepted when its payee id starts with `fail` (deterministic, for
 * demos and tests) or by the simulation's `payoutFailRate`.
 */
import { z } from "zod";
import { LIMITS } from "../../../src/domain/limits";

export const PayoutNo = z.string().regex(/^[A-Za-z0-9]{1,32}$/);

export const OpenPayoutInput = z.strictObject({
  merchantId: z.string().min(1).max(64),
  payoutNo: PayoutNo,
  amountMinor: z.number().int().positive().max(LIMITS.amountMaxMinor),
  currency: z.string().regex(/^[A-Z]{3}$/),
  payee: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  remark: z.string().max(64),
});
export type OpenPayoutRequest = z.input<typeof OpenPayoutInput>;

export const PAYOUTS_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS payouts (payout_no TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, payout_id TEXT NOT NULL UNIQUE,
     payee TEXT NOT NULL, amount_minor INTEGER NOT NULL CHECK (amount_minor > 0), currency TEXT NOT NULL,
     remark TEXT NOT NULL, notify_url TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('processing', 'succeeded', 'failed')),
     will_fail INTEGER NOT NULL, fail_reason TEXT, created_at_ms INTEGER NOT NULL, settle_at_ms INTEGER NOT NULL,
     settled_at_ms INTEGER)`,
  `CREATE INDEX IF NOT EXISTS payouts_settle ON payouts (settle_at_ms) WHERE state = 'processing'`,
];

export type PayoutState = "processing" | "succeeded" | "failed";

export type PayoutRow = {
  payout_no: string;
  merchant_id: string;
  payout_id: string;
  payee: string;
  amount_minor: number;
  currency: string;
  remark: string;
  notify_url: string;
  state: PayoutState;
  will_fail: number;
  fail_reason: string | null;
  created_at_ms: number;
  settle_at_ms: number;
  settled_at_ms: number | null;
};

export interface SandboxPayout {
  readonly payoutNo: string;
  readonly payoutId: string;
  readonly merchantId: string;
  readonly payee: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly remark: string;
  readonly state: PayoutState;
  readonly failReason: string | null;
  readonly createdAtMs: number;
  readonly settledAtMs: number | null;
}

export type OpenPayoutResult =
  | { readonly kind: "opened" | "exists"; readonly payout: SandboxPayout }
  | { readonly kind: "rejected"; readonly code: "invalid_request" | "payout_no_reused"; readonly detail: string };

export function payoutView(row: PayoutRow): SandboxPayout {
  return {
    payoutNo: row.payout_no,
    payoutId: row.payout_id,
    merchantId: row.merchant_id,
    payee: row.payee,
    amountMinor: row.amount_minor,
    currency: row.currency,
    remark: row.remark,
    state: row.state,
    failReason: row.fail_reason,
    createdAtMs: row.created_at_ms,
    settledAtMs: row.settled_at_ms,
  };
}

/** The callback a settled payout owes, as its JSON body. */
export function payoutEventBody(row: PayoutRow, eventId: string): string {
  return JSON.stringify({
    id: eventId,
    type: row.state === "succeeded" ? "payout.succeeded" : "payout.failed",
    merchant_id: row.merchant_id,
    payout_no: row.payout_no,
    payout_id: row.payout_id,
    amount_minor: row.amount_minor,
    currency: row.currency,
    ...(row.fail_reason ? { fail_reason: row.fail_reason } : {}),
  });
}
