/**
 * Withdrawals, one code path for two owners: a creator's earnings (`/creators/me/withdrawals`,
 * from available) and a user's red-packet winnings (`/me/winnings/withdrawals`, from the
 * wallet's withdrawable part only: docs/adr/0017). Request one (money leaves at once, held in
 * withdrawing), list them with their transitions, read one. The request is decided by
 * domain/withdrawal-request.ts on a fresh read, then held by operations/withdrawal-hold.ts,
 * whose batch re-checks the funds and the day's caps in SQL; an auto-approved one is sent to
 * its channel through the PAYOUTS queue at once.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { isChannel } from "../../channels/channel";
import { composeWithdrawalHold } from "../../db/operations/withdrawal-hold";
import { findDefaultPayoutAccount } from "../../db/reads/payout-accounts";
import { ownerWithdrawals, requestFacts, withdrawalWithSteps } from "../../db/reads/withdrawals";
import { currentRiskSet } from "../../db/risk";
import { switchRefusal } from "../../db/switches";
import { readWinnings } from "../../db/winnings";
import type { WithdrawalOwnerKind } from "../../domain/accounts";
import { addDays, businessDayOf, dayStartMs } from "../../domain/business-day";
import { fail, ok } from "../../domain/errors";
import { parseIdempotencyKey } from "../../domain/idempotency";
import { DEFAULT_CURRENCY, formatMinor, parseAmountMinor } from "../../domain/money";
import { DEFAULT_WITHDRAWAL_POLICY, decideWithdrawal, encodeReviewReasons } from "../../domain/withdrawal-request";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { runIdempotent } from "../idempotency";
import { noticeWithdrawalNow } from "../notifications/notice";
import { requirePin } from "../pin";
import { enqueuePayoutSend } from "../queues/payouts";
import { assessRisk, recordRiskDecision, signalsOf } from "../risk";
import { cashOutChain } from "../risk-cash-out";
import {
  AmountMinor,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PageQuery,
  Pin,
  PrefixedId,
} from "../schemas";
import { WithdrawalSchema, type WithdrawalView, withdrawalView } from "../withdrawal-view";
import { defineRoute } from "./define";

/** An approved withdrawal the queue did not send is sent by the sweeper from this long after. */
export const SEND_BACKSTOP_MS = 60_000;

const WithdrawalRequest = z
  .strictObject({
    amount: DecimalAmount.openapi({ description: 'From your available balance (or winnings), e.g. "100.00".' }),
    pin: Pin.openapi({ description: "Your payment PIN: every withdrawal needs it." }),
  })
  .openapi("WithdrawalRequest");

const WithdrawalId = PrefixedId("wd");

/** Where each owner's withdrawal routes live and who may call them. */
const OWNERS = {
  creator: {
    path: "/creators/me/withdrawals",
    auth: ["creator"],
    tags: ["creators"],
    who: "creator",
  },
  user: {
    path: "/me/winnings/withdrawals",
    auth: "signed-in",
    tags: ["wallets"],
    who: "red-packet winnings",
  },
} as const satisfies Record<WithdrawalOwnerKind, unknown>;

export const creatorWithdrawalRoutes = new OpenAPIHono<AppEnv>();

for (const ownerKind of ["creator", "user"] as const) {
  const owner = OWNERS[ownerKind];
  creatorWithdrawalRoutes.openapi(
    defineRoute({
      method: "post",
      path: owner.path,
      auth: owner.auth,
      rateLimit: { user: "withdrawals", ip: "moneyIp" },
      tags: [...owner.tags],
      summary:
        ownerKind === "creator"
          ? "Request a withdrawal from your available balance (creator)"
          : "Withdraw red-packet winnings to your payout account (never top-ups)",
      description:
        (ownerKind === "creator"
          ? "Moves the amount from available to withdrawing at once. "
          : "Moves the amount from the wallet's withdrawable part (what red-packet claims put in, less what was " +
            "spent beyond top-ups or withdrawn: `GET /v1/me/winnings`) to withdrawing at once; top-up money is " +
            "never withdrawable (`winnings_insufficient`). Same payout channels, review and fee as creators'. ") +
        "Approved at once when every check passes and the " +
        "amount is below the auto-approval threshold, otherwise queued for an operator's review. Refusals: " +
        (ownerKind === "creator" ? "`insufficient_funds` (above available), " : "`winnings_insufficient`, ") +
        "`amount_out_of_range` (below the minimum, or the day's count or " +
        "amount cap), `forbidden` (" +
        (ownerKind === "creator" ? "not verified, " : "") +
        "no payout account, or the account is in its cooling period); the " +
        "payment PIN: `pin_incorrect` (with the tries left), `pin_locked`, `pin_not_set`.",
      request: { headers: IdempotencyKeyHeader, body: jsonBody(WithdrawalRequest) },
      responses: {
        201: jsonResponse(z.object({ withdrawal: WithdrawalSchema }), "Requested (held)"),
        ...errorResponses(400, 401, 403, 409, 422, 423, 428, 503),
      },
    }),
    async (c) => {
      // Not in the request's fingerprint (a stored hash would give the six digits away).
      const { pin, ...body } = c.req.valid("json");
      const creatorId = c.var.principal.userId;
      const ledger = c.var.ledger;
      const shard = ledger.forOwner(creatorId);
      // Before the key is claimed (a wrong PIN leaves no trace but its counted try), after it is
      // read: a request refused for its header spends no try.
      const parsedKey = parseIdempotencyKey(c.req.header("idempotency-key"));
      if (!parsedKey.ok) throw ApiError.from(parsedKey);
      await requirePin(shard, creatorId, pin, Date.now());
      const key = c.req.header("idempotency-key") ?? "";
      const timeZone = c.var.config.businessTimeZone;
      const { withdrawalFee } = c.var.config;
      const policy = {
        ...DEFAULT_WITHDRAWAL_POLICY,
        feeFixedMinor: withdrawalFee.fixedMinor,
        feeBps: withdrawalFee.bps,
      };
      return runIdempotent(c, { shard, bucket: ledger.bucketOf(creatorId) }, "wd", body, async (id, nowMs) => {
        // Money read-only (a runtime switch): refused before anything is held.
        const paused = await switchRefusal(ledger.control, c.var.config.switchCacheTtlMs, {
          kind: "withdrawal_request",
        });
        if (paused !== null) return fail(paused.code);
        const amount = parseAmountMinor(body.amount);
        if (!amount.ok) return amount;
        const day = businessDayOf(nowMs, timeZone);
        const startMs = dayStartMs(day, timeZone);
        const endMs = dayStartMs(addDays(day, 1), timeZone);
        const [facts, account] = await Promise.all([
          requestFacts(ledger, { kind: ownerKind, id: creatorId }, { startMs, endMs }),
          findDefaultPayoutAccount(ledger.control, creatorId),
        ]);
        // Risk before anything is held (a blacklisted payout account, a velocity rule…); the key is
        // released. Every withdrawal carries a verified PIN, which answers a challenge.
        const risk = await currentRiskSet(ledger.control, c.var.config.switchCacheTtlMs, nowMs);
        await assessRisk(
          c,
          {
            action: "withdrawal",
            amountMinor: amount.value,
            payoutAccount: account?.id ?? null,
            pinVerified: true,
          },
          risk,
        );
        // The cash-out chain (risk rule `cash_out_chain`): read from the ledger, holds for review or refuses.
        const chain = await cashOutChain(
          ledger,
          risk.rules.flatMap((r) => (r.kind === "cash_out_chain" ? [r] : [])),
          creatorId,
          nowMs,
        );
        if (chain !== null) {
          const signals = signalsOf(c, {
            action: "withdrawal",
            amountMinor: amount.value,
            payoutAccount: account?.id ?? null,
          });
          const fired = [
            { ruleId: chain.rule.id, outcome: chain.rule.outcome, reason: "cash_out_chain", detail: chain.detail },
          ];
          const decisionId = recordRiskDecision(c, signals, fired, chain.rule.outcome, nowMs);
          if (chain.rule.outcome === "block") throw new ApiError("risk_blocked", undefined, { decisionId });
        }
        const decision = decideWithdrawal(
          {
            amountMinor: amount.value,
            availableMinor: facts.availableMinor,
            // A user's payee is a real-name channel account (WeChat, Alipay); creators verify with us.
            verified: ownerKind === "user" || facts.verified,
            riskFlagged: facts.riskHold,
            cashOutChain: chain?.detail ?? null,
            // The account's cooling ends policy.coolingMs after it was bound or changed.
            payoutAccountSinceMs: account ? account.cooling_until_ms - policy.coolingMs : null,
            todayCount: facts.todayCount,
            todayAmountMinor: facts.todayAmountMinor,
            nowMs,
          },
          policy,
        );
        if (!decision.ok) {
          // Top-ups are never withdrawable: a user's "available" is the winnings alone.
          if (ownerKind === "user" && decision.reason === "withdrawal_insufficient_available")
            return fail("winnings_insufficient");
          return fail(decision.code, `The withdrawal is refused: ${decision.reason}.`);
        }
        if (!account || !isChannel(account.channel))
          return fail("forbidden", "The payout account's channel is unknown.");
        const hold = {
          id,
          ownerKind,
          creatorId,
          amountMinor: decision.amountMinor,
          feeMinor: decision.feeMinor,
          currency: DEFAULT_CURRENCY,
          channel: account.channel,
          payoutAccountId: account.id,
          destinationMasked: account.masked,
          approval: decision.approval,
          reviewReasons: decision.reviewReasons,
          reviewDetails: decision.reviewDetails,
          idempotencyKey: key,
          dayStartMs: startMs,
          dayEndMs: endMs,
          perDayMax: policy.perDayMax,
          dailyAmountMaxMinor: policy.dailyAmountMaxMinor,
          sendBackstopAtMs: nowMs + SEND_BACKSTOP_MS,
          nowMs,
        } as const;
        const auto = decision.approval === "auto";
        const withdrawal: WithdrawalView = withdrawalView({
          row: {
            id,
            creator_id: creatorId,
            owner_kind: ownerKind,
            amount_minor: hold.amountMinor,
            fee_minor: hold.feeMinor,
            currency: hold.currency,
            channel: hold.channel,
            payout_account_id: hold.payoutAccountId,
            destination_masked: hold.destinationMasked,
            state: auto ? "approved" : "requested",
            review: auto ? "auto" : "manual",
            review_reasons: auto ? null : encodeReviewReasons(hold.reviewReasons, hold.reviewDetails),
            reviewer_id: null,
            reject_reason: null,
            failure_reason: null,
            provider_ref: null,
            channel_state: null,
            paying_since_ms: null,
            query_attempts: 0,
            next_query_at_ms: auto ? hold.sendBackstopAtMs : null,
            stuck_flagged_at_ms: null,
            idempotency_key: key,
            transition_count: auto ? 2 : 1,
            created_at_ms: nowMs,
            updated_at_ms: nowMs,
          },
          transitions: [
            {
              withdrawal_id: id,
              seq: 1,
              from_state: null,
              to_state: "requested",
              cause: "request",
              ref: null,
              actor_id: creatorId,
              at_ms: nowMs,
            },
            ...(auto
              ? [
                  {
                    withdrawal_id: id,
                    seq: 2,
                    from_state: "requested" as const,
                    to_state: "approved" as const,
                    cause: "auto_approve",
                    ref: null,
                    actor_id: null,
                    at_ms: nowMs,
                  },
                ]
              : []),
          ],
        });
        return ok({
          compose: (attach) => composeWithdrawalHold(shard, hold, attach),
          status: 201,
          body: { withdrawal },
          patches: [],
          onPosted: () => {
            if (auto) c.executionCtx.waitUntil(enqueuePayoutSend(c.env, id, c.var.log));
            c.executionCtx.waitUntil(noticeWithdrawalNow(c.env, c.var.ledger, id, nowMs, c.var.log));
          },
        });
      });
    },
  );

  creatorWithdrawalRoutes.openapi(
    defineRoute({
      method: "get",
      path: owner.path,
      auth: owner.auth,
      tags: [...owner.tags],
      summary: `Your withdrawals, newest first, each with its transitions (${owner.who})`,
      request: { query: PageQuery },
      responses: {
        200: jsonResponse(
          z.object({ withdrawals: z.array(WithdrawalSchema), nextCursor: z.string().nullable() }),
          "A page of withdrawals",
        ),
        ...errorResponses(400, 401, 403),
      },
    }),
    async (c) => {
      const { cursor, limit } = c.req.valid("query");
      const page = await ownerWithdrawals(
        c.var.ledger,
        { kind: ownerKind, id: c.var.principal.userId },
        cursor ?? null,
        limit + 1,
      );
      const shown = page.slice(0, limit);
      return c.json(
        {
          withdrawals: shown.map(withdrawalView),
          nextCursor: page.length > limit ? (shown.at(-1)?.row.id ?? null) : null,
        },
        200,
      );
    },
  );

  creatorWithdrawalRoutes.openapi(
    defineRoute({
      method: "get",
      path: `${owner.path}/{withdrawalId}`,
      auth: owner.auth,
      tags: [...owner.tags],
      summary: `One of your withdrawals with its transitions (${owner.who})`,
      request: {
        params: z.object({ withdrawalId: WithdrawalId.openapi({ param: { name: "withdrawalId", in: "path" } }) }),
      },
      responses: {
        200: jsonResponse(z.object({ withdrawal: WithdrawalSchema }), "The withdrawal"),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { withdrawalId } = c.req.valid("param");
      const found = await withdrawalWithSteps(c.var.ledger, withdrawalId);
      if (!found || found.row.creator_id !== c.var.principal.userId || found.row.owner_kind !== ownerKind) {
        throw new ApiError("not_found", "There is no such withdrawal of yours.");
      }
      return c.json({ withdrawal: withdrawalView(found) }, 200);
    },
  );
}

const WinningsSchema = z
  .object({
    withdrawableMinor: AmountMinor.openapi({
      description: "What you may withdraw now: winnings not spent or withdrawn, never more than the wallet.",
    }),
    withdrawable: z.string().openapi({ example: "12.34" }),
    walletMinor: AmountMinor.openapi({ description: "The whole wallet (top-ups and winnings)." }),
    claimedMinor: AmountMinor.openapi({ description: "Everything red-packet claims have put in." }),
    withdrawnMinor: AmountMinor.openapi({ description: "Winnings withdrawals not given back (on the way or paid)." }),
    currency: z.string(),
  })
  .openapi("Winnings");

creatorWithdrawalRoutes.openapi(
  defineRoute({
    method: "get",
    path: "/me/winnings",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Your withdrawable red-packet winnings beside the wallet",
    description:
      "Top-ups are spent first: winnings become unwithdrawable only once spending goes below them (docs/adr/0017).",
    responses: {
      200: jsonResponse(z.object({ winnings: WinningsSchema }), "The wallet's withdrawable part"),
      ...errorResponses(401),
    },
  }),
  async (c) => {
    const userId = c.var.principal.userId;
    const w = await readWinnings(c.var.ledger.forOwner(userId), userId);
    return c.json(
      {
        winnings: {
          ...w,
          withdrawable: formatMinor(w.withdrawableMinor),
          currency: DEFAULT_CURRENCY,
        },
      },
      200,
    );
  },
);
