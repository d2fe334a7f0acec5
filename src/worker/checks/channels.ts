/**
 * Payment channels, every minute: `channel_unhealthy` (critical) for a channel its recent
 * calls tripped (domain/channel-health.ts: new orders fail over away from it), and
 * `channel_error_rate` (warning; value = % of calls failed) over the last
 * LIMITS.channelErrorRateWindowMs once a channel made LIMITS.channelErrorRateMinCalls calls.
 * Rules put the threshold on the rate.
 */

import { CHANNELS } from "../../channels/channel";
import { healthOf } from "../../db/channel-calls";
import type { CheckFinding } from "../../domain/alerts";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

export async function checkChannels(
  env: Env,
  nowMs: number,
  _log: Logger,
): Promise<{ findings: CheckFinding[]; figures: Record<string, unknown> }> {
  const findings: CheckFinding[] = [];
  const health = await healthOf(env.CONTROL, CHANNELS, nowMs);
  for (const [channel, h] of health) {
    if (h === "healthy") continue;
    findings.push({
      kind: "channel_unhealthy",
      severity: "critical",
      subject: channel,
      value: 1,
      detail: `${channel} is failing its calls (${h}); new orders go to its backup`,
    });
  }
  const { results } = await env.CONTROL.prepare(
    `SELECT channel, COUNT(*) AS calls, SUM(1 - ok) AS failed FROM channel_calls
     WHERE at_ms > ? AND at_ms <= ? GROUP BY channel`,
  )
    .bind(nowMs - LIMITS.channelErrorRateWindowMs, nowMs)
    .all<{ channel: string; calls: number; failed: number }>();
  for (const r of results) {
    if (r.calls < LIMITS.channelErrorRateMinCalls || r.failed === 0) continue;
    const rate = Math.round((100 * r.failed) / r.calls);
    findings.push({
      kind: "channel_error_rate",
      severity: "warning",
      subject: r.channel,
      value: rate,
      detail: `${r.failed} of ${r.calls} calls failed in the last ${LIMITS.channelErrorRateWindowMs / 60_000} min (${rate} %)`,
    });
  }
  return { findings, figures: { health: Object.fromEntries(health), calls: results } };
}
