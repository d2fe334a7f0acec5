/**
 * Ledger account addresses, colon-segmented. Only accounts that stand for the world
 * outside the ledger (operator adjustments, later payment-channel clearing) may go
 * negative; every other account is protected by a guard in SQL and a CHECK constraint.
 */
export const accountAddress = {
  userWallet: (userId: string) => `user:${userId}:wallet`,
  /**
   * The payer's money held for tips a risk rule parked for review (operations/tip-hold.ts):
   * balance = Σ of the payer's held tips still `held`. Not spendable; approval pays the tip from
   * here, a decline or expiry returns it to the wallet.
   */
  userHeld: (userId: string) => `user:${userId}:held`,
  /** A user's winnings withdrawal from its request until it is paid, rejected or failed (docs/adr/0017). */
  userWithdrawing: (userId: string) => `user:${userId}:withdrawing`,
  creatorPending: (creatorId: string) => `creator:${creatorId}:pending`,
  creatorAvailable: (creatorId: string) => `creator:${creatorId}:available`,
  /** A withdrawal's amount from its request until it is paid, rejected or failed. */
  creatorWithdrawing: (creatorId: string) => `creator:${creatorId}:withdrawing`,
  platformRevenue: () => "platform:revenue",
  /** Withdrawal fees charged to creators. */
  platformFees: () => "platform:fees",
  /** Tax withheld from creators' earnings at settlement, owed to the tax authority. */
  platformTaxPayable: () => "platform:tax_payable",
  /**
   * What creators owe the platform: a reversal of a tip whose day was already settled refunds
   * the viewer from here (so it runs negative), and later settlements of that creator pay it
   * back before anything reaches available. Per shard, −balance = Σ outstanding receivables of
   * the shard's creators (tip_reversals from `receivable` − settlements' offsets).
   */
  platformReceivables: () => "platform:receivables",
  /** The platform's marketing spend: funds subsidy campaigns, so it runs negative. */
  platformSubsidy: () => "platform:subsidy",
  /** A red packet's money between sending and claiming or refund. */
  packetEscrow: (packetId: string) => `packet:${packetId}:escrow`,
  /** What is left of a subsidy campaign's budget. */
  campaignBudget: (campaignId: string) => `campaign:${campaignId}:budget`,
  /** An issued, not yet spent subsidy. */
  subsidyGrant: (subsidyId: string) => `subsidy:${subsidyId}:grant`,
  channelClearing: (channel: string) => `channel:${channel}:clearing`,
  /** What the platform paid out to creators through a channel (Σ paid withdrawals, net of fees). */
  channelPayouts: (channel: string) => `channel:${channel}:payouts`,
  worldAdjustments: () => "world:adjustments",
  /**
   * In one ledger shard, what it owes (positive) or has received ahead (negative) from the
   * shard `peerShard`: credits bound for another shard cross through the pair of transit
   * accounts (domain/cross-shard.ts), so each shard balances on its own.
   */
  transit: (peerShard: number) => `transit:${peerShard}`,
} as const;

/**
 * Whose money a withdrawal moves: a creator's earnings (`creator:{id}:available`) or a user's
 * winnings (`user:{id}:wallet`, within its withdrawable part: docs/adr/0017).
 */
export type WithdrawalOwnerKind = "creator" | "user";

/** The account a withdrawal is held from (and released back to), and the one it is held in. */
export function withdrawalAccounts(
  ownerKind: WithdrawalOwnerKind,
  ownerId: string,
): { readonly source: string; readonly withdrawing: string } {
  return ownerKind === "creator"
    ? { source: accountAddress.creatorAvailable(ownerId), withdrawing: accountAddress.creatorWithdrawing(ownerId) }
    : { source: accountAddress.userWallet(ownerId), withdrawing: accountAddress.userWithdrawing(ownerId) };
}

/** One transfer of an operation: an amount from one account to another of the same currency. */
export interface Posting {
  readonly from: string;
  readonly to: string;
  readonly amountMinor: number;
}

export function mayGoNegative(address: string): boolean {
  return (
    address.startsWith("world:") ||
    address.startsWith("transit:") ||
    address === "platform:subsidy" ||
    address === "platform:receivables" ||
    (address.startsWith("channel:") && address.endsWith(":clearing"))
  );
}

/** User and creator ids are embedded in addresses, so they may not contain the separator. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
