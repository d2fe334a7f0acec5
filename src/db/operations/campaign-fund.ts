import { accountAddress } from "../../domain/accounts";
import { DEFAULT_CURRENCY } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

/**
 * campaign_fund: a B2C subsidy campaign is funded with its budget, platform:subsidy (the
 * platform's marketing spend, which may go negative) → the campaign's budget account. It
 * commits in the shard of the bucket the campaign's id names, where the budget lives. The
 * campaign's definition row is in the control database, which a ledger batch cannot write:
 * the route writes it after this posts (routes/campaigns.ts); the operation's metadata
 * carries the definition, so a budget whose row is missing can be told what it was.
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
    metadata: { name: campaign.name, budgetMinor: campaign.budgetMinor },
    nowMs,
    guards: [],
    extra: () => [],
    attach,
  });
}
