import { accountAddress } from "../../domain/accounts";
import { DEFAULT_CURRENCY } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

/**
 * campaign_fund: a B2C subsidy campaign is created with its budget, platform:subsidy (the
 * platform's marketing spend, which may go negative) → the campaign's budget account, with
 * the campaign row in the same batch.
 */
export interface CampaignFunding {
  readonly id: string;
  readonly name: string;
  readonly budgetMinor: number;
  readonly actorId: string;
}

export function composeCampaignFund(
  shard: LedgerShard,
  campaign: CampaignFunding,
  nowMs: number,
  attach?: Attach,
): ComposedOperation {
  const { db } = shard;
  return composeOperation(shard, {
    id: campaign.id,
    kind: "campaign_fund",
    currency: DEFAULT_CURRENCY,
    postings: [
      {
        from: accountAddress.platformSubsidy(),
        to: accountAddress.campaignBudget(campaign.id),
        amountMinor: campaign.budgetMinor,
      },
    ],
    actorId: campaign.actorId,
    reason: `campaign: ${campaign.name}`,
    metadata: null,
    nowMs,
    guards: [],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO subsidy_campaigns (id, name, currency, budget_minor, created_by, created_at_ms)
           SELECT ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          campaign.id,
          campaign.name,
          DEFAULT_CURRENCY,
          campaign.budgetMinor,
          campaign.actorId,
          nowMs,
          ...posting.params,
        ),
    ],
    attach,
  });
}
