/**
 * The sandbox client against a stand-in for the SANDBOX service binding: what it sends to the
 * provider's merchant API and how it reads each kind of answer. The real provider Worker
 * answers these calls in test/integration/sandbox.test.ts.
 */
import { describe, expect, it } from "vitest";
import { sandboxClient } from "../../../../src/channels/sandbox/api";
import { failure, now, order, refundOf, value } from "../../../support/channels";

const config = { secret: "sandbox-secret-0123456789", merchantId: "giftwire-sandbox" };

interface Sent {
  method: string;
  url: string;
  authorization: string | null;
  body: unknown;
}

/** A binding that answers every call with `answer` and records what it was sent. */
function binding(answer: (signal: AbortSignal | null) => Response | Promise<Response>) {
  const sent: Sent[] = [];
  const fetcher = {
    async fetch(input: RequestInfo | URL, init?: RequestInit) {
      const request = new Request(input, init);
      const text = await request.text();
      sent.push({
        method: request.method,
        url: request.url,
        authorization: request.headers.get("authorization"),
        body: text === "" ? null : JSON.parse(text),
      });
      return answer(init?.signal ?? null);
    },
  } as unknown as Fetcher;
  return { fetcher, sent };
}

const payment = {
  orderNo: order.merchantOrderNo,
  merchantId: "giftwire-sandbox",
  txnId: "sbx_01JZ0000000000000000000000",
  amountMinor: order.amountMinor,
  currency: "CNY",
  state: "open",
};
const payUrl = `http://127.0.0.1:8788/pay?order=${order.merchantOrderNo}&code=${"a".repeat(32)}`;

describe("sandbox client", () => {
  it("opens a payment with the merchant key and hands the payer the provider's link", async () => {
    const { fetcher, sent } = binding(() => Response.json({ payment, payUrl }, { status: 201 }));
    const client = sandboxClient(fetcher, config, { now, timeoutMs: 1_000 });
    expect(value(await client.createPayment(order))).toEqual({
      step: { kind: "sandbox_approval", url: payUrl },
      providerRef: payment.txnId,
    });
    expect(sent).toEqual([
      {
        method: "POST",
        url: "https://sandbox-provider.internal/v1/payments",
        authorization: `Bearer ${config.secret}`,
        body: {
          merchantId: config.merchantId,
          merchantOrderNo: order.merchantOrderNo,
          amountMinor: order.amountMinor,
          currency: order.currency,
          description: order.description,
          notifyUrl: order.notifyUrl,
          expiresAtMs: order.expiresAtMs,
        },
      },
    ]);
  });

  it("reads a 4xx with the provider's code as a refusal, and anything else as unavailable", async () => {
    const refusing = binding(() =>
      Response.json({ error: { code: "order_no_reused", detail: "other details" } }, { status: 409 }),
    );
    const refused = await sandboxClient(refusing.fetcher, config, { now, timeoutMs: 1_000 }).createPayment(order);
    expect(refused).toEqual({
      ok: false,
      failure: { kind: "rejected", code: "order_no_reused", detail: "other details" },
    });
    for (const answer of [
      () => new Response("Worker not found", { status: 503 }),
      () => Response.json({ payment: { orderNo: 1 } }, { status: 201 }),
      () => new Response("<html>", { status: 400 }),
    ]) {
      const { fetcher } = binding(answer);
      expect(
        failure(await sandboxClient(fetcher, config, { now, timeoutMs: 1_000 }).createPayment(order)),
      ).toMatchObject({
        kind: "unavailable",
      });
    }
  });

  it("is unavailable when the provider does not answer within the deadline", async () => {
    // A service binding's fetch, like fetch, ends with the caller's abort signal.
    const { fetcher } = binding(
      (signal) => new Promise<Response>((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))),
    );
    const outcome = await sandboxClient(fetcher, config, { now, timeoutMs: 50 }).queryPayment(
      order.merchantOrderNo,
      null,
    );
    expect(outcome).toEqual({
      ok: false,
      failure: { kind: "unavailable", detail: "sandbox query: timed out after 50 ms" },
    });
  });

  it("answers a query unknown for a payment the provider never opened, open while the payer decides", async () => {
    const unknown = binding(() =>
      Response.json({ error: { code: "unknown_payment", detail: "none" } }, { status: 404 }),
    );
    const client = sandboxClient(unknown.fetcher, config, { now, timeoutMs: 1_000 });
    expect(await client.queryPayment(order.merchantOrderNo, null)).toEqual({ ok: true, value: { state: "unknown" } });
    expect(unknown.sent[0]?.url).toBe(`https://sandbox-provider.internal/v1/payments/${order.merchantOrderNo}`);
    const open = binding(() => Response.json({ payment }));
    expect(
      await sandboxClient(open.fetcher, config, { now, timeoutMs: 1_000 }).queryPayment(order.merchantOrderNo, null),
    ).toEqual({ ok: true, value: { state: "open" } });
  });

  it("refunds with the original total and downloads the statement as the provider wrote it", async () => {
    const refunds = binding(() =>
      Response.json({ refund: { refundId: "sbr_01JZ0000000000000000000000", amountMinor: 500, status: "succeeded" } }),
    );
    const client = sandboxClient(refunds.fetcher, config, { now, timeoutMs: 1_000 });
    expect(value(await client.refund(refundOf({ amountMinor: 500 })))).toEqual({
      providerRefundId: "sbr_01JZ0000000000000000000000",
      status: "succeeded",
    });
    expect(refunds.sent[0]?.body).toMatchObject({ amountMinor: 500, totalMinor: refundOf().totalMinor });
    const csv =
      "occurred_at,type,order_no,txn_id,refund_id,amount,currency,status\n# total_count=0,total_amount=0.00\n";
    const statements = binding(() => new Response(csv, { headers: { "content-type": "text/csv" } }));
    const downloaded = await sandboxClient(statements.fetcher, config, { now, timeoutMs: 1_000 }).downloadStatement(
      "2026-12-01",
    );
    expect(downloaded).toEqual({ ok: true, value: csv });
    expect(statements.sent[0]?.url).toBe("https://sandbox-provider.internal/v1/statements/2026-12-01");
  });
});
