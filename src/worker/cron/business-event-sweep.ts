/**
 * The business-event sweeper (issue 19 item 3): nothing lost between a fact's commit and its
 * event's send. Every minute, for each ledger shard, it walks the `operations` that are business
 * facts (db/business-events.ts `OPERATION_FACTS`: orders paid, refunds, tip reversals, packets
 * exhausted or refunded, withdrawals paid, tips on content items) in (created_at_ms, id) order from its cursor, up to
 * `BUSINESS_EVENT_SWEEP_LAG_MS` ago, reads their events and sends again those the consumer never
 * took (`business_events`) — same ids, so a consumer that did take one skips it. The cursor moves
 * only past operations whose events were sent. A shard's first sweep starts
 * `BUSINESS_EVENT_SWEEP_FIRST_LOOKBACK_MS` back.
 *
 * The lag covers a batch committed with a `created_at_ms` a little in the past (its isolate's
 * clock when it was composed): it must commit within the lag to be seen. Tips in rooms and packets sent
 * are not walked here: their events come from the room outbox, whose own sweeper redelivers.
 *
 * It also drops `business_events` rows past `BUSINESS_EVENTS_RETENTION_MS` (far longer than any
 * redelivery: a duplicate that old is not expected).
 */

import {
  OPERATION_FACT_KINDS,
  OPERATION_FACT_WHERE,
  publishBusinessEvents,
  readOperationEvents,
  untakenEventIds,
} from "../../db/business-events";
import { openLedger } from "../../db/shards";
import type { Logger } from "../../platform/logger";

export const BUSINESS_EVENT_SWEEP_LAG_MS = 60_000;
export const BUSINESS_EVENT_SWEEP_FIRST_LOOKBACK_MS = 60 * 60_000;
/** Operations read per shard per sweep; a backlog drains over the next minutes. */
export const BUSINESS_EVENT_SWEEP_BATCH = 500;
export const BUSINESS_EVENTS_RETENTION_MS = 7 * 24 * 60 * 60_000;
const PURGE_BATCH = 5_000;

export interface SweepFigures {
  readonly operations: number;
  readonly resent: number;
}

export async function sweepBusinessEvents(env: Env, nowMs: number, log: Logger): Promise<SweepFigures> {
  const ledger = await openLedger(env, nowMs);
  let operations = 0;
  let resent = 0;
  for (const shard of ledger.shards) {
    const source = `ledger:${shard.index}`;
    const cursor = (await env.CONTROL.prepare("SELECT at_ms, last_id FROM business_event_cursors WHERE source = ?")
      .bind(source)
      .first<{ at_ms: number; last_id: string }>()) ?? {
      at_ms: nowMs - BUSINESS_EVENT_SWEEP_FIRST_LOOKBACK_MS,
      last_id: "",
    };
    const { results } = await shard.db
      .prepare(
        `SELECT id, kind, created_at_ms FROM operations
         WHERE kind IN (SELECT value FROM json_each(?)) AND ${OPERATION_FACT_WHERE}
           AND (created_at_ms > ? OR (created_at_ms = ? AND id > ?)) AND created_at_ms <= ?
         ORDER BY created_at_ms, id LIMIT ?`,
      )
      .bind(
        JSON.stringify(OPERATION_FACT_KINDS),
        cursor.at_ms,
        cursor.at_ms,
        cursor.last_id,
        nowMs - BUSINESS_EVENT_SWEEP_LAG_MS,
        BUSINESS_EVENT_SWEEP_BATCH,
      )
      .all<{ id: string; kind: string; created_at_ms: number }>();
    const last = results.at(-1);
    if (last === undefined) {
      await saveCursor(env.CONTROL, source, cursor.at_ms, cursor.last_id, nowMs);
      continue;
    }
    const events = await readOperationEvents(shard.db, results);
    const untaken = await untakenEventIds(
      env.CONTROL,
      events.map((e) => e.id),
    );
    const lost = events.filter((e) => untaken.has(e.id));
    // Throws when the queue refuses: the cursor stays, and the next sweep tries again.
    await publishBusinessEvents(env.BUSINESS_EVENTS, lost);
    if (lost.length > 0) {
      log.warn("business_events_resent", {
        shard: shard.index,
        events: lost.length,
        ids: lost.slice(0, 10).map((e) => e.id),
      });
    }
    await saveCursor(env.CONTROL, source, last.created_at_ms, last.id, nowMs);
    operations += results.length;
    resent += lost.length;
  }
  await env.CONTROL.prepare(
    `DELETE FROM business_events WHERE id IN (
       SELECT id FROM business_events WHERE received_at_ms < ? ORDER BY received_at_ms LIMIT ?)`,
  )
    .bind(nowMs - BUSINESS_EVENTS_RETENTION_MS, PURGE_BATCH)
    .run();
  return { operations, resent };
}

async function saveCursor(control: D1Database, source: string, atMs: number, lastId: string, nowMs: number) {
  await control
    .prepare(
      `INSERT INTO business_event_cursors (source, at_ms, last_id, updated_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET at_ms = excluded.at_ms, last_id = excluded.last_id,
         updated_at_ms = excluded.updated_at_ms`,
    )
    .bind(source, atMs, lastId, nowMs)
    .run();
}
