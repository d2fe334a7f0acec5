/**
 * The PAYOUTS queue's messages, defined once (the Worker's routes and cron produce them, its
 * consumer src/worker/queues/payouts.ts applies them): send an approved withdrawal to its
 * channel, ask the channel what became of one, and apply a verified payout callback. The raw
 * callback is stored first (control `payment_notifications`, like payment callbacks); the
 * message carries its id and the provider-neutral outcome. Applying is idempotent per
 * withdrawal state (domain/withdrawal-states.ts), so a redelivery, a resend or a query answer
 * after the callback changes nothing.
 */

import { z } from "zod";
import { CHANNELS } from "../../channels/channel";

const WithdrawalId = z.string().min(1).max(64);

export const PayoutOutcomeSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("accepted"), providerRef: z.string().min(1).max(128) }),
  z.object({
    state: z.literal("needs_user_confirm"),
    providerRef: z.string().min(1).max(128),
    packageInfo: z.string().min(1).max(4096),
  }),
  z.object({ state: z.literal("paid"), providerRef: z.string().min(1).max(128) }),
  z.object({
    state: z.literal("failed"),
    providerRef: z.string().min(1).max(128).nullable(),
    reason: z.string().max(256),
  }),
  z.object({ state: z.literal("unknown"), detail: z.string().max(512) }),
]);

/** Send an approved withdrawal to its channel (again, after an `unknown`: same number, same request). */
export const PayoutSendMessage = z.object({ kind: z.literal("payout.send"), withdrawalId: WithdrawalId });

/** Ask the channel what became of a withdrawal in `paying`. */
export const PayoutQueryMessage = z.object({ kind: z.literal("payout.query"), withdrawalId: WithdrawalId });

/** A verified payout callback, stored raw as `notificationId`. */
export const PayoutCallbackMessage = z.object({
  kind: z.literal("payout.callback"),
  notificationId: z.string().min(1).max(64),
  channel: z.enum(CHANNELS),
  eventId: z.string().min(1).max(255),
  withdrawalId: WithdrawalId,
  outcome: PayoutOutcomeSchema,
  /** The amount the provider reports, to compare with the withdrawal (a mismatch is flagged). */
  amountMinor: z.number().int().nonnegative().nullable(),
});

export const PayoutQueueMessage = z.discriminatedUnion("kind", [
  PayoutSendMessage,
  PayoutQueryMessage,
  PayoutCallbackMessage,
]);
export type PayoutQueueMessage = z.infer<typeof PayoutQueueMessage>;
export type PayoutCallbackMessage = z.infer<typeof PayoutCallbackMessage>;
