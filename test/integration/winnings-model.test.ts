/**
 * The winnings split under random histories (docs/adr/0017): top-ups, claims, spends,
 * withdrawals and rejections of one user, run against the real shard (the trigger, the hold's
 * guard, the release) and against a model of the rule — top-ups are spent first, winnings
 * never exceed the wallet, a withdrawal takes winnings only. After every step the shard's
 * numbers equal the model's; after every history the invariant checker is clean.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runOperation } from "../../src/db/ledger";
import { postAdjustment } from "../../src/db/operations/adjustment";
import { composeWithdrawalHold } from "../../src/db/operations/withdrawal-hold";
import { composeWithdrawalRelease } from "../../src/db/operations/withdrawal-release";
import { openLedger } from "../../src/db/shards";
import { readWinnings, winningsCreditStatements } from "../../src/db/winnings";
import { accountAddress } from "../../src/domain/accounts";
import { newOwnedId } from "../../src/domain/ids";
import { operationRows } from "../support/ledger-rows";
import { invariantReport, settleTransit } from "./helpers";

type Step =
  | { readonly kind: "topup" | "claim" | "spend" | "withdraw"; readonly amountMinor: number }
  | { readonly kind: "reject" };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("topup", "claim", "spend", "withdraw"),
    amountMinor: fc.integer({ min: 1, max: 5_000 }),
  }),
  fc.constant({ kind: "reject" as const }),
);

interface Model {
  wallet: number;
  withdrawable: number;
  claimed: number;
  withdrawn: number;
  open: { id: string; amountMinor: number }[];
}

let run = 0;

describe("the winnings split against its model", () => {
  it("random histories of top-ups, claims, spends, withdrawals and rejections", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        const userId = `wm-${Date.now().toString(36)}-${++run}`;
        const ledger = await openLedger(env);
        const shard = ledger.forOwner(userId);
        const wallet = accountAddress.userWallet(userId);
        const m: Model = { wallet: 0, withdrawable: 0, claimed: 0, withdrawn: 0, open: [] };
        let n = 0;
        for (const s of steps) {
          const nowMs = Date.now();
          const id = `${userId}-${++n}`;
          if (s.kind === "topup" || (s.kind === "spend" && s.amountMinor <= m.wallet)) {
            const verdict = await postAdjustment(
              shard,
              {
                id,
                userId,
                direction: s.kind === "topup" ? "credit" : "debit",
                amountMinor: s.amountMinor,
                reason: "model",
                actorId: "test:model",
              },
              nowMs,
            );
            expect(verdict).toEqual({ kind: "posted" });
            if (s.kind === "topup") m.wallet += s.amountMinor;
            else {
              m.wallet -= s.amountMinor;
              m.withdrawable = Math.min(m.withdrawable, m.wallet);
            }
          } else if (s.kind === "claim") {
            // The claim's two halves as packet-claim.ts writes them: the wallet's credit, then the winnings.
            const always = { sql: "1", params: [] };
            await shard.db.batch([
              ...operationRows(shard.db, {
                id,
                kind: "adjustment",
                postings: [{ from: accountAddress.worldAdjustments(), to: wallet, amountMinor: s.amountMinor }],
                atMs: nowMs,
              }),
              ...winningsCreditStatements(shard, [{ to: wallet, amountMinor: s.amountMinor }], "CNY", nowMs, always),
            ]);
            m.wallet += s.amountMinor;
            m.withdrawable += s.amountMinor;
            m.claimed += s.amountMinor;
          } else if (s.kind === "withdraw") {
            const wid = newOwnedId("wd", ledger.bucketOf(userId), nowMs);
            const { verdict } = await runOperation(
              shard,
              composeWithdrawalHold(shard, {
                id: wid,
                ownerKind: "user",
                creatorId: userId,
                amountMinor: s.amountMinor,
                feeMinor: 0,
                currency: "CNY",
                channel: "sandbox",
                payoutAccountId: "pa_model",
                destinationMasked: "sandbox ****",
                approval: "review",
                reviewReasons: ["amount_at_or_above_auto_approval"],
                idempotencyKey: wid,
                dayStartMs: nowMs - 1_000,
                dayEndMs: nowMs + 1_000,
                perDayMax: 1_000,
                dailyAmountMaxMinor: 100_000_000,
                sendBackstopAtMs: nowMs + 60_000,
                nowMs,
              }),
            );
            if (s.amountMinor <= m.withdrawable) {
              expect(verdict).toEqual({ kind: "posted" });
              m.wallet -= s.amountMinor;
              m.withdrawable -= s.amountMinor;
              m.withdrawn += s.amountMinor;
              m.open.push({ id: wid, amountMinor: s.amountMinor });
            } else {
              expect(verdict).toEqual({ kind: "rejected", code: "winnings_insufficient" });
            }
          } else if (s.kind === "reject" && m.open.length > 0) {
            const w = m.open.pop();
            if (!w) throw new Error("an open withdrawal");
            const { verdict } = await runOperation(
              shard,
              composeWithdrawalRelease(shard, {
                withdrawal: {
                  id: w.id,
                  creator_id: userId,
                  owner_kind: "user",
                  amount_minor: w.amountMinor,
                  currency: "CNY",
                },
                from: "requested",
                cause: "reject",
                ref: null,
                actorId: "test:model",
                reason: "model",
                nowMs,
              }),
            );
            expect(verdict).toEqual({ kind: "posted" });
            m.wallet += w.amountMinor;
            m.withdrawable += w.amountMinor;
            m.withdrawn -= w.amountMinor;
          }
          expect(await readWinnings(shard, userId)).toEqual({
            walletMinor: m.wallet,
            withdrawableMinor: m.withdrawable,
            claimedMinor: m.claimed,
            withdrawnMinor: m.withdrawn,
          });
        }
        await settleTransit();
        const report = await invariantReport();
        expect(report.violations).toEqual([]);
      }),
      { numRuns: 12 },
    );
  });
});
