/**
 * Revenue share schedules (阶梯分成) in the control database: versioned, each with an
 * effective-from instant, never edited or deleted (a later version supersedes). The domain
 * rules are domain/revenue-tiers.ts; the room prices tips by them (live-room.tiers.ts).
 */

import { z } from "zod";
import type { AuditAction } from "../domain/audit-chain";
import { LIMITS } from "../domain/limits";
import type { RevenueTier, TierSchedule } from "../domain/revenue-tiers";
import { batchWithAuditEntry } from "./audit";

export interface ScheduleRow {
  version: number;
  effective_from_ms: number;
  tiers: string;
  note: string | null;
  created_by: string;
  created_at_ms: number;
}

const StoredTiers = z.array(
  z.strictObject({ fromGrossMinor: z.number().int().nonnegative(), platformBps: z.number().int().nonnegative() }),
);

export function scheduleOf(row: ScheduleRow): TierSchedule {
  const tiers: RevenueTier[] = StoredTiers.parse(JSON.parse(row.tiers));
  return { version: row.version, effectiveFromMs: row.effective_from_ms, tiers };
}

export function schedulesFrom(rows: readonly ScheduleRow[]): TierSchedule[] {
  return rows.map(scheduleOf);
}

/**
 * The schedules a tip at `nowMs` may be priced by: the one in force, and those taking effect
 * within `revenueScheduleLeadMs` (one indexed lookup; usually zero or one row).
 */
export function schedulesStatement(control: D1Database, nowMs: number): D1PreparedStatement {
  return control
    .prepare(
      `SELECT version, effective_from_ms, tiers FROM revenue_schedules
       WHERE effective_from_ms <= ?2 AND (effective_from_ms > ?1 OR version = (
         SELECT version FROM revenue_schedules WHERE effective_from_ms <= ?1
         ORDER BY effective_from_ms DESC, version DESC LIMIT 1))
       ORDER BY effective_from_ms DESC, version DESC LIMIT ?3`,
    )
    .bind(nowMs, nowMs + LIMITS.revenueScheduleLeadMs, LIMITS.revenueSchedulesReadMax);
}

/** Every schedule, newest version first (operators' list). */
export async function listSchedules(control: D1Database, limit: number): Promise<ScheduleRow[]> {
  const { results } = await control
    .prepare("SELECT * FROM revenue_schedules ORDER BY version DESC LIMIT ?")
    .bind(limit)
    .all<ScheduleRow>();
  return results;
}

/**
 * Stores a schedule as the next version, assigned atomically by the one INSERT (concurrent
 * creators get distinct versions). Refused (null) when its effective-from is sooner than
 * `revenueScheduleLeadMs` after the database's own clock at the insert: never retroactive.
 */
export async function insertSchedule(
  control: D1Database,
  input: {
    readonly tiers: readonly RevenueTier[];
    readonly effectiveFromMs: number;
    readonly note: string | null;
    readonly createdBy: string;
    readonly nowMs: number;
  },
  audit?: AuditAction,
): Promise<ScheduleRow | null> {
  const insert = control
    .prepare(
      `INSERT INTO revenue_schedules (version, effective_from_ms, tiers, note, created_by, created_at_ms)
       SELECT (SELECT COALESCE(MAX(version), 0) + 1 FROM revenue_schedules), ?1, ?2, ?3, ?4, ?5
       WHERE ?1 >= MAX(?5, (julianday('now') - 2440587.5) * 86400000.0) + ?6
       RETURNING *`,
    )
    .bind(
      input.effectiveFromMs,
      JSON.stringify(input.tiers),
      input.note,
      input.createdBy,
      input.nowMs,
      LIMITS.revenueScheduleLeadMs,
    );
  // An operator's schedule carries its audit entry, appended only if the schedule was stored.
  const [inserted] = audit === undefined ? [await insert.all()] : await batchWithAuditEntry(control, audit, [insert]);
  return (inserted?.results[0] as ScheduleRow | undefined) ?? null;
}
