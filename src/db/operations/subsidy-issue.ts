import { accountAddress } from "../../domain/accounts";
import { DEFAULT_CURRENCY } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

/**
 * subsidy_issue: a campaign grants a user a subsidy, the campaign's budget → the subsidy's
 * grant account, once per the issuing system's external id, only while the budget covers it.
 * The user spends it by sending a red packet (packet-send.ts).
 *
 * It commits in the campaign's shard (the budget's), with the subsidy's row, whose unique
 * (campaign, external id) is the "once" rule. The grant account is the user's (the subsidy's
 * id carries the user's bucket), so when the user is in another shard it is credited through
 * transit, and the packet that spends it commits in the user's shard.
 */
export interface SubsidyGrant {
  readonly id: string;
  readonly campaignId: string;
  readonly externalId: string;
  readonly userId: string;
  readonly amountMinor: number;
  readonly actorId: string;
}

export function composeSubsidyIssue(
  shard: LedgerShard,
  grant: SubsidyGrant,
  nowMs: number,
  attach?: Attach,
): ComposedOperation {
  const { db } = shard;
  const budget = accountAddress.campaignBudget(grant.campaignId);
  return composeOperation(shard, {
    id: grant.id,
    kind: "subsidy_issue",
    currency: DEFAULT_CURRENCY,
    postings: [{ from: budget, to: accountAddress.subsidyGrant(grant.id), amountMinor: grant.amountMinor }],
    actorId: grant.actorId,
    reason: null,
    metadata: { campaignId: grant.campaignId, externalId: grant.externalId, userId: grant.userId },
    nowMs,
    guards: [
      {
        code: "subsidy_external_id_taken",
        sql: "NOT EXISTS (SELECT 1 FROM subsidies WHERE campaign_id = ? AND external_id = ?)",
        params: [grant.campaignId, grant.externalId],
      },
      {
        code: "campaign_budget_exhausted",
        sql: "COALESCE((SELECT balance_minor FROM accounts WHERE address = ?), 0) >= ?",
        params: [budget, grant.amountMinor],
      },
    ],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO subsidies (id, campaign_id, external_id, user_id, currency, amount_minor, status, issued_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, 'issued', ? WHERE ${posting.sql}`,
        )
        .bind(
          grant.id,
          grant.campaignId,
          grant.externalId,
          grant.userId,
          DEFAULT_CURRENCY,
          grant.amountMinor,
          nowMs,
          ...posting.params,
        ),
    ],
    attach,
  });
}
