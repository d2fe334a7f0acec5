/**
 * The room's tip group commit. The Worker authenticates and validates a wallet tip, then hands
 * it here (LiveRoom.tip); the room gathers its tips and flushes them — at `LIMITS.tipBatchMax`
 * tips or `LIMITS.tipBatchWaitMs` after the first, and while one flush commits the next one's
 * tips gather — as:
 *
 *   1. one control read for the whole flush (the room live, the gifts' prices, the creator's
 *      share: db/operations/tip.ts `readTipFacts`), then each tip priced in memory — a tip a
 *      runtime switch pauses is refused here, before any statement, against the isolate's
 *      cached switch set (no read per tip; docs/ARCHITECTURE.md, Switches);
 *   2. one D1 batch per ledger shard of the payers, in parallel (db/operations/tip-batch.ts):
 *      every tip with its own guards and its Idempotency-Key record, so a failed guard
 *      rejects only its own tip; the 小额免密 limits are read by the guards in the batch;
 *   3. the committed tips applied to the room at once (window, combos, leaderboards, big-gift
 *      lane: the same code and the same at-most-once event ids as `deliver`).
 * Each request is answered only after its batch committed. The tip's room outbox row is in
 * its batch, so if the object restarts between commit and apply, the outbox's queue and
 * sweeper deliver the event and the room applies it exactly once; the rows the room applied
 * itself are marked delivered by the next flush's batch of that shard (or at once when no
 * flush follows), so the sweeper does not redo them.
 *
 * Each tip's platform rate is quoted by the room's tier desk (live-room.tiers.ts) at the flush's
 * instant, in flush order; a tip near a tier threshold whose rate depends on the outcome of
 * tips still committing is cut from the flush with the tips after it, and they flush again when
 * an outcome arrives (only then: `waitingForRates`).
 *
 * The control facts are read at the flush, as the Worker read them before: a stream that
 * ends between that read and the batch takes this flush as its last tips (ADR 0007).
 */

import { z } from "zod";
import type { TipEvent } from "../db/messages/room-events";
import { atQuotedRate, priceWithFacts, readTipFacts, type TipAsk, type TipInput, tipEvent } from "../db/operations/tip";
import {
  type BatchedTip,
  type BatchedTipOutcome,
  commitTipBatch,
  markOutboxApplied,
  readIdempotencyRecords,
} from "../db/operations/tip-batch";
import { type LedgerShard, openLedger } from "../db/shards";
import { publishRoomEvents } from "../db/webhook-room-events";
import { USER_ID_PATTERN } from "../domain/accounts";
import type { ErrorCode } from "../domain/errors";
import { errorForGuard } from "../domain/guards";
import { decideOnExisting, type StoredIdempotencyRecord } from "../domain/idempotency";
import { newOwnedId } from "../domain/ids";
import { assert, LIMITS } from "../domain/limits";
import { localDayStartMs } from "../domain/room/periods";
import { configFrom } from "../platform/config";
import type { Logger } from "../platform/logger";
import type { TierDesk, TipFate } from "./live-room.tiers";

/** A wallet tip as the Worker hands it over: validated, with its key and request fingerprint. */
export const TipSubmission = z.strictObject({
  roomId: z.string().min(1).max(64),
  viewerId: z.string().regex(USER_ID_PATTERN),
  ask: z.discriminatedUnion("kind", [
    z.strictObject({
      kind: z.literal("gift"),
      giftId: z.string().min(1).max(64),
      quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax),
    }),
    z.strictObject({ kind: z.literal("custom"), amount: z.string().min(1).max(32) }),
  ]),
  /** The Worker checked the payer's PIN: the password-free limits do not apply. */
  confirmed: z.boolean(),
  /** The viewer's message, moderated by the Worker against its cached word list (null: none). */
  message: z
    .strictObject({
      text: z
        .string()
        .min(1)
        .max(LIMITS.tipMessageMaxCodePoints * 2),
      shown: z
        .string()
        .min(1)
        .max(LIMITS.tipMessageMaxCodePoints * 2),
      status: z.enum(["shown", "masked", "held"]),
    })
    .nullable()
    .default(null),
  key: z.string().min(1).max(LIMITS.idempotencyKeyMaxLength),
  requestHash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type TipSubmission = z.input<typeof TipSubmission>;

/** The room's answer: stored response bytes (new or replayed), or an error code. */
export type TipAnswer =
  | { readonly kind: "response"; readonly status: number; readonly body: string; readonly replayed: boolean }
  | { readonly kind: "error"; readonly code: ErrorCode; readonly message?: string };

interface Waiting {
  readonly submission: TipSubmission;
  readonly resolve: (answer: TipAnswer) => void;
  readonly reject: (error: unknown) => void;
}

/** What the room does with committed tips: apply them (at most once per event id). */
export interface TipRoom {
  applyTips(events: readonly TipEvent[]): Promise<void>;
  waitUntil(promise: Promise<unknown>): void;
}

/** Counters of the D1 work the batcher did (bench/tips.ts prints them per tip). */
export interface TipBatchStats {
  tips: number;
  flushes: number;
  batches: number;
  statements: number;
  /** Wall time spent, summed over flushes: the control read, the shard batches, applying. */
  controlMs: number;
  commitMs: number;
  applyMs: number;
}

export class TipBatcher {
  private queue: Waiting[] = [];
  /** Keys of tips queued or being committed here, with their request fingerprints. */
  private readonly held = new Map<string, string>();
  private flushesInFlight = 0;
  /** Resolves when the last flush started has applied (or given up): flushes apply in start order. */
  private applyTurn: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Tips at the queue's head wait for the rate of a tip near a threshold: no flush until an outcome. */
  private waitingForRates = false;
  /** Outbox rows this room applied, per shard, not yet marked delivered in D1. */
  private applied = new Map<number, string[]>();
  readonly stats: TipBatchStats = {
    tips: 0,
    flushes: 0,
    batches: 0,
    statements: 0,
    controlMs: 0,
    commitMs: 0,
    applyMs: 0,
  };
  /**
   * Test hook: runs after a flush's batches committed and before the room applies them; if it
   * throws, the flush stops there, as if the object had restarted (tests/integration).
   */
  afterCommit: (() => void) | null = null;

  constructor(
    private readonly env: Env,
    private readonly room: TipRoom,
    private readonly log: Logger,
    private readonly tiers: TierDesk,
  ) {}

  submit(submission: TipSubmission): Promise<TipAnswer> {
    const held = this.held.get(holdKey(submission));
    if (held !== undefined) {
      // The same key is already here, uncommitted: what a second request sees while the
      // first is in flight (runIdempotent's in-flight record), without a D1 round trip.
      return Promise.resolve(answerFromDecision(decideOnExisting(inFlight(held), submission.requestHash, 0)));
    }
    if (this.queue.length >= LIMITS.tipQueueMax) return Promise.resolve({ kind: "error", code: "room_busy" });
    this.held.set(holdKey(submission), submission.requestHash);
    const answer = new Promise<TipAnswer>((resolve, reject) => this.queue.push({ submission, resolve, reject }));
    if (this.queue.length >= LIMITS.tipBatchMax) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), LIMITS.tipBatchWaitMs);
    return answer;
  }

  /**
   * Starts a flush unless `tipFlushesInFlightMax` are running; each one that ends starts the
   * next if tips wait. Flushes may overlap (one reading the control facts while another's
   * batches commit): each tip is in one flush, a key in at most one (`held`), and every guard
   * is evaluated by its own batch, so their order does not matter; the room applies them in
   * the order they began (`applyTurn`).
   */
  private kick(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.waitingForRates || this.flushesInFlight >= LIMITS.tipFlushesInFlightMax || this.queue.length === 0) return;
    const taken = this.queue.splice(0, LIMITS.tipBatchMax);
    /** The tips this flush put back for later pricing: still queued, so still held. */
    const cut = new Set<Waiting>();
    this.flushesInFlight += 1;
    const turn = this.applyTurn;
    let applied = () => {};
    this.applyTurn = new Promise<void>((resolve) => {
      applied = resolve;
    });
    const flushing = this.flush(taken, turn, cut)
      .catch((error: unknown) => {
        for (const w of taken) if (!cut.has(w)) w.reject(error);
      })
      .finally(() => {
        applied();
        for (const w of taken) if (!cut.has(w)) this.held.delete(holdKey(w.submission));
        this.flushesInFlight -= 1;
        if (this.queue.length > 0) this.kick();
        else if (this.flushesInFlight === 0 && this.applied.size > 0) this.room.waitUntil(this.markApplied());
      });
    this.room.waitUntil(flushing);
  }

  private async flush(taken: readonly Waiting[], turn: Promise<void>, cut: Set<Waiting>): Promise<void> {
    const nowMs = Date.now();
    // The tips are priced at `nowMs`: take the place in the pricing order now (instant order).
    const pricing = this.tiers.turn();
    const config = configFrom(this.env);
    const roomId = taken[0]?.submission.roomId;
    assert(roomId !== undefined, "a flush has tips");
    const giftIds = taken.flatMap((w) => (w.submission.ask.kind === "gift" ? [w.submission.ask.giftId] : []));
    let ledger: Awaited<ReturnType<typeof openLedger>>;
    let facts: Awaited<ReturnType<typeof readTipFacts>>;
    try {
      ledger = await openLedger(this.env, nowMs);
      facts = await readTipFacts(ledger.control, roomId, giftIds, nowMs, config.switchCacheTtlMs);
    } catch (error) {
      // Give the pricing turn up in order, or every later pricer would wait for it.
      void pricing.then((p) => p.release());
      throw error;
    }
    const readAtMs = Date.now();
    this.stats.controlMs += readAtMs - nowMs;
    this.stats.flushes += 1;
    this.stats.batches += 1;
    this.stats.statements += 4;
    this.stats.tips += taken.length;

    // Price each tip; a refused one still answers by its key first, as the Worker would.
    const byShard = new Map<number, { shard: LedgerShard; tips: BatchedTip[]; waiting: Waiting[] }>();
    const refused: { waiting: Waiting; shard: LedgerShard; code: ErrorCode; message: string }[] = [];
    const rates = {
      schedules: facts.schedules,
      defaultBps: config.platformShareBps,
      creatorOverrideBps: facts.creatorShareBps,
    };
    const pricer = await pricing;
    try {
      for (const [n, w] of taken.entries()) {
        const s = w.submission;
        assert(s.roomId === roomId, "a room takes only its own tips");
        const input: TipInput = { id: newOwnedId("tip", ledger.bucketOf(s.viewerId), nowMs), ...tipInputOf(s) };
        const shard = ledger.forOwner(s.viewerId);
        const priced = priceWithFacts(facts, config, input, nowMs);
        if (!priced.ok) {
          refused.push({ waiting: w, shard, code: priced.code, message: priced.message });
          continue;
        }
        const tip = priced.value;
        const quote = await pricer.quote(rates, {
          id: tip.id,
          creatorId: tip.creatorId,
          atMs: nowMs,
          grossMinor: tip.priced.amountMinor,
        });
        if (quote === "wait") {
          // Near a threshold: this tip and the ones after it are priced once an outcome is known.
          for (const later of taken.slice(n)) cut.add(later);
          break;
        }
        const group = byShard.get(shard.index) ?? { shard, tips: [], waiting: [] };
        group.tips.push({
          tip: atQuotedRate(tip, quote.share, nowMs, quote.commitByMs),
          key: s.key,
          requestHash: s.requestHash,
          confirmed: s.confirmed,
        });
        group.waiting.push(w);
        byShard.set(shard.index, group);
      }
    } catch (error) {
      // Pricing failed (the month's gross could not be read): the tips quoted so far never commit.
      for (const group of byShard.values()) for (const t of group.tips) this.tiers.settle(t.tip.id, "failed");
      throw error;
    } finally {
      if (cut.size > 0) this.waitForRates([...cut], pricer.afterWait());
      pricer.release();
    }

    // One batch per shard with tips or with applied marks to write, all at once.
    const applied = this.applied;
    this.applied = new Map();
    const shards = new Set([...byShard.keys(), ...applied.keys()]);
    const dayStartMs = localDayStartMs(nowMs, config.businessTimeZone);
    const committed = await Promise.all(
      [...shards].map(async (index) => {
        const group = byShard.get(index) ?? { shard: ledger.shard(index), tips: [], waiting: [] };
        try {
          const result = await commitTipBatch(group.shard, group.tips, {
            nowMs,
            autopayDefaults: config.autopayDefaults,
            dayStartMs,
            appliedOutboxIds: applied.get(index) ?? [],
          });
          this.stats.batches += result.batches;
          this.stats.statements += result.statements;
          this.room.waitUntil(result.dispatched);
          for (const [i, outcome] of result.outcomes.entries()) {
            const id = group.tips[i]?.tip.id;
            if (id !== undefined) this.tiers.settle(id, outcome.kind === "posted" ? "posted" : "failed");
          }
          return { group, outcomes: result.outcomes };
        } catch (error) {
          // Whether it committed is not known for sure: the desk reads it after the quotes' time.
          for (const t of group.tips) this.tiers.settle(t.tip.id, "unknown" satisfies TipFate);
          // Nothing of this shard's batch committed (a batch is atomic): its tips fail, their
          // keys stay free for the client's retry; its marks are left to the outbox sweeper.
          this.log.error("tip_batch_failed", { shard: index, tips: group.tips.length, error: String(error) });
          for (const w of group.waiting) w.reject(error);
          return { group, outcomes: null };
        }
      }),
    );
    const refusals = this.answerRefused(refused, nowMs);
    const committedAtMs = Date.now();
    this.stats.commitMs += committedAtMs - readAtMs;

    // The previous flush applies first: the room sees tips in the order their flushes began.
    await turn;
    try {
      this.afterCommit?.();
    } catch (error) {
      // As if the object restarted here: nothing applied, no marks; the outbox delivers.
      for (const { group, outcomes } of committed)
        if (outcomes !== null) for (const w of group.waiting) w.reject(error);
      await refusals;
      return;
    }

    const events: TipEvent[] = [];
    const posted = new Map<number, string[]>();
    for (const { group, outcomes } of committed) {
      if (outcomes === null) continue;
      for (const [i, outcome] of outcomes.entries()) {
        const tip = group.tips[i];
        if (outcome.kind !== "posted" || tip === undefined) continue;
        events.push(tipEvent(tip.tip));
        posted.set(group.shard.index, [...(posted.get(group.shard.index) ?? []), tip.tip.id]);
      }
    }
    if (events.length > 0) await this.room.applyTips(events);
    this.stats.applyMs += Date.now() - committedAtMs;
    // Answered once applied: nothing below can undo a committed tip.
    for (const { group, outcomes } of committed) {
      if (outcomes === null) continue;
      for (const [i, outcome] of outcomes.entries()) group.waiting[i]?.resolve(answerOf(outcome, group.tips[i], nowMs));
    }
    // Business events (tips for partner webhooks and internal consumers; one queue send per
    // flush), off the tips' answer and the next flush's path. Only once they are sent may the
    // rows be marked delivered (by the next flush, or at once when none follows); if the send
    // fails, the rows stay unmarked and the outbox sweeper delivers and publishes them again
    // (an event's id is its fact's: consumers dedupe on it).
    this.room.waitUntil(
      publishRoomEvents(this.env, events).then(
        () => {
          for (const [index, ids] of posted) this.applied.set(index, [...(this.applied.get(index) ?? []), ...ids]);
          // A flush in flight or queued carries the marks; otherwise they are written now.
          if (this.flushesInFlight === 0 && this.queue.length === 0 && this.applied.size > 0)
            this.room.waitUntil(this.markApplied());
        },
        (error: unknown) => this.log.warn("tip_events_publish_failed", { tips: events.length, error: String(error) }),
      ),
    );
    await refusals;
  }

  /** Puts tips back at the queue's head; flushing resumes when one of the tips committing is answered. */
  private waitForRates(cut: readonly Waiting[], resume: Promise<void>): void {
    this.queue.unshift(...cut);
    if (this.waitingForRates) return;
    this.waitingForRates = true;
    void resume.then(() => {
      this.waitingForRates = false;
      this.kick();
    });
  }

  /** Tips refused before any money moved answer by their key's record first (a replay wins). */
  private async answerRefused(
    refused: readonly { waiting: Waiting; shard: LedgerShard; code: ErrorCode; message: string }[],
    nowMs: number,
  ): Promise<void> {
    const byShard = new Map<number, typeof refused>();
    for (const r of refused) byShard.set(r.shard.index, [...(byShard.get(r.shard.index) ?? []), r]);
    await Promise.all(
      [...byShard.values()].map(async (group) => {
        const shard = group[0]?.shard;
        assert(shard, "a group has a shard");
        try {
          const records = await readIdempotencyRecords(
            shard.db,
            group.map((r) => ({ principalId: r.waiting.submission.viewerId, key: r.waiting.submission.key })),
          );
          for (const [i, r] of group.entries()) {
            const record = records[i] ?? null;
            const decision = record === null ? null : decideOnExisting(record, r.waiting.submission.requestHash, nowMs);
            r.waiting.resolve(
              decision === null || decision.kind === "execute"
                ? { kind: "error", code: r.code, message: r.message }
                : answerFromDecision(decision),
            );
          }
        } catch (error) {
          for (const r of group) r.waiting.reject(error);
        }
      }),
    );
  }

  /** Marks what the room applied, when no flush follows to carry the marks. */
  private async markApplied(): Promise<void> {
    const applied = this.applied;
    this.applied = new Map();
    try {
      const ledger = await openLedger(this.env);
      await Promise.all([...applied].map(([index, ids]) => markOutboxApplied(ledger.shard(index), ids, Date.now())));
    } catch (error) {
      // The outbox sweeper delivers them again; the room ignores them as duplicates.
      this.log.warn("tip_outbox_mark_failed", { error: String(error) });
    }
  }
}

function holdKey(s: TipSubmission): string {
  return `${s.viewerId}\n${s.key}`;
}

function tipInputOf(s: TipSubmission): Omit<TipInput, "id"> {
  return { roomId: s.roomId, viewerId: s.viewerId, ask: s.ask satisfies TipAsk, message: s.message ?? null };
}

function inFlight(requestHash: string): StoredIdempotencyRecord {
  return {
    requestHash,
    state: "in_flight",
    lockedUntilMs: Number.MAX_SAFE_INTEGER,
    responseStatus: null,
    responseBody: null,
  };
}

function answerFromDecision(decision: ReturnType<typeof decideOnExisting>): TipAnswer {
  switch (decision.kind) {
    case "replay":
      return { kind: "response", status: decision.status, body: decision.body, replayed: true };
    case "reject":
      return { kind: "error", code: decision.code };
    case "execute":
      // A lapsed in-flight record: the batch removes those first, so another caller holds it.
      return { kind: "error", code: "idempotency_key_in_flight" };
  }
}

function answerOf(outcome: BatchedTipOutcome, tip: BatchedTip | undefined, nowMs: number): TipAnswer {
  switch (outcome.kind) {
    case "posted":
      return { kind: "response", status: outcome.status, body: outcome.body, replayed: false };
    case "rejected":
      return { kind: "error", code: errorForGuard(outcome.code) };
    case "key_taken":
      if (outcome.record === null || tip === undefined) return { kind: "error", code: "idempotency_key_in_flight" };
      return answerFromDecision(decideOnExisting(outcome.record, tip.requestHash, nowMs));
  }
}
