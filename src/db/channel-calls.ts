/** Outbound channel calls in D1: written after each call, read back as each channel's health. */

import type { ChannelName } from "../channels/channel";
import { type CallSample, channelHealth, HEALTH_RULES, type Health } from "../domain/channel-health";

export async function recordCall(
  db: D1Database,
  channel: ChannelName,
  op: "create" | "query" | "refund",
  ok: boolean,
  detail: string | null,
  nowMs: number,
): Promise<void> {
  await db
    .prepare("INSERT INTO channel_calls (channel, op, ok, detail, at_ms) VALUES (?, ?, ?, ?, ?)")
    .bind(channel, op, ok ? 1 : 0, detail?.slice(0, 300) ?? null, nowMs)
    .run();
}

export async function healthOf(
  db: D1Database,
  channels: readonly ChannelName[],
  nowMs: number,
): Promise<Map<ChannelName, Health>> {
  const health = new Map<ChannelName, Health>();
  if (channels.length === 0) return health;
  const queries = channels.map((c) =>
    db
      .prepare("SELECT ok, at_ms FROM channel_calls WHERE channel = ? AND at_ms > ? ORDER BY at_ms DESC LIMIT ?")
      .bind(c, nowMs - HEALTH_RULES.lookbackMs, HEALTH_RULES.samplesMax),
  );
  const results = await db.batch<{ ok: number; at_ms: number }>(queries);
  channels.forEach((c, i) => {
    const samples: CallSample[] = (results[i]?.results ?? []).map((r) => ({ ok: r.ok === 1, atMs: r.at_ms }));
    health.set(c, channelHealth(samples, nowMs));
  });
  return health;
}

/** Call records are only read for the last seconds; a day is kept for operators. */
export async function purgeChannelCalls(db: D1Database, nowMs: number): Promise<number> {
  const res = await db
    .prepare("DELETE FROM channel_calls WHERE at_ms < ?")
    .bind(nowMs - 24 * 60 * 60 * 1000)
    .run();
  return res.meta.changes;
}
