/**
 * Metrics: counted events of the money paths and the checks, written as Workers Analytics
 * Engine data points (binding AE_EVENTS, dataset giftwire_events) in production; locally and
 * in the tests the binding stores nothing (Miniflare's is a no-op), and without a binding
 * nothing is written. Writing is fire-and-forget (no await, no I/O on the caller's path).
 *
 * A point: index1 = the event (sampling is per index, so each event keeps its own rate);
 * blob1 = the event, blob2 = what it is about (a channel, a check), blob3 = its outcome;
 * double1 = 1 (a count), double2 = a measure (findings, milliseconds) or 0. Query with
 * `SUM(_sample_interval)` grouped by blob2, blob3 (docs/ARCHITECTURE.md).
 */

export const METRIC_EVENTS = ["payment_callback", "payout_result", "check_run", "alert_delivery"] as const;
export type MetricEvent = (typeof METRIC_EVENTS)[number];

export interface Metrics {
  count(event: MetricEvent, about: string, outcome: string, measure?: number): void;
}

export interface AnalyticsSink {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

const noop: Metrics = { count() {} };

export function metricsOf(sink: AnalyticsSink | undefined): Metrics {
  if (!sink) return noop;
  return {
    count(event, about, outcome, measure = 0) {
      try {
        sink.writeDataPoint({
          indexes: [event],
          blobs: [event, about.slice(0, 200), outcome.slice(0, 200)],
          doubles: [1, Number.isFinite(measure) ? measure : 0],
        });
      } catch {
        // A metric never fails the path that counts it.
      }
    },
  };
}

/** The deployment's metrics: Analytics Engine when AE_EVENTS is bound, else nothing. */
export function metricsFor(env: { AE_EVENTS?: AnalyticsSink }): Metrics {
  return metricsOf(env.AE_EVENTS);
}
