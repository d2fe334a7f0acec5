/**
 * What the two routes that give a creator's earning back to its payer share — an operator's tip
 * reversal (routes/tip-reversals.ts) and unlock refund (routes/unlock-refunds.ts), whose legs
 * share db/earning-return.ts: the request (a reason), the tail of the row's view, the second
 * leg run at once after the creator's leg, and the loop that runs the creator's leg under the
 * Idempotency-Key. Each route keeps its own names, codes, audit and view.
 */

import { z } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import type { Verdict } from "../db/ledger";
import type { ErrorCode } from "../domain/errors";
import type { IdPrefix } from "../domain/ids";
import { LIMITS } from "../domain/limits";
import type { AppEnv } from "./context";
import { type IdempotencyTarget, type IdempotentBuild, runIdempotent } from "./idempotency";
import { AmountMinor } from "./schemas";

/** The operator's request: why the earning goes back (named `name` in the OpenAPI document). */
export function earningReturnRequest(name: string, exampleReason: string) {
  return z
    .strictObject({ reason: z.string().trim().min(1).max(LIMITS.reasonMaxLength) })
    .openapi(name, { example: { reason: exampleReason } });
}

/**
 * The fields a return's view ends with, amounts to time, in this order; `leg` names the flag
 * that the second leg (the platform's part back to the payer) is done.
 */
export function earningReturnFields<K extends string>(earning: "tip" | "unlock", leg: K, legDescription: string) {
  const legDone = { [leg]: z.boolean().openapi({ description: legDescription }) } as Record<K, z.ZodBoolean>;
  return {
    amountMinor: AmountMinor,
    platformMinor: AmountMinor,
    creatorMinor: AmountMinor,
    source: z.enum(["pending", "receivable"]).openapi({
      description:
        `\`pending\`: the ${earning}'s day was not settled, its creator part left pending. \`receivable\`: it was ` +
        "settled; the creator owes it and later settlements offset it.",
    }),
    ...legDone,
    reason: z.string(),
    actorId: z.string(),
    currency: z.string(),
    createdAtMs: z.number().int(),
  };
}

/**
 * The second leg, at once; a failure here is completed by the reversal sweeper (logged as
 * `logs.deferred`; a refusal is an alert, `logs.refused`). `afterPosted` runs when it did not
 * refuse. Answers the row as stored now (`reread`), or as given if it is gone.
 */
export async function finishSecondLeg<Row extends { readonly id: string }>(
  c: Context<AppEnv>,
  row: Row,
  leg: {
    readonly done: (row: Row) => boolean;
    readonly complete: (row: Row) => Promise<Verdict>;
    readonly afterPosted?: (row: Row) => void;
    readonly reread: () => Promise<Row | null>;
    readonly logs: { readonly refused: string; readonly deferred: string; readonly idField: string };
  },
): Promise<Row> {
  if (leg.done(row)) return row;
  try {
    const verdict = await leg.complete(row);
    if (verdict.kind === "rejected") {
      c.var.log.error(leg.logs.refused, { [leg.logs.idField]: row.id, code: verdict.code });
    } else leg.afterPosted?.(row);
  } catch (error) {
    c.var.log.warn(leg.logs.deferred, { [leg.logs.idField]: row.id, error: String(error) });
  }
  return (await leg.reread()) ?? row;
}

/**
 * The creator's leg under the Idempotency-Key. A settlement of the earning's day may commit
 * between the plan and the batch: the leg's route guard refuses it then (409 `conflict`), the
 * key is released in that batch, and the plan is re-read (three attempts in all). The stored
 * answer (201, and its replays) says what the creator's leg committed: `afterMade` then runs on
 * the stored row (the second leg, which finds itself done on a replay). 409 `alreadyCode`
 * (returned already, under another key): `answerExisting` answers with the stored row. Any
 * other answer passes through as is (its bytes are what the key promised).
 */
export async function runEarningReturn<TBody extends Record<string, unknown>, Row>(
  c: Context<AppEnv>,
  run: {
    readonly target: IdempotencyTarget;
    readonly prefix: IdPrefix;
    readonly request: Record<string, unknown>;
    readonly build: IdempotentBuild<TBody>;
    readonly alreadyCode: ErrorCode;
    readonly stored: () => Promise<Row | null>;
    readonly afterMade: (row: Row) => Promise<void>;
    readonly answerExisting: (row: Row) => Promise<Response>;
  },
): Promise<TypedResponse<TBody, 201, "json">> {
  const typed = (response: Response) => response as unknown as TypedResponse<TBody, 201, "json">;
  for (let attempt = 1; ; attempt++) {
    const response = (await runIdempotent(c, run.target, run.prefix, run.request, run.build)) as unknown as Response;
    if (response.status === 201) {
      const stored = await run.stored();
      if (stored !== null) await run.afterMade(stored);
      return typed(response);
    }
    if (response.status !== 409) return typed(response);
    const code = ((await response.clone().json()) as { error: { code: string } }).error.code;
    if (code === run.alreadyCode) {
      const existing = await run.stored();
      if (existing !== null) return typed(await run.answerExisting(existing));
    }
    if (code !== "conflict" || attempt >= 3) return typed(response);
  }
}
