/**
 * State machines that stopped moving, each a finding with a stable kind:
 *
 * - `order_pending_stuck` (per channel, value = orders): payment orders still `created` or
 *   `pending` LIMITS.orderPendingStuckMs past their expiry — the sweeper's queries gave up or
 *   keep failing.
 * - `payout_stuck` (per withdrawal): `paying` longer than LIMITS.withdrawalPayingStuckMs with no
 *   final answer (the payout sweeper flags these too; this keeps them visible until they clear).
 * - `packet_refund_overdue` (per packet): open past its expiry by LIMITS.packetRefundOverdueMs,
 *   so neither its room's alarm nor the every-minute sweep refunded it.
 * - `transit_undelivered` (per origin>destination shard pair, value = rows) and
 *   `room_event_undelivered` (per database, value = rows): outbox rows undelivered for
 *   LIMITS.outboxUndeliveredAlertMs although their sweeps redeliver after 30 s.
 *
 * Dead-letter queue depth is not measurable from inside a Worker (no binding reads a queue's
 * backlog; the Cloudflare API's queue analytics need an account token). What lands in a DLQ
 * leaves its trace here instead: each queue's work is backed by one of the rows above (an
 * order, a withdrawal, a packet's credits, an outbox row), so a message that died shows up as
 * its row stuck.
 *
 * Each kind reads at most LIMITS.stuckRowsReadMax rows per shard, oldest first.
 */

import { openLedger } from "../../db/shards";
import type { CheckFinding } from "../../domain/alerts";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

const MAX = LIMITS.stuckRowsReadMax;

export async function checkStuck(
  env: Env,
  nowMs: number,
  _log: Logger,
): Promise<{ findings: CheckFinding[]; figures: Record<string, unknown> }> {
  const ledger = await openLedger(env);
  const findings: CheckFinding[] = [];
  const ordersByChannel = new Map<string, number>();
  const transit = new Map<string, number>();
  const roomEvents = new Map<string, number>();
  const outboxBefore = nowMs - LIMITS.outboxUndeliveredAlertMs;
  for (const shard of ledger.shards) {
    const { db } = shard;
    const [orders, payouts, packets, outbox, events] = await db.batch<Record<string, unknown>>([
      db
        .prepare(
          `SELECT channel, COUNT(*) AS n FROM (SELECT channel FROM payment_orders
             WHERE state IN ('created', 'pending') AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?)
           GROUP BY channel`,
        )
        .bind(nowMs - LIMITS.orderPendingStuckMs, MAX),
      db
        .prepare(
          `SELECT id, channel, paying_since_ms FROM withdrawals WHERE state = 'paying' AND paying_since_ms <= ?
           ORDER BY paying_since_ms LIMIT ?`,
        )
        .bind(nowMs - LIMITS.withdrawalPayingStuckMs, MAX),
      db
        .prepare(
          `SELECT id, room_id, expires_at_ms FROM red_packets WHERE status = 'open' AND expires_at_ms <= ?
           ORDER BY expires_at_ms LIMIT ?`,
        )
        .bind(nowMs - LIMITS.packetRefundOverdueMs, MAX),
      db
        .prepare(
          `SELECT destination_shard AS dest, COUNT(*) AS n FROM (SELECT destination_shard FROM transit_outbox
             WHERE delivered_at_ms IS NULL AND created_at_ms <= ? ORDER BY created_at_ms LIMIT ?)
           GROUP BY destination_shard`,
        )
        .bind(outboxBefore, MAX),
      db
        .prepare(
          `SELECT COUNT(*) AS n FROM (SELECT 1 FROM room_outbox
             WHERE delivered_at_ms IS NULL AND created_at_ms <= ? LIMIT ?)`,
        )
        .bind(outboxBefore, MAX),
    ]);
    for (const r of (orders?.results ?? []) as { channel: string; n: number }[]) {
      ordersByChannel.set(r.channel, (ordersByChannel.get(r.channel) ?? 0) + r.n);
    }
    for (const r of (payouts?.results ?? []) as { id: string; channel: string; paying_since_ms: number }[]) {
      findings.push({
        kind: "payout_stuck",
        severity: "critical",
        subject: r.id,
        value: 1,
        detail: `${r.channel} payout paying since ${new Date(r.paying_since_ms).toISOString()} (shard ${shard.index})`,
      });
    }
    for (const r of (packets?.results ?? []) as { id: string; room_id: string; expires_at_ms: number }[]) {
      findings.push({
        kind: "packet_refund_overdue",
        severity: "critical",
        subject: r.id,
        value: 1,
        detail: `room ${r.room_id}, expired ${new Date(r.expires_at_ms).toISOString()}, still open (shard ${shard.index})`,
      });
    }
    for (const r of (outbox?.results ?? []) as { dest: number; n: number }[]) {
      transit.set(`${shard.index}>${r.dest}`, r.n);
    }
    const n = ((events?.results ?? []) as { n: number }[])[0]?.n ?? 0;
    if (n > 0) roomEvents.set(`shard ${shard.index}`, n);
  }
  const control = await ledger.control
    .prepare(
      "SELECT COUNT(*) AS n FROM (SELECT 1 FROM room_outbox WHERE delivered_at_ms IS NULL AND created_at_ms <= ? LIMIT ?)",
    )
    .bind(outboxBefore, MAX)
    .first<{ n: number }>();
  if ((control?.n ?? 0) > 0) roomEvents.set("control", control?.n ?? 0);

  for (const [channel, n] of ordersByChannel) {
    findings.push({
      kind: "order_pending_stuck",
      severity: "warning",
      subject: channel,
      value: n,
      detail: `${n} order(s) still open an hour or more past expiry`,
    });
  }
  for (const [pair, n] of transit) {
    findings.push({
      kind: "transit_undelivered",
      severity: "critical",
      subject: pair,
      value: n,
      detail: `${n} cross-shard credit(s) undelivered for 10 min or more`,
    });
  }
  for (const [where, n] of roomEvents) {
    findings.push({
      kind: "room_event_undelivered",
      severity: "warning",
      subject: where,
      value: n,
      detail: `${n} room event(s) undelivered for 10 min or more`,
    });
  }
  return {
    findings,
    figures: { shards: ledger.shards.length, deadLetterDepth: "not measurable in a Worker; see stuck rows" },
  };
}
