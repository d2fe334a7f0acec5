import { openLedger } from "../../db/shards";
import { deliverTransit, pendingTransit } from "../../db/transit";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

/**
 * The backstop for cross-shard credits: a transit outbox row still undelivered 30 s after its
 * operation committed (the announcement after commit failed, or its queue message went to
 * the dead-letter queue) is delivered now, in group-committed batches. A row that its
 * destination refuses stays undelivered and is reported on every sweep until an operator
 * looks: it is a bug, never a reason to move money another way.
 */
export async function sweepTransit(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ delivered: number; refused: number }> {
  const ledger = await openLedger(env, nowMs);
  const pending = await pendingTransit(ledger, nowMs, LIMITS.transitRedeliverAfterMs);
  if (pending.length === 0) return { delivered: 0, refused: 0 };
  const outcomes = await deliverTransit(ledger, pending, nowMs);
  let delivered = 0;
  let refused = 0;
  outcomes.forEach((outcome, i) => {
    if (outcome.kind === "rejected") {
      refused += 1;
      log.error("alert_transit_refused", { ...pending[i], code: outcome.code });
    } else if (outcome.kind !== "no_such_row") delivered += 1;
  });
  return { delivered, refused };
}
