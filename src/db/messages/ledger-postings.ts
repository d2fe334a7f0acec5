/**
 * The LEDGER_POSTINGS queue's message, defined once: the LiveRoom object produces it (one per
 * red-packet claim, once the claim is durable in the room), the Worker's queue consumer parses
 * it and hands it to the packet-claim operation, which posts escrow → claimer's wallet with
 * the claim id as the operation id (so a redelivery is "exists", never a second credit).
 *
 * Why here and not beside its consumer in the Worker's queues folder: a Durable Object may
 * not import from the Worker (dependencies point down: Worker → objects → db → domain), and
 * the message is a request for a ledger operation, so it sits at the lowest layer that its
 * producer, its consumer and the operation all depend on. The platform folder holds runtime
 * plumbing (logger, config), not business contracts.
 */

import { z } from "zod";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { LIMITS } from "../../domain/limits";
import { CURRENCIES } from "../../domain/money";

export const ClaimCreditMessage = z.object({
  kind: z.literal("packet.claim"),
  claimId: z.string().min(1).max(64),
  packetId: z.string().min(1).max(64),
  userId: z.string().regex(USER_ID_PATTERN),
  claimIndex: z.number().int().nonnegative().max(LIMITS.packetSharesMax),
  amountMinor: z.number().int().min(1).max(LIMITS.packetTotalMaxMinor),
  claimedAtMs: z.number().int().nonnegative(),
  currency: z.enum(CURRENCIES),
});
export type ClaimCreditMessage = z.infer<typeof ClaimCreditMessage>;

/**
 * A credit one ledger shard owes another (domain/cross-shard.ts): the origin committed the
 * operation and its `transit_outbox` row; the consumer reads the legs from that row (never
 * from the message) and posts them in the destination under `{operationId}>{destination}`.
 */
export const TransitRef = z.object({
  kind: z.literal("transit"),
  origin: z
    .number()
    .int()
    .nonnegative()
    .max(LIMITS.ledgerShardsMax - 1),
  destination: z
    .number()
    .int()
    .nonnegative()
    .max(LIMITS.ledgerShardsMax - 1),
  operationId: z.string().min(1).max(200),
});
export type TransitRef = z.infer<typeof TransitRef>;

/** Everything LEDGER_POSTINGS carries. */
export const LedgerPostingMessage = z.discriminatedUnion("kind", [ClaimCreditMessage, TransitRef]);
export type LedgerPostingMessage = z.infer<typeof LedgerPostingMessage>;
