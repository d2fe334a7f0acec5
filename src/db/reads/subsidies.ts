/**
 * Subsidies as their campaigns record them. A subsidy's row is in its campaign's shard (where
 * its issue committed, beside the budget it drew on), while its id carries its user's bucket
 * (its grant account is the user's). So a row is found by id or by user only by asking every
 * shard, in parallel: one indexed point read each, for a rare B2C request.
 */

import type { Ledger } from "../shards";

export interface SubsidyRow {
  readonly id: string;
  readonly campaign_id: string;
  readonly external_id: string;
  readonly user_id: string;
  readonly amount_minor: number;
  readonly status: "issued" | "used";
  readonly packet_id: string | null;
  readonly issued_at_ms: number;
  readonly used_at_ms: number | null;
}

export async function findSubsidy(ledger: Ledger, subsidyId: string): Promise<SubsidyRow | null> {
  const found = await Promise.all(
    ledger.shards.map((s) => s.db.prepare("SELECT * FROM subsidies WHERE id = ?").bind(subsidyId).first<SubsidyRow>()),
  );
  return found.find((row) => row !== null) ?? null;
}

/** A user's subsidies, newest first, from every shard (the `subsidies_user_issued` index). */
export async function subsidiesOfUser(ledger: Ledger, userId: string, limit: number): Promise<SubsidyRow[]> {
  const lists = await Promise.all(
    ledger.shards.map(async (s) => {
      const { results } = await s.db
        .prepare("SELECT * FROM subsidies WHERE user_id = ? ORDER BY issued_at_ms DESC, id DESC LIMIT ?")
        .bind(userId, limit)
        .all<SubsidyRow>();
      return results;
    }),
  );
  return lists
    .flat()
    .sort((a, b) => b.issued_at_ms - a.issued_at_ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, limit);
}
