/**
 * Paying orders in tests the way the sandbox channel does: its signed callbacks, posted to the
 * callback route like the provider posts them. Shared by the pay-to-tip and pay-to-packet tests.
 */

import { exports } from "cloudflare:workers";
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { BASE, ledger } from "./helpers";

/** The sandbox channel's test merchant (vitest.config.ts binds the same secret). */
export const SANDBOX = { secret: "sandbox-test-secret-0123456789", merchantId: "giftwire-sandbox" };

export type SandboxPaymentEvent = "payment.succeeded" | "payment.failed" | "payment.closed";

/** The sandbox's callback about an order, signed as the sandbox signs it. */
export async function sandboxCallback(
  order: { id: string; amountMinor: number },
  type: SandboxPaymentEvent,
  eventId = `evt_${type.slice("payment.".length)}${order.id.slice(6)}`,
): Promise<Response> {
  const body = JSON.stringify({
    id: eventId,
    type,
    merchant_id: SANDBOX.merchantId,
    order_no: order.id,
    txn_id: `sbx_${order.id.slice(6)}`,
    amount_minor: order.amountMinor,
    currency: "CNY",
  });
  const headers = {
    "content-type": "application/json",
    "sandbox-signature": await signSandbox(SANDBOX.secret, body, Date.now()),
  };
  return exports.default.fetch(`${BASE}/v1/payments/callbacks/sandbox`, { method: "POST", headers, body });
}

/** The sandbox's success callback for an order. */
export function paid(order: { id: string; amountMinor: number }, eventId = `evt_${order.id.slice(6)}`) {
  return sandboxCallback(order, "payment.succeeded", eventId);
}

/** A count over every ledger shard (orders, tips, packets, operations and their outbox rows are in their payer's). */
export async function countInShards(sql: string, ...params: unknown[]): Promise<number> {
  let n = 0;
  for (const shard of (await ledger()).shards) {
    n +=
      (await shard.db
        .prepare(sql)
        .bind(...params)
        .first<number>("n")) ?? 0;
  }
  return n;
}

/** A count in the control database (payment notifications). */
export async function controlCount(sql: string, ...params: unknown[]): Promise<number> {
  return (
    (await (
      await ledger()
    ).control
      .prepare(sql)
      .bind(...params)
      .first<number>("n")) ?? 0
  );
}
