/**
 * Paying orders in tests the way the channels do: their signed callbacks (the sandbox's, WeChat
 * Pay's), posted to the callback route like the provider posts them. Shared by the payment tests.
 */

import { env, exports } from "cloudflare:workers";
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { base64Bytes } from "../../src/channels/encoding";
import { wechatBody, wechatHeaders, wechatTransaction } from "../support/providers";
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

/** The WeChat Pay test merchant (vitest.config.ts binds the same) and its platform key's serial. */
export const WECHAT = { mchid: "1900000109", appid: "wx-test-app", apiV3Key: "test-apiv3-key-0123456789abcdefg" };
export const WECHAT_SERIAL = "PUB_KEY_ID_0114000000";

let wechatKey: Promise<CryptoKey> | null = null;
/** The WeChat platform's signing key the tests hold (its public half is bound as the platform's). */
function wechatPlatformKey(): Promise<CryptoKey> {
  wechatKey ??= crypto.subtle.importKey(
    "pkcs8",
    base64Bytes(
      (JSON.parse(env.TEST_PROVIDER_KEYS) as Record<string, { privatePkcs8Base64: string }>).wechatPlatform
        ?.privatePkcs8Base64 ?? "",
    ) as Uint8Array<ArrayBuffer>,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return wechatKey;
}

/**
 * A WeChat Pay v3 notification, sealed and signed as WeChat does, posted to the callback route
 * on `origin`. Answers its status and the event id (the stored notification's).
 */
export async function wechatNotify(
  resource: Record<string, unknown>,
  original: "transaction" | "refund",
  origin: string = BASE,
): Promise<{ status: number; eventId: string }> {
  const nowMs = Date.now();
  const eventId = `EV-${crypto.randomUUID()}`;
  const platformKey = await wechatPlatformKey();
  const body = await wechatBody(resource, {
    apiV3Key: WECHAT.apiV3Key,
    platformKey,
    serial: WECHAT_SERIAL,
    nowMs,
    id: eventId,
    ...(original === "refund" ? { originalType: "refund", associatedData: "refund", eventType: "REFUND.SUCCESS" } : {}),
  });
  const headers = await wechatHeaders(body, { platformKey, serial: WECHAT_SERIAL, nowMs });
  const res = await exports.default.fetch(`${origin}/v1/payments/callbacks/wechatpay`, {
    method: "POST",
    headers,
    body,
  });
  return { status: res.status, eventId };
}

/** WeChat's "paid" notification for an order of ours. */
export function wechatPaid(order: { id: string; amountMinor: number }, txnId: string, origin: string = BASE) {
  return wechatNotify(
    wechatTransaction({ ...WECHAT, orderNo: order.id, txnId, amountMinor: order.amountMinor }),
    "transaction",
    origin,
  );
}
