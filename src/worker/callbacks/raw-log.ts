/**
 * The raw log of provider callbacks (control `payment_notifications`), shared by the payment
 * and payout callback routes: every refused callback, and every verified provider event once
 * (by channel and event id), byte for byte with the headers signatures and disputes need, kept
 * `PAYMENT_NOTIFICATION_RETENTION_DAYS`.
 */

import { bytesBase64 } from "../../channels/encoding";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { configFrom } from "../../platform/config";

/** Headers kept with a raw notification: the ones signatures and disputes need. */
const KEPT_HEADERS = /^(content-type|wechatpay-.*|stripe-signature|sandbox-signature|user-agent|request-id)$/;

export interface RawCallbackRecord {
  /** The channel as stored (`wechatpay`, or `payout:wechatpay` for a payout callback). */
  readonly channel: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly nowMs: number;
  /** The provider's event id when verified; null when refused. */
  readonly eventId: string | null;
  /** Why it was refused (`failure: detail`); null when verified. */
  readonly refusal: string | null;
  /** Stored as already applied with this outcome (a verified event nothing waits for). */
  readonly appliedOutcome?: string | null;
}

/** The row's insert; a verified event already stored is left as it is (its first delivery's row). */
export function rawCallbackInsert(env: Env, r: RawCallbackRecord): { id: string; statement: D1PreparedStatement } {
  const kept: Record<string, string> = {};
  for (const [k, v] of r.headers) {
    if (KEPT_HEADERS.test(k) && Object.keys(kept).length < LIMITS.callbackHeadersMax) kept[k] = v.slice(0, 1024);
  }
  const id = newId("ntf", r.nowMs);
  const applied = r.appliedOutcome ?? null;
  const statement = env.CONTROL.prepare(
    `INSERT INTO payment_notifications (id, channel, event_id, verified, refusal, headers, body_base64, outcome,
       received_at_ms, applied_at_ms, retain_until_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (channel, event_id) WHERE verified = 1 DO NOTHING`,
  ).bind(
    id,
    r.channel,
    r.eventId,
    r.refusal === null ? 1 : 0,
    r.refusal === null ? null : r.refusal.slice(0, 500),
    JSON.stringify(kept),
    bytesBase64(r.body),
    applied === null ? null : applied.slice(0, 500),
    r.nowMs,
    applied === null ? null : r.nowMs,
    r.nowMs + configFrom(env).paymentNotificationRetentionMs,
  );
  return { id, statement };
}

/**
 * Stores a verified event (once) and reads back its row: this delivery's, or the first one's.
 * `applied_at_ms` null means it still has to be enqueued (again, under that row's id).
 */
export async function storeVerifiedCallback(
  env: Env,
  insert: D1PreparedStatement,
  channel: string,
  eventId: string,
): Promise<{ id: string; applied_at_ms: number | null }> {
  const [, found] = await env.CONTROL.batch([
    insert,
    env.CONTROL.prepare(
      "SELECT id, applied_at_ms FROM payment_notifications WHERE channel = ? AND event_id = ? AND verified = 1",
    ).bind(channel, eventId),
  ]);
  const stored = found?.results[0] as { id: string; applied_at_ms: number | null } | undefined;
  if (!stored) throw new Error("the notification is not stored after its insert");
  return stored;
}
