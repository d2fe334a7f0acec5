/** What the channel unit tests share: one instant, and ways to call adapters and clients at it. */

import type { ChannelAdapter, VerifyOutcome } from "../../src/channels/channel";
import type { ClientDeps, Outbound, RefundRequest } from "../../src/channels/client";
import { utf8Bytes } from "../../src/channels/encoding";

export const NOW = Date.UTC(2026, 10, 22, 2, 0, 0); // 10:00:00 in Beijing
export const now = () => NOW;

/** A callback as the adapter receives it, verified at NOW. */
export const call = (
  adapter: ChannelAdapter,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
) => adapter.verify({ headers: new Headers(headers), body: typeof body === "string" ? utf8Bytes(body) : body }, NOW);

export function refused(outcome: VerifyOutcome): string {
  return outcome.ok ? "accepted" : outcome.failure;
}

export function flipByte(body: string, at: number): Uint8Array<ArrayBuffer> {
  const bytes = utf8Bytes(body);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return bytes;
}

export const deps = (fetch: typeof globalThis.fetch, timeoutMs = 2_000): ClientDeps => ({ fetch, now, timeoutMs });

export const order = {
  merchantOrderNo: "ord_01JDQ7Z3K9",
  amountMinor: 1880,
  currency: "CNY",
  description: "giftwire 充值",
  notifyUrl: "https://giftwire.example/payments/callback",
  expiresAtMs: NOW + 15 * 60_000,
};

export const refundOf = (o: Partial<RefundRequest> = {}): RefundRequest => ({
  merchantOrderNo: order.merchantOrderNo,
  providerTxnId: null,
  providerRef: null,
  refundNo: "rfd_01JDQ8A1",
  amountMinor: 880,
  totalMinor: order.amountMinor,
  currency: "CNY",
  reason: "viewer asked for a refund",
  ...o,
});

export function value<T>(outcome: Outbound<T>): T {
  if (!outcome.ok) throw new Error(`expected success, got ${JSON.stringify(outcome.failure)}`);
  return outcome.value;
}

export function failure<T>(outcome: Outbound<T>): { kind: string; code?: string } {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  const f = outcome.failure;
  return f.kind === "rejected" ? { kind: f.kind, code: f.code } : { kind: f.kind };
}
