/** Stripe Connect transfers and transfer/payout events; signatures made by node:crypto. */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { utf8Bytes } from "../../../../src/channels/encoding";
import type { PayoutRequest } from "../../../../src/channels/payout";
import { STRIPE_API_VERSION } from "../../../../src/channels/stripe/api";
import { stripePayoutClient } from "../../../../src/channels/stripe/payout";
import { stripePayoutWebhook } from "../../../../src/channels/stripe/payout-webhook";
import { deps, NOW } from "../../../support/channels";

const secretKey = "sk_test_51Abc";

const transfer = (o: Record<string, unknown> = {}) => ({
  id: "tr_1QxYz",
  object: "transfer",
  amount: 1234,
  amount_reversed: 0,
  balance_transaction: "txn_1",
  created: NOW / 1000,
  currency: "usd",
  destination: "acct_1Creator",
  destination_payment: "py_1",
  livemode: false,
  reversed: false,
  source_transaction: null,
  transfer_group: "wd01JDQ7Z3K9",
  metadata: { withdrawal_id: "wd01JDQ7Z3K9" },
  ...o,
});

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}
function api(reply: (s: Seen) => { status: number; body: unknown }) {
  const seen: Seen[] = [];
  const fetch = (async (input: string, init: RequestInit) => {
    const s = {
      url: input,
      method: init.method ?? "GET",
      headers: new Headers(init.headers),
      body: (init.body as string) ?? "",
    };
    seen.push(s);
    const r = reply(s);
    return new Response(JSON.stringify(r.body), { status: r.status });
  }) as typeof globalThis.fetch;
  return { fetch, seen };
}

const request = (o: Partial<PayoutRequest> = {}): PayoutRequest => ({
  withdrawalId: "wd01JDQ7Z3K9",
  amountMinor: 1234,
  currency: "USD",
  payee: "acct_1Creator",
  payeeName: null,
  remark: "giftwire withdrawal",
  ...o,
});

describe("Stripe transfers client", () => {
  it("POSTs /v1/transfers form-encoded with Idempotency-Key = withdrawal id and the amount in cents", async () => {
    const a = api(() => ({ status: 200, body: transfer() }));
    expect(await stripePayoutClient({ secretKey }, deps(a.fetch)).pay(request())).toEqual({
      state: "paid",
      providerRef: "tr_1QxYz",
    });
    const s = a.seen[0] as Seen;
    expect(s.url).toBe("https://api.stripe.com/v1/transfers");
    expect(s.method).toBe("POST");
    expect(s.headers.get("idempotency-key")).toBe("wd01JDQ7Z3K9");
    expect(s.headers.get("authorization")).toBe(`Bearer ${secretKey}`);
    expect(s.headers.get("stripe-version")).toBe(STRIPE_API_VERSION);
    expect(s.headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    expect(s.body).toBe(
      "amount=1234&currency=usd&destination=acct_1Creator&transfer_group=wd01JDQ7Z3K9&description=giftwire+withdrawal&metadata%5Bwithdrawal_id%5D=wd01JDQ7Z3K9",
    );
  });

  it("500, 409, 429, timeouts, idempotency_error and unknown codes are unknown; insufficient funds is failed", async () => {
    const cases: [number, unknown, string][] = [
      [500, { error: { type: "api_error" } }, "unknown"],
      [409, { error: { type: "idempotency_error" } }, "unknown"],
      [429, { error: { type: "rate_limit_error" } }, "unknown"],
      [400, { error: { type: "idempotency_error", code: null } }, "unknown"],
      [400, { error: { type: "invalid_request_error", code: "something_new" } }, "unknown"],
      [400, { error: { type: "invalid_request_error", code: "balance_insufficient" } }, "failed"],
      [200, transfer({ metadata: { withdrawal_id: "other" }, transfer_group: "other" }), "unknown"],
      [200, transfer({ reversed: true, amount_reversed: 1234 }), "failed"],
    ];
    for (const [status, body, state] of cases) {
      const a = api(() => ({ status, body }));
      expect((await stripePayoutClient({ secretKey }, deps(a.fetch)).pay(request())).state).toBe(state);
    }
    const hang = ((_: string, init: RequestInit) =>
      new Promise((_r, reject) =>
        init.signal?.addEventListener("abort", () => reject(new Error("aborted"))),
      )) as unknown as typeof fetch;
    expect((await stripePayoutClient({ secretKey }, deps(hang, 20)).pay(request())).state).toBe("unknown");
  });

  it("refuses before calling a destination that is not acct_…", async () => {
    const a = api(() => ({ status: 200, body: transfer() }));
    expect(await stripePayoutClient({ secretKey }, deps(a.fetch)).pay(request({ payee: "cus_1" }))).toMatchObject({
      state: "failed",
      reason: "invalid_destination",
    });
    expect(a.seen).toHaveLength(0);
  });

  it("queries by transfer_group: found is paid, none is unknown (retry with the same key)", async () => {
    const found = api(() => ({ status: 200, body: { object: "list", data: [transfer()], has_more: false } }));
    expect(await stripePayoutClient({ secretKey }, deps(found.fetch)).query("wd01JDQ7Z3K9")).toEqual({
      state: "paid",
      providerRef: "tr_1QxYz",
    });
    expect(found.seen[0]?.url).toBe("https://api.stripe.com/v1/transfers?transfer_group=wd01JDQ7Z3K9&limit=10");
    const none = api(() => ({ status: 200, body: { object: "list", data: [], has_more: false } }));
    expect((await stripePayoutClient({ secretKey }, deps(none.fetch)).query("wd01JDQ7Z3K9")).state).toBe("unknown");
  });
});

const whsec = "whsec_test_secret";
function signed(event: object, o: { secret?: string; t?: number } = {}) {
  const body = JSON.stringify(event);
  const t = o.t ?? NOW / 1000;
  const v1 = createHmac("sha256", o.secret ?? whsec)
    .update(`${t}.${body}`)
    .digest("hex");
  return { body, headers: { "stripe-signature": `t=${t},v1=${v1}` } };
}
const event = (type: string, object: object, o: Record<string, unknown> = {}) => ({
  id: "evt_1",
  object: "event",
  type,
  livemode: false,
  data: { object },
  ...o,
});

describe("Stripe transfer and payout events", () => {
  const hook = stripePayoutWebhook({ webhookSecrets: [whsec], livemode: false });
  const verify = (s: { body: string; headers: Record<string, string> }) =>
    hook.verify({ headers: new Headers(s.headers), body: utf8Bytes(s.body) }, NOW);
  const code = async (s: { body: string; headers: Record<string, string> }) => {
    const o = await verify(s);
    return o.ok ? "accepted" : o.failure;
  };

  it("maps transfer.created to paid and transfer.reversed to failed, by metadata.withdrawal_id", async () => {
    expect(await verify(signed(event("transfer.created", transfer())))).toEqual({
      ok: true,
      notification: {
        channel: "stripe",
        eventId: "evt_1",
        withdrawalId: "wd01JDQ7Z3K9",
        outcome: { state: "paid", providerRef: "tr_1QxYz" },
        amountMinor: 1234,
      },
    });
    const reversed = await verify(
      signed(event("transfer.reversed", transfer({ reversed: true, amount_reversed: 1234 }))),
    );
    expect(reversed.ok && reversed.notification?.outcome).toMatchObject({ state: "failed", reason: "reversed" });
  });

  it("maps Connect payout.failed with its failure_code when it names a withdrawal; ignores others", async () => {
    const po = {
      id: "po_1",
      amount: 1234,
      failure_code: "account_closed",
      metadata: { withdrawal_id: "wd01JDQ7Z3K9" },
    };
    const failed = await verify(signed(event("payout.failed", po, { account: "acct_1Creator" })));
    expect(failed.ok && failed.notification?.outcome).toMatchObject({ state: "failed", reason: "account_closed" });
    const plain = await verify(signed(event("payout.paid", { ...po, metadata: {} })));
    expect(plain).toMatchObject({ ok: true, notification: null });
    expect(await verify(signed(event("charge.succeeded", {})))).toMatchObject({ ok: true, notification: null });
  });

  it("refuses tampering with stable codes", async () => {
    const good = signed(event("transfer.created", transfer()));
    expect(await code({ ...good, body: good.body.replace("1234", "9234") })).toBe("bad_signature");
    expect(await code(signed(event("transfer.created", transfer()), { secret: "whsec_other" }))).toBe("bad_signature");
    expect(await code(signed(event("transfer.created", transfer()), { t: NOW / 1000 - 301 }))).toBe("stale_timestamp");
    expect(await code({ ...good, headers: {} })).toBe("missing_signature");
    expect(await code(signed(event("transfer.created", transfer(), { livemode: true })))).toBe("malformed");
  });
});
