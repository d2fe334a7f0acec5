/**
 * The sandbox channel's payout client: the simulator's payouts (dev/sandbox-provider/src/
 * payouts.ts) over the `SANDBOX` service binding, with the merchant's API key. The payout
 * number is the withdrawal's channel number; the simulator answers the same number with the
 * same payout, so a retry after an unknown answer sends the identical request again.
 *
 * Answers: `processing` → accepted, `succeeded` → paid, `failed` → failed. A refusal of the
 * request itself (`invalid_request`: nothing was created) is a definite failure; any other
 * refusal (`payout_no_reused`, a code we do not know) and every transport failure is unknown.
 * A query for a number the simulator never received is unknown: send it again, same number.
 */
import { z } from "zod";
import { LIMITS } from "../../domain/limits";
import { type ClientDeps, callWithDeadline, parseJson } from "../client";
import { type PayoutClient, type PayoutOutcome, type PayoutRequest, refusalOutcome, WITHDRAWAL_ID } from "../payout";

const BASE = "https://sandbox-provider.internal";

const Payout = z.object({
  payoutNo: z.string().min(1).max(32),
  payoutId: z.string().min(1).max(64),
  amountMinor: z.number().int().positive().max(LIMITS.amountMaxMinor),
  state: z.enum(["processing", "succeeded", "failed"]),
  failReason: z.string().max(64).nullable(),
});
const Answer = z.object({ payout: Payout });
const Refusal = z.object({ error: z.object({ code: z.string().min(1).max(64), detail: z.string().max(2000) }) });

/** Refusals after which nothing exists at the simulator: a new number may follow. */
const DEFINITE_REFUSALS: ReadonlySet<string> = new Set(["invalid_request"]);

function outcomeOf(payout: z.infer<typeof Payout>): PayoutOutcome {
  switch (payout.state) {
    case "processing":
      return { state: "accepted", providerRef: payout.payoutId };
    case "succeeded":
      return { state: "paid", providerRef: payout.payoutId };
    case "failed":
      return { state: "failed", providerRef: payout.payoutId, reason: payout.failReason ?? "failed" };
  }
}

export function sandboxPayoutClient(
  binding: Fetcher,
  config: { readonly secret: string; readonly merchantId: string },
  deps: Omit<ClientDeps, "fetch">,
): PayoutClient {
  const call = { ...deps, fetch: ((input, init) => binding.fetch(input, init)) as typeof fetch };

  async function send(what: string, path: string, init: RequestInit, number: string): Promise<PayoutOutcome> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${config.secret}`);
    const answer = await callWithDeadline(call, `${BASE}${path}`, { ...init, headers });
    if (!answer.ok) return { state: "unknown", detail: `sandbox payout ${what}: ${answer.failure.detail}` };
    const { response, text } = answer;
    if (response.status >= 200 && response.status < 300) {
      const body = parseJson(text, Answer);
      if (body === null || body.payout.payoutNo !== number)
        return { state: "unknown", detail: `sandbox payout ${what}: an answer of another shape` };
      return outcomeOf(body.payout);
    }
    const refusal = response.status >= 400 && response.status < 500 ? parseJson(text, Refusal) : null;
    if (!refusal) return { state: "unknown", detail: `sandbox payout ${what}: HTTP ${response.status}` };
    return refusalOutcome(refusal.error.code, refusal.error.detail, what === "pay" ? DEFINITE_REFUSALS : new Set());
  }

  return {
    name: "sandbox",

    async pay(request: PayoutRequest): Promise<PayoutOutcome> {
      if (!WITHDRAWAL_ID.test(request.withdrawalId)) {
        return { state: "failed", providerRef: null, reason: "invalid_payout_no" };
      }
      return send(
        "pay",
        "/v1/payouts",
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            merchantId: config.merchantId,
            payoutNo: request.withdrawalId,
            amountMinor: request.amountMinor,
            currency: request.currency,
            payee: request.payee,
            remark: request.remark.slice(0, 64),
          }),
        },
        request.withdrawalId,
      );
    },

    async query(withdrawalId: string): Promise<PayoutOutcome> {
      return send("query", `/v1/payouts/${encodeURIComponent(withdrawalId)}`, { method: "GET" }, withdrawalId);
    },
  };
}
