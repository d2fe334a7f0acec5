/**
 * Stripe Connect transfers (platform balance → the creator's connected account), per
 * ../shared/PAYOUTS-AND-PLATFORM.md §1c: `POST /v1/transfers` form-encoded with `amount` in the
 * currency's smallest unit, lowercase `currency`, `destination` (`acct_…`), and
 * `Idempotency-Key: <withdrawal id>` (Stripe replays the first answer for the key, 500s
 * included, and refuses the key with other parameters). The withdrawal id also goes in
 * `transfer_group` and `metadata[withdrawal_id]`, so a query can list the transfer by it.
 *
 * A transfer has no status: once created the money is in the connected account (`paid`);
 * a reversed one is `failed`. 409, 424, 429, 5xx, timeouts and `idempotency_error` are
 * `unknown` (retry with the same key, or query); only the error codes listed as definite
 * (Stripe does not save validation failures, so nothing was created) are `failed`.
 */
import { z } from "zod";
import { type ClientDeps, callWithDeadline, parseJson } from "../client";
import { type PayoutClient, type PayoutOutcome, type PayoutRequest, refusalOutcome } from "../payout";
import { STRIPE_API_VERSION } from "./api";

export interface StripePayoutConfig {
  readonly secretKey: string;
  readonly apiBase?: string;
}

const DEFINITE_REFUSALS = new Set([
  "balance_insufficient",
  "insufficient_funds",
  "amount_too_small",
  "amount_too_large",
  "parameter_missing",
  "parameter_invalid_integer",
  "parameter_invalid_empty",
  "account_invalid",
  "resource_missing",
  "transfers_not_allowed",
]);
const RETRYABLE = new Set([409, 424, 429]);
/** Stripe's idempotency key: ≤ 255 chars. */
const KEY = /^[0-9A-Za-z_-]{1,255}$/;

export const Transfer = z.object({
  id: z.string().startsWith("tr_").max(255),
  object: z.literal("transfer"),
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  amount_reversed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  currency: z.string().length(3),
  destination: z.string().max(255).nullable(),
  reversed: z.boolean(),
  transfer_group: z.string().max(255).nullable().optional(),
  metadata: z.record(z.string(), z.string()),
});
export type Transfer = z.infer<typeof Transfer>;
const TransferList = z.object({ object: z.literal("list"), data: z.array(Transfer).max(10) });
const ErrorBody = z.object({
  error: z.object({ type: z.string().min(1).max(64), code: z.string().max(128).nullable().optional() }),
});

/** The withdrawal a transfer pays: metadata first, then transfer_group. */
export function withdrawalOf(t: Transfer): string | null {
  return t.metadata.withdrawal_id ?? t.transfer_group ?? null;
}

export function stripeTransferOutcome(t: Transfer): PayoutOutcome {
  // A partial reversal leaves a transfer paid in part; any reversal is for an operator to settle.
  if (t.reversed || t.amount_reversed > 0)
    return { state: "failed", providerRef: t.id, reason: t.reversed ? "reversed" : "partially_reversed" };
  return { state: "paid", providerRef: t.id };
}

export function stripePayoutClient(config: StripePayoutConfig, deps: ClientDeps): PayoutClient {
  if (!/^(sk|rk)_(live|test)_[A-Za-z0-9]+$/.test(config.secretKey))
    throw new Error("Stripe secretKey must be a secret (sk_…) or restricted (rk_…) key");
  const apiBase = config.apiBase ?? "https://api.stripe.com";

  async function call<T>(
    method: "GET" | "POST",
    path: string,
    form: URLSearchParams | null,
    key: string | null,
    schema: z.ZodType<T>,
  ): Promise<{ value: T } | PayoutOutcome> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${config.secretKey}`,
      "stripe-version": STRIPE_API_VERSION,
      accept: "application/json",
    };
    if (form) headers["content-type"] = "application/x-www-form-urlencoded";
    if (key) headers["idempotency-key"] = key;
    const init: RequestInit = { method, headers };
    if (form) init.body = form.toString();
    const answer = await callWithDeadline(deps, `${apiBase}${path}`, init);
    if (!answer.ok) return { state: "unknown", detail: answer.failure.detail };
    const { status } = answer.response;
    if (status >= 500 || RETRYABLE.has(status)) return { state: "unknown", detail: `Stripe HTTP ${status}` };
    if (status < 200 || status > 299) {
      const error = parseJson(answer.text, ErrorBody)?.error;
      if (!error) return { state: "unknown", detail: `Stripe HTTP ${status} without an error object` };
      return refusalOutcome(error.code ?? error.type, `Stripe HTTP ${status}`, DEFINITE_REFUSALS);
    }
    const value = parseJson(answer.text, schema);
    return value === null ? { state: "unknown", detail: `Stripe ${path}: unexpected body` } : { value };
  }

  return {
    name: "stripe",

    async pay(request: PayoutRequest): Promise<PayoutOutcome> {
      const refuse = (reason: string): PayoutOutcome => ({ state: "failed", providerRef: null, reason });
      if (!KEY.test(request.withdrawalId)) return refuse("invalid_idempotency_key");
      if (!/^acct_[0-9A-Za-z]+$/.test(request.payee)) return refuse("invalid_destination");
      if (!/^[A-Za-z]{3}$/.test(request.currency)) return refuse("unsupported_currency");
      if (!Number.isSafeInteger(request.amountMinor) || request.amountMinor <= 0) return refuse("amount_out_of_range");
      const form = new URLSearchParams();
      form.set("amount", String(request.amountMinor));
      form.set("currency", request.currency.toLowerCase());
      form.set("destination", request.payee);
      form.set("transfer_group", request.withdrawalId);
      form.set("description", request.remark);
      form.set("metadata[withdrawal_id]", request.withdrawalId);
      const answer = await call("POST", "/v1/transfers", form, request.withdrawalId, Transfer);
      if (!("value" in answer)) return answer;
      if (withdrawalOf(answer.value) !== request.withdrawalId)
        return { state: "unknown", detail: `${answer.value.id} belongs to another withdrawal` };
      return stripeTransferOutcome(answer.value);
    },

    async query(withdrawalId: string): Promise<PayoutOutcome> {
      const path = `/v1/transfers?transfer_group=${encodeURIComponent(withdrawalId)}&limit=10`;
      const answer = await call("GET", path, null, null, TransferList);
      if (!("value" in answer)) return answer;
      const mine = answer.value.data.filter((t) => withdrawalOf(t) === withdrawalId);
      if (mine.length === 0) return { state: "unknown", detail: "no transfer yet: retry with the same key" };
      if (mine.length > 1) return { state: "unknown", detail: `${mine.length} transfers for one withdrawal` };
      return stripeTransferOutcome(mine[0] as Transfer);
    },
  };
}
