/**
 * tip_reversal: an operator takes a tip back (stolen-card money, a chargeback). This is the
 * creator's leg, committed in the CREATOR's shard; the platform's leg is
 * tip-reversal-platform.ts, in the tip's shard. The viewer's wallet is credited by both; when
 * it lives in another shard the credit crosses through transit (domain/cross-shard.ts).
 *
 * Where the creator's part comes from (domain/tip-reversal.ts):
 *   - the tip's day not settled yet: creator:{id}:pending → viewer wallet (the creator part);
 *     that day's settlement shows it under `reversed`;
 *   - settled: platform:receivables → viewer wallet (the receivable: what the creator received
 *     for it, the part less the withholding it was settled with; later settlements offset it)
 *     and platform:tax_payable → viewer wallet (that withholding: tax not owed on income that
 *     was taken back). Nothing is taken from available, which may have been withdrawn.
 *
 * Guards, in order: the creator's bucket not fenced here (`bucket_fenced`: a bucket move,
 * src/db/bucket-move.ts, carries the creator's reversals and receivable); one reversal per tip (`tip_already_reversed`); the tip's creator part has
 * reached this shard (`reversal_in_flight`: its credit may still be in transit); the route is
 * still right (`reversal_route_changed`: the day settled, or, impossibly, unsettled, since the
 * read). The `tip_reversals` row commits in the same batch; its `platform_leg_at_ms` is set
 * here when the platform had no part, otherwise once the platform leg has posted.
 */

import type { Posting } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import type { ReversalRoute } from "../../domain/tip-reversal";
import { type EarningReturn, earningReturnGuards, earningReturnPostings } from "../earning-return";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

/** A tip as its row in the viewer's shard holds it. */
export interface TipRow {
  readonly id: string;
  readonly viewer_id: string;
  readonly creator_id: string;
  /** The content item tipped; null for a tip in a room. */
  readonly content_id: string | null;
  readonly amount_minor: number;
  readonly platform_minor: number;
  readonly creator_minor: number;
  readonly currency: string;
  readonly created_at_ms: number;
}

export interface TipReversalInput {
  readonly id: string;
  readonly tip: TipRow;
  /** The shard the tip (and its platform share) was committed in. */
  readonly tipShard: number;
  readonly tipDay: string;
  readonly route: ReversalRoute;
  /** Receivable route: the withholding the day was settled with, returned from tax payable. */
  readonly withheldMinor: number;
  readonly withholdingBps: number;
  readonly reason: string;
  readonly actorId: string;
  readonly nowMs: number;
}

function earning(input: TipReversalInput): EarningReturn {
  const { tip } = input;
  return {
    earningId: tip.id,
    creatorId: tip.creator_id,
    payerId: tip.viewer_id,
    creatorMinor: tip.creator_minor,
    day: input.tipDay,
    route: input.route,
    withheldMinor: input.withheldMinor,
    noun: "tip's",
  };
}

export function reversalPostings(input: TipReversalInput): Posting[] {
  return earningReturnPostings(earning(input));
}

export function composeTipReversal(shard: LedgerShard, input: TipReversalInput, attach?: Attach): ComposedOperation {
  const { db } = shard;
  const { tip, route } = input;
  const guards = earningReturnGuards(shard, earning(input), {
    done: { table: "tip_reversals", column: "tip_id", code: "tip_already_reversed" },
    inFlightCode: "reversal_in_flight",
  });
  return composeOperation(shard, {
    id: input.id,
    kind: "tip_reversal",
    currency: tip.currency as Currency,
    postings: reversalPostings(input),
    actorId: input.actorId,
    reason: input.reason,
    metadata: {
      tipId: tip.id,
      tipShard: input.tipShard,
      source: route.from,
      receivableMinor: route.receivableMinor,
      withheldMinor: input.withheldMinor,
      withholdingBps: input.withholdingBps,
    },
    nowMs: input.nowMs,
    guards,
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO tip_reversals (id, tip_id, content_id, creator_id, viewer_id, tip_day, tip_created_at_ms,
             amount_minor, platform_minor, creator_minor, source, platform_leg_at_ms, reason, actor_id, currency,
             created_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          input.id,
          tip.id,
          tip.content_id,
          tip.creator_id,
          tip.viewer_id,
          input.tipDay,
          tip.created_at_ms,
          tip.amount_minor,
          tip.platform_minor,
          tip.creator_minor,
          route.from,
          tip.platform_minor === 0 ? input.nowMs : null,
          input.reason,
          input.actorId,
          tip.currency,
          input.nowMs,
          ...posting.params,
        ),
    ],
    attach,
  });
}
