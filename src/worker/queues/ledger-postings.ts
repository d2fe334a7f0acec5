/**
 * The LEDGER_POSTINGS queue carries two kinds of message (schema: src/db/messages/ledger-postings.ts,
 * where the room, which may not import the Worker, can reach it):
 *
 * - red-packet claim credits: the room puts each claim on the queue once it is durable in its
 *   SQLite (src/durable-objects/live-room.packets.ts builds them); this consumer moves the
 *   money from the packet's escrow to the claimer's wallet, in the packet's shard (the
 *   sender's; the id routes). A claimer in another shard is paid through transit.
 * - transit refs: a credit one shard owes another (src/db/transit.ts), posted here in the
 *   destination shard.
 */

import { emitOperationEvents } from "../../db/business-events";
import { type ClaimCreditMessage, LedgerPostingMessage, type TransitRef } from "../../db/messages/ledger-postings";
import { postClaimCredits } from "../../db/operations/packet-claim";
import { type Ledger, openLedger } from "../../db/shards";
import { deliverTransit } from "../../db/transit";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const LEDGER_POSTINGS_QUEUE = "giftwire-ledger-postings";

interface Parsed<T> {
  readonly message: Message<unknown>;
  readonly body: T;
}

/**
 * The consumer of LEDGER_POSTINGS. Claim credits are grouped by their packet's shard and each
 * group is one D1 batch (group commit); each credit is an operation whose id is the claim id,
 * so a redelivered message is "exists" and acknowledged. Transit refs are one delivery call
 * for the whole batch (it groups them by destination itself).
 */
export async function handleLedgerPostingsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const credits: Parsed<ClaimCreditMessage>[] = [];
  const transits: Parsed<TransitRef>[] = [];
  for (const message of batch.messages) {
    const parsed = LedgerPostingMessage.safeParse(message.body);
    if (!parsed.success) dropMalformed(LEDGER_POSTINGS_QUEUE, message, parsed.error, log);
    else if (parsed.data.kind === "packet.claim") credits.push({ message, body: parsed.data });
    else transits.push({ message, body: parsed.data });
  }
  if (credits.length === 0 && transits.length === 0) return;
  const ledger = await openLedger(env);
  const nowMs = Date.now();
  const byShard = new Map<number, Parsed<ClaimCreditMessage>[]>();
  for (const credit of credits) {
    const shard = ledger.forId(credit.body.packetId).index;
    byShard.set(shard, [...(byShard.get(shard) ?? []), credit]);
  }
  await Promise.all([
    ...[...byShard].map(([shard, group]) => postCredits(env, ledger, shard, group, nowMs, log)),
    deliverRefs(ledger, transits, nowMs, log),
  ]);
}

const retry = (message: Message<unknown>) =>
  message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });

/** One shard's credits, one batch; a batch that fails retries all of its credits (none committed). */
async function postCredits(
  env: Env,
  ledger: Ledger,
  shardIndex: number,
  group: readonly Parsed<ClaimCreditMessage>[],
  nowMs: number,
  log: Logger,
): Promise<void> {
  let verdicts: Awaited<ReturnType<typeof postClaimCredits>>;
  try {
    verdicts = await postClaimCredits(
      ledger.shard(shardIndex),
      group.map(({ body: { kind: _kind, ...credit } }) => credit),
      nowMs,
    );
  } catch (error) {
    const attempts = Math.max(...group.map((v) => v.message.attempts));
    const fields = { shard: shardIndex, credits: group.length, attempts, error: String(error) };
    if (attempts >= LIMITS.alertAfterAttempts) log.error("alert_packet_credits_failing", fields);
    else log.warn("packet_credits_failed", fields);
    for (const v of group) retry(v.message);
    return;
  }
  let posted = 0;
  let duplicates = 0;
  verdicts.forEach((verdict, i) => {
    const v = group[i];
    if (!v) return;
    if (verdict.kind === "posted") posted += 1;
    if (verdict.kind === "exists") duplicates += 1;
    if (verdict.kind === "rejected") {
      // The room and the ledger disagree about this packet: never credit past the escrow.
      log.error(
        v.message.attempts >= LIMITS.alertAfterAttempts ? "alert_packet_credit_rejected" : "packet_credit_rejected",
        {
          claimId: v.body.claimId,
          packetId: v.body.packetId,
          code: verdict.code,
          attempts: v.message.attempts,
        },
      );
      retry(v.message);
    } else v.message.ack();
  });
  log.info("packet_credits", { shard: shardIndex, posted, duplicates });
  // The claims that exhausted their packet announce it (red_packet.exhausted, one per packet;
  // a claim of a packet not exhausted gives no event). A lost send is the sweeper's.
  const credited = group.filter((_, i) => verdicts[i]?.kind !== "rejected");
  await emitOperationEvents(
    env,
    ledger.shard(shardIndex),
    credited.map((v) => ({ id: v.body.claimId, kind: "packet_claim" })),
    log,
  );
}

/**
 * Cross-shard credits, all in one call. A delivery that throws retries every ref (posted ones
 * are "already delivered" next time); a ref with no outbox row names an operation that did
 * not post, so there is nothing to deliver; a refused delivery is a bug or a row that was
 * tampered with, kept on the queue and raised at once.
 */
async function deliverRefs(
  ledger: Ledger,
  transits: readonly Parsed<TransitRef>[],
  nowMs: number,
  log: Logger,
): Promise<void> {
  const known: Parsed<TransitRef>[] = [];
  for (const t of transits) {
    if (t.body.origin < ledger.shards.length && t.body.destination < ledger.shards.length) known.push(t);
    else {
      // Sent by a deployment with more shards than this one binds: keep it for operators.
      log.error("alert_transit_unknown_shard", { ...t.body, attempts: t.message.attempts });
      retry(t.message);
    }
  }
  if (known.length === 0) return;
  let outcomes: Awaited<ReturnType<typeof deliverTransit>>;
  try {
    outcomes = await deliverTransit(
      ledger,
      known.map((t) => t.body),
      nowMs,
    );
  } catch (error) {
    const attempts = Math.max(...known.map((t) => t.message.attempts));
    const fields = { refs: known.length, attempts, error: String(error) };
    if (attempts >= LIMITS.alertAfterAttempts) log.error("alert_transit_delivery_failing", fields);
    else log.warn("transit_delivery_failed", fields);
    for (const t of known) retry(t.message);
    return;
  }
  let delivered = 0;
  let duplicates = 0;
  outcomes.forEach((outcome, i) => {
    const t = known[i];
    if (!t) return;
    switch (outcome.kind) {
      case "delivered":
        delivered += 1;
        t.message.ack();
        break;
      case "already_delivered":
        duplicates += 1;
        t.message.ack();
        break;
      case "no_such_row":
        log.info("transit_ref_without_row", { ...t.body });
        t.message.ack();
        break;
      case "rejected":
        // A fenced bucket is a move in progress (or this isolate's map was stale): retried shortly, with a fresh map.
        if (outcome.code === "bucket_fenced")
          log.warn("transit_delivery_fenced", { ...t.body, attempts: t.message.attempts });
        else
          log.error("alert_transit_delivery_rejected", { ...t.body, code: outcome.code, attempts: t.message.attempts });
        retry(t.message);
        break;
    }
  });
  log.info("transit_deliveries", { delivered, duplicates });
}
