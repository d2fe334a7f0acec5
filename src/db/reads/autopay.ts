import type { AutopayLimits } from "../../domain/autopay";
import { localDayStartMs } from "../../domain/room/periods";
import type { AutopayCheck } from "../operations/tip";

/**
 * 小额免密: a payer's password-free limits for wallet tips (domain/autopay.ts) and what they
 * spent today. Users who have not chosen get the platform's defaults.
 */
export interface AutopayState {
  readonly limits: AutopayLimits;
  readonly custom: boolean;
  readonly spentTodayMinor: number;
  readonly dayStartMs: number;
}

export async function autopayFor(
  db: D1Database,
  defaults: AutopayLimits,
  timeZone: string,
  userId: string,
  nowMs: number,
): Promise<AutopayState> {
  const dayStartMs = localDayStartMs(nowMs, timeZone);
  const [settings, spent] = await db.batch([
    db.prepare("SELECT per_tip_max_minor, per_day_max_minor FROM autopay_settings WHERE user_id = ?").bind(userId),
    db
      .prepare(
        `SELECT (SELECT COALESCE(SUM(amount_minor), 0) FROM tips WHERE viewer_id = ?1 AND created_at_ms >= ?2)
              + (SELECT COALESCE(SUM(amount_minor), 0) FROM entitlements WHERE user_id = ?1 AND created_at_ms >= ?2) AS spent`,
      )
      .bind(userId, dayStartMs),
  ]);
  const row = settings?.results[0] as { per_tip_max_minor: number; per_day_max_minor: number } | undefined;
  const limits = row ? { perTipMaxMinor: row.per_tip_max_minor, perDayMaxMinor: row.per_day_max_minor } : defaults;
  const spentTodayMinor = (spent?.results[0] as { spent: number } | undefined)?.spent ?? 0;
  return { limits, custom: row !== undefined, spentTodayMinor, dayStartMs };
}

/**
 * What a wallet tip's 小额免密 guards need: the payer's limits and where their day began. One
 * read of their settings; the day's total is summed by the guard itself, inside the tip's batch.
 */
export async function autopayCheckFor(
  db: D1Database,
  config: { readonly autopayDefaults: AutopayLimits; readonly businessTimeZone: string },
  userId: string,
  nowMs: number,
): Promise<AutopayCheck> {
  const row = await db
    .prepare("SELECT per_tip_max_minor, per_day_max_minor FROM autopay_settings WHERE user_id = ?")
    .bind(userId)
    .first<{ per_tip_max_minor: number; per_day_max_minor: number }>();
  return {
    limits: row
      ? { perTipMaxMinor: row.per_tip_max_minor, perDayMaxMinor: row.per_day_max_minor }
      : config.autopayDefaults,
    dayStartMs: localDayStartMs(nowMs, config.businessTimeZone),
  };
}
