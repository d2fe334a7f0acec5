import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { historyCoverage } from "../../db/archive/coverage";
import { composeAdjustment } from "../../db/operations/adjustment";
import { switchRefusal } from "../../db/switches";
import { accountAddress } from "../../domain/accounts";
import { fail, ok } from "../../domain/errors";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { balancePatch, runIdempotent } from "../idempotency";
import { operatorMay } from "../middleware/auth";
import { money } from "../money-view";
import { fourEyes } from "../proposals";
import {
  AmountMinor,
  Currency,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PageQuery,
  UserId,
} from "../schemas";
import { defineRoute } from "./define";

export const WalletSchema = z
  .object({ userId: UserId, currency: Currency, balanceMinor: AmountMinor, balance: z.string() })
  .openapi("Wallet");

export const WalletEntrySchema = z
  .object({
    transferId: z.number().int(),
    operationId: z.string(),
    kind: z.string().openapi({ example: "tip" }),
    direction: z.enum(["credit", "debit"]),
    amountMinor: AmountMinor,
    amount: z.string(),
    counterparty: z.string().openapi({ example: "creator:creator-1:pending" }),
    createdAtMs: z.number().int(),
  })
  .openapi("WalletEntry");

export const ArchivedHistorySchema = z
  .object({
    archiveId: z.string().openapi({ example: "arc-s0-000000123456" }),
    fromMs: z.number().int(),
    toMs: z.number().int(),
  })
  .openapi("ArchivedHistory", {
    description:
      "An archive of the wallet's ledger shard holding history created in [fromMs, toMs): entries of this page's time span may be there rather than in `items`.",
  });

export const AdjustmentRequest = z
  .strictObject({
    direction: z.enum(["credit", "debit"]),
    amount: DecimalAmount,
    reason: z.string().trim().min(3).max(LIMITS.reasonMaxLength),
  })
  .openapi("AdjustmentRequest");

export const AdjustmentSchema = z
  .object({
    adjustment: z.object({
      id: z.string(),
      userId: UserId,
      direction: z.enum(["credit", "debit"]),
      amountMinor: AmountMinor,
      amount: z.string(),
      reason: z.string(),
      actorId: z.string(),
      createdAtMs: z.number().int(),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("Adjustment");

const params = z.object({ userId: UserId.openapi({ param: { name: "userId", in: "path" } }) });

export const wallets = new OpenAPIHono<AppEnv>();

/** Your own wallet, or anyone's for an operator holding `wallet.read` (the operator directory's say). */
async function assertMayRead(c: Context<AppEnv>, userId: string): Promise<void> {
  if (c.var.principal.userId === userId || (await operatorMay(c, "wallet.read"))) return;
  throw new ApiError("forbidden", "You can only read your own wallet.");
}

wallets.openapi(
  defineRoute({
    method: "get",
    path: "/users/{userId}/wallet",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "A user's wallet balance (yourself, or any user for an operator with wallet.read)",
    request: { params },
    responses: { 200: jsonResponse(WalletSchema, "The wallet"), ...errorResponses(401, 403) },
  }),
  async (c) => {
    const { userId } = c.req.valid("param");
    await assertMayRead(c, userId);
    const row = await c.var.ledger
      .forOwner(userId)
      .db.prepare("SELECT balance_minor, currency FROM accounts WHERE address = ?")
      .bind(accountAddress.userWallet(userId))
      .first<{ balance_minor: number; currency: "CNY" }>();
    // Every user has a wallet; one that never received money is simply empty.
    const balanceMinor = row?.balance_minor ?? 0;
    return c.json(
      { userId, currency: row?.currency ?? DEFAULT_CURRENCY, balanceMinor, balance: money(balanceMinor).amount },
      200,
    );
  },
);

wallets.openapi(
  defineRoute({
    method: "get",
    path: "/users/{userId}/wallet/transactions",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Wallet history, newest first, cursor-paginated",
    request: { params, query: PageQuery },
    responses: {
      200: jsonResponse(
        z
          .object({
            items: z.array(WalletEntrySchema),
            nextCursor: z.string().nullable(),
            archived: z.array(ArchivedHistorySchema),
          })
          .openapi("WalletHistory"),
        "A page of entries",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { userId } = c.req.valid("param");
    const { cursor, limit } = c.req.valid("query");
    await assertMayRead(c, userId);
    const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : Number(cursor);
    if (!Number.isSafeInteger(before) || before < 0)
      throw new ApiError("malformed_request", "The cursor is not valid.");
    const address = accountAddress.userWallet(userId);
    const { db } = c.var.ledger.forOwner(userId);
    // Two index range scans (from / to), merged; an OR would scan the whole table. A credit
    // that crossed from another shard shows as the operation it belongs to (a claim, a tip).
    const { results } = await db
      .prepare(
        `SELECT t.id, COALESCE(json_extract(o.metadata, '$.operationId'), t.operation_id) AS operation_id,
         CASE o.kind WHEN 'transit_delivery' THEN json_extract(o.metadata, '$.operationKind') ELSE o.kind END AS kind,
         t.from_account, t.to_account, t.amount_minor, t.created_at_ms
       FROM (SELECT id FROM (SELECT id FROM transfers WHERE from_account = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3)
             UNION
             SELECT id FROM (SELECT id FROM transfers WHERE to_account = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3)) ids
       JOIN transfers t ON t.id = ids.id JOIN operations o ON o.id = t.operation_id
       ORDER BY t.id DESC LIMIT ?3`,
      )
      .bind(address, before, limit + 1)
      .all<{
        id: number;
        operation_id: string;
        kind: string;
        from_account: string;
        to_account: string;
        amount_minor: number;
        created_at_ms: number;
      }>();
    const page = results.slice(0, limit);
    const items = page.map((r) => {
      const debit = r.from_account === address;
      return {
        transferId: r.id,
        operationId: r.operation_id,
        kind: r.kind,
        direction: debit ? ("debit" as const) : ("credit" as const),
        ...money(r.amount_minor),
        counterparty: debit ? r.to_account : r.from_account,
        createdAtMs: r.created_at_ms,
      };
    });
    const last = page.at(-1);
    const nextCursor = results.length > limit && last ? String(last.id) : null;
    // The page spans from its oldest entry (the beginning, on the last page) to the entry its
    // cursor names (now, on the first page; that entry may have been archived since): the
    // shard's archives holding history from that span may hold entries between these ones.
    const fromMs = nextCursor === null ? 0 : (last?.created_at_ms ?? 0);
    const cursorAtMs =
      cursor === undefined
        ? null
        : await db
            .prepare("SELECT created_at_ms FROM transfers WHERE id = ?")
            .bind(before)
            .first<number>("created_at_ms");
    const toMs = cursorAtMs === null ? Number.MAX_SAFE_INTEGER : cursorAtMs + 1;
    const coverage = await historyCoverage(db, fromMs, toMs);
    const archived = coverage.archived.map((a) => ({ archiveId: a.archiveId, fromMs: a.fromMs, toMs: a.toMs }));
    return c.json({ items, nextCursor, archived }, 200);
  },
);

wallets.openapi(
  defineRoute({
    method: "post",
    path: "/users/{userId}/wallet/adjustments",
    auth: { permission: "wallet.adjust" },
    fourEyes: { when: "above `FOUR_EYES_ADJUSTMENT_MINOR` (default 1,000.00)" },
    tags: ["wallets", "operators"],
    summary: "Operator credit or debit of a wallet, with a reason",
    request: { params, headers: IdempotencyKeyHeader, body: jsonBody(AdjustmentRequest) },
    responses: {
      201: jsonResponse(AdjustmentSchema, "The adjustment was posted"),
      ...errorResponses(400, 401, 403, 409, 422, 503),
    },
  }),
  async (c) => {
    const { userId } = c.req.valid("param");
    const body = c.req.valid("json");
    const actorId = c.var.principal.userId;
    const { ledger } = c.var;
    const target = { shard: ledger.forOwner(userId), bucket: ledger.bucketOf(userId) };
    // Parsed once, before four-eyes: a malformed amount is refused, never proposed.
    const amount = parseAmountMinor(body.amount);
    if (!amount.ok) throw ApiError.from(amount);
    const proposed = await fourEyes(c, {
      required: amount.value > c.var.config.fourEyes.adjustmentMinor,
      summary: `${body.direction === "credit" ? "Credit" : "Debit"} ${body.amount} ${body.direction === "credit" ? "to" : "from"} ${userId}'s wallet: ${body.reason}`,
      body,
    });
    if (proposed) return proposed;
    return runIdempotent(c, target, "adj", { userId, ...body }, async (id, nowMs) => {
      // Money read-only (a runtime switch): refused before anything moves.
      const paused = await switchRefusal(ledger.control, c.var.config.switchCacheTtlMs, { kind: "adjustment" });
      if (paused !== null) return fail(paused.code);
      const adjustment = {
        id,
        userId,
        direction: body.direction,
        amountMinor: amount.value,
        reason: body.reason,
        actorId,
      };
      return ok({
        compose: (attach) => composeAdjustment(target.shard, adjustment, nowMs, attach),
        status: 201,
        body: {
          adjustment: {
            id,
            userId,
            direction: body.direction,
            ...money(amount.value),
            reason: body.reason,
            actorId,
            createdAtMs: nowMs,
          },
          walletBalanceMinor: 0,
        },
        patches: [balancePatch("$.walletBalanceMinor", accountAddress.userWallet(userId))],
        audit: operatorAction(c, {
          action: "wallet.adjust",
          target: userId,
          before: null,
          after: { adjustmentId: id, direction: body.direction, amountMinor: amount.value, reason: body.reason },
        }),
      });
    });
  },
);
