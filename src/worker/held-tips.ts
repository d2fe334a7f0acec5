/**
 * Held tips at the edge (issue 16, risk outcome `review`; docs/ARCHITECTURE.md, "Held tips"):
 * the room tip route and the content tip route (issue 19) hold a tip a rule sent to review
 * (`holdTip`: 202), an operator approves or
 * declines it (`approveHeldTip`, `declineHeldTip`), and the sweeper declines what nobody
 * decided in time (`expireHeldTips`). Money moves only in operations/tip-hold.ts and
 * tip-hold-release.ts; each decision's audit entry is in its batch.
 */

import type { Context } from "hono";
import { withAuditEntry } from "../db/audit";
import { emitOperationEvents } from "../db/business-events";
import { expiredHeldTips, findHeldTip, type HeldTip } from "../db/held-tips";
import { runOperation } from "../db/ledger";
import {
  type AnyPreparedTip,
  type AutopayCheck,
  prepareContentTip,
  prepareTip,
  type RateFacts,
  rateTip,
  type TipAsk,
} from "../db/operations/tip";
import {
  composeTipHold,
  type HeldTipTarget,
  heldTipReceipt,
  heldTipTipId,
  type TipHold,
} from "../db/operations/tip-hold";
import { composeHeldTipApprove, composeHeldTipRelease } from "../db/operations/tip-hold-release";
import { autopayCheckFor } from "../db/reads/autopay";
import { type Ledger, openLedger } from "../db/shards";
import { accountAddress } from "../domain/accounts";
import { type ErrorCode, ok, type Result } from "../domain/errors";
import { decideHeldTip } from "../domain/held-tip";
import { LIMITS } from "../domain/limits";
import type { ModeratedMessage } from "../domain/moderation";
import type { Logger } from "../platform/logger";
import { operatorAction, systemAction } from "./audit";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { balancePatch, type ParsedIdempotency, runIdempotent } from "./idempotency";
import type { RiskReview } from "./risk";
import { deliverAfterCommit } from "./rooms/outbox";
import { tipRulesWithRooms } from "./rooms/tip-rates";

export interface HoldRequest {
  /** A room's tip or a content item's (issue 19). */
  readonly target: HeldTipTarget;
  readonly viewerId: string;
  readonly ask: TipAsk;
  readonly message: ModeratedMessage | null;
  /** The payer confirmed with their PIN: the 小额免密 limits do not apply to the hold. */
  readonly confirmed: boolean;
  readonly review: RiskReview;
  /** The request as fingerprinted under its Idempotency-Key (the tip route's, room or content). */
  readonly request: Record<string, unknown>;
  readonly idempotency: ParsedIdempotency;
}

/** Prices the tip `target` would get now, as its route would (a room's or a content item's). */
function prepareFor(
  c: Context<AppEnv>,
  target: HeldTipTarget,
  input: { id: string; viewerId: string; ask: TipAsk; message: ModeratedMessage | null },
  nowMs: number,
): Promise<Result<AnyPreparedTip & { readonly rates: RateFacts }, ErrorCode>> {
  const { control } = c.var.ledger;
  return "roomId" in target
    ? prepareTip(control, c.var.config, { ...input, roomId: target.roomId }, nowMs)
    : prepareContentTip(control, c.var.config, { ...input, contentId: target.contentId }, nowMs);
}

/** A held tip's target, from its row (the CHECK `held_tips_target` keeps exactly one). */
function targetOf(held: HeldTip): HeldTipTarget {
  return held.contentId !== null ? { contentId: held.contentId } : { roomId: held.roomId as string };
}

/**
 * Holds the tip under its Idempotency-Key: 202 with the held tip, or the code that refused it
 * (priced as the tip would be: room not live, item not found, gift disabled, self tip…; then the batch's:
 * insufficient funds, 小额免密 limits). A replay of the key answers what it first answered.
 */
export async function holdTip(c: Context<AppEnv>, r: HoldRequest): Promise<Response> {
  const { ledger } = c.var;
  const shard = ledger.forOwner(r.viewerId);
  const response = await runIdempotent(
    c,
    { shard, bucket: ledger.bucketOf(r.viewerId) },
    "held",
    r.request,
    async (id, nowMs) => {
      const [tip, autopay] = await Promise.all([
        prepareFor(c, r.target, { id: heldTipTipId(id), viewerId: r.viewerId, ask: r.ask, message: r.message }, nowMs),
        r.confirmed ? null : autopayCheckFor(shard.db, c.var.config, r.viewerId, nowMs),
      ]);
      if (!tip.ok) return tip;
      const { priced } = tip.value;
      const hold: TipHold = {
        id,
        viewerId: r.viewerId,
        target: r.target,
        creatorId: tip.value.creatorId,
        ask: r.ask,
        giftId: priced.giftId,
        quantity: priced.quantity,
        amountMinor: priced.amountMinor,
        message: r.message,
        decisionId: r.review.decisionId,
        fired: r.review.fired,
        idempotencyKey: r.idempotency.key,
        nowMs,
        expiresAtMs: nowMs + LIMITS.heldTipDecideWithinMs,
        ...(autopay === null ? {} : { autopay: autopay satisfies AutopayCheck }),
      };
      return ok({
        compose: (attach) => composeTipHold(shard, hold, attach),
        status: 202,
        body: heldTipReceipt(hold),
        patches: [balancePatch("$.walletBalanceMinor", accountAddress.userWallet(r.viewerId))],
        onPosted: () =>
          c.var.log.warn("tip_held", {
            heldTipId: id,
            viewerId: r.viewerId,
            ...r.target,
            amountMinor: priced.amountMinor,
            decisionId: r.review.decisionId,
          }),
      });
    },
    r.idempotency,
  );
  // A stored response (or an error) as runIdempotent gives it, whatever its typed view says.
  return response as unknown as Response;
}

async function mustFind(ledger: Ledger, id: string): Promise<HeldTip> {
  const held = await findHeldTip(ledger, id);
  if (held === null) throw new ApiError("held_tip_not_found");
  return held;
}

/**
 * Approves a held tip: the held money becomes the tip, priced and rated now as a wallet tip
 * would be (the room must be live; its tier rate from the room), and the room hears of it
 * through its outbox; a content item's becomes a tip on the item (its business event
 * `tip.created` sent after commit, and by the sweeper if that send is lost). Approving an approved tip again answers it unchanged; a declined or
 * expired one is `held_tip_decided`; one whose price or creator changed is `held_tip_changed`
 * (decline it). Of concurrent decisions exactly one moves money (the batch's guard).
 */
export async function approveHeldTip(c: Context<AppEnv>, id: string): Promise<HeldTip> {
  const { ledger } = c.var;
  const actorId = c.var.principal.userId;
  for (let attempt = 0; attempt < 3; attempt++) {
    const held = await mustFind(ledger, id);
    const t = decideHeldTip(held.state, "approve");
    if (!t.ok) throw new ApiError(t.code);
    if (!t.changed) return held;
    const nowMs = Date.now();
    const target = targetOf(held);
    const prepared = await prepareFor(
      c,
      target,
      { id: held.tipId, viewerId: held.viewerId, ask: held.ask, message: held.message },
      nowMs,
    );
    if (!prepared.ok) throw ApiError.from(prepared);
    if (prepared.value.priced.amountMinor !== held.amountMinor || prepared.value.creatorId !== held.creatorId) {
      throw new ApiError("held_tip_changed");
    }
    const rated = await rateTip(tipRulesWithRooms(c.env, c.var.config), prepared.value);
    const shard = ledger.forId(id);
    let posted = false;
    try {
      const audit = operatorAction(c, {
        action: "risk_review.approve",
        target: id,
        before: { state: "held" },
        after: { state: "approved", tipId: held.tipId, amountMinor: held.amountMinor },
      });
      const { verdict } = await withAuditEntry(shard.db, audit, (draft) =>
        runOperation(
          shard,
          composeHeldTipApprove(shard, held, rated.tip, actorId, (posting) => [draft.statement(posting)]),
        ),
      );
      if (verdict.kind === "posted") {
        posted = true;
        c.var.log.warn("held_tip_approved", { heldTipId: id, tipId: held.tipId, actorId });
        if ("roomId" in target) {
          // Tell the room (big gifts go out at once); the outbox row guarantees it hears eventually.
          c.executionCtx.waitUntil(deliverAfterCommit(c.env, ledger, shard.index, [held.tipId], c.var.log));
        } else {
          // A content tip's business event, as the content tip route sends it (the sweeper repairs a lost send).
          c.executionCtx.waitUntil(emitOperationEvents(c.env, shard, [{ id: held.tipId, kind: "tip" }], c.var.log));
        }
      } else if (verdict.kind === "rejected" && verdict.code === "tip_rate_expired") {
        continue; // the quoted rate outlived its time: quote again
      } else if (verdict.kind === "rejected" && verdict.code !== "held_tip_not_held") {
        throw new ApiError("conflict", `The approval was refused: ${verdict.code}.`);
      }
      // Posted, or another decision came first ("exists", `held_tip_not_held`): answer from the row.
      const after = await mustFind(ledger, id);
      const again = decideHeldTip(after.state, "approve");
      if (!again.ok) throw new ApiError(again.code);
      return after;
    } finally {
      c.executionCtx.waitUntil(rated.settle(posted ? "posted" : "failed"));
    }
  }
  throw new ApiError("conflict");
}

/**
 * Declines a held tip: its money back to the payer's wallet, once. Declining a declined one
 * again answers it unchanged; an approved or expired one is `held_tip_decided`.
 */
export async function declineHeldTip(c: Context<AppEnv>, id: string, reason: string): Promise<HeldTip> {
  const { ledger } = c.var;
  const actorId = c.var.principal.userId;
  const held = await mustFind(ledger, id);
  const t = decideHeldTip(held.state, "decline");
  if (!t.ok) throw new ApiError(t.code);
  if (!t.changed) return held;
  const shard = ledger.forId(id);
  const audit = operatorAction(c, {
    action: "risk_review.decline",
    target: id,
    before: { state: "held" },
    after: { state: "declined", amountMinor: held.amountMinor, reason },
  });
  const { verdict } = await withAuditEntry(shard.db, audit, (draft) =>
    runOperation(
      shard,
      composeHeldTipRelease(shard, held, "decline", actorId, reason, Date.now(), (posting) => [
        draft.statement(posting),
      ]),
    ),
  );
  if (verdict.kind === "rejected" && verdict.code !== "held_tip_not_held") {
    throw new ApiError("conflict", `The decline was refused: ${verdict.code}.`);
  }
  if (verdict.kind === "posted") c.var.log.warn("held_tip_declined", { heldTipId: id, actorId });
  const after = await mustFind(ledger, id);
  const again = decideHeldTip(after.state, "decline");
  if (!again.ok) throw new ApiError(again.code);
  return after;
}

/**
 * The sweeper (cron `held-tip-sweep`): every held tip nobody decided within
 * `LIMITS.heldTipDecideWithinMs` is declined as `expired`, its money back to the wallet, each
 * with its audit entry (actor `system:held-tip-sweep`). A race with an operator's decision
 * decides once (the batch's guard); the loser is counted as `raced`.
 */
export async function expireHeldTips(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ expired: number; raced: number }> {
  const ledger = await openLedger(env, nowMs);
  let expired = 0;
  let raced = 0;
  for (const shard of ledger.shards) {
    const due = await expiredHeldTips(shard.db, nowMs, LIMITS.heldTipsExpiredPerSweepMax);
    for (const held of due) {
      const reason = `not decided within ${LIMITS.heldTipDecideWithinMs / 3_600_000} h`;
      const audit = systemAction("held-tip-sweep", `held-tip-sweep:${nowMs}`, {
        action: "risk_review.expire",
        target: held.id,
        before: { state: "held" },
        after: { state: "expired", amountMinor: held.amountMinor },
      });
      const { verdict } = await withAuditEntry(shard.db, audit, (draft) =>
        runOperation(
          shard,
          composeHeldTipRelease(shard, held, "expire", "system:held-tip-sweep", reason, nowMs, (posting) => [
            draft.statement(posting),
          ]),
        ),
      );
      if (verdict.kind === "posted") {
        expired++;
        log.warn("held_tip_expired", { heldTipId: held.id, viewerId: held.viewerId, amountMinor: held.amountMinor });
      } else raced++;
    }
  }
  return { expired, raced };
}
