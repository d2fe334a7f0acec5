/**
 * Payout accounts: bind (sealed, shown masked), list, choose the default, remove. A creator's at
 * `/creators/me/payout-accounts`; any signed-in user's at `/me/payout-accounts`, for withdrawing
 * red-packet winnings (docs/adr/0017). Principals share one id space, so both paths are one
 * person's one set of accounts (the `creator_id` column is the owner's id).
 * An account that becomes the place money goes — newly bound, or made the default — blocks
 * withdrawals to it until `coolingUntilMs` (account-takeover defence).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  bindPayoutAccount,
  listPayoutAccounts,
  makeDefaultPayoutAccount,
  removePayoutAccount,
  type VisiblePayoutAccount,
} from "../../db/payout-accounts";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { type PayoutAccount, validatePayoutAccount } from "../../domain/payout-account";
import { isCooling, PAYOUT_CHANNELS } from "../../domain/payout-account-binding";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

const AccountId = PrefixedId("pa");

const MakeDefault = z
  .boolean()
  .default(false)
  .openapi({ description: "Make it the default now (the first account always becomes the default)." });
const Identifier = z.string().max(LIMITS.payoutAccountIdMaxLength);

const BindRequest = z
  .discriminatedUnion("channel", [
    z.strictObject({ channel: z.literal("wechatpay"), openid: Identifier, makeDefault: MakeDefault }),
    z.strictObject({
      channel: z.literal("alipay"),
      identity: z.enum(["user_id", "logon_id"]),
      id: Identifier,
      name: z.string().max(200).nullable().default(null).openapi({
        description: "The payee's real name; required with a logon id (Alipay checks it).",
      }),
      makeDefault: MakeDefault,
    }),
    z.strictObject({ channel: z.literal("stripe"), accountId: Identifier, makeDefault: MakeDefault }),
    z.strictObject({ channel: z.literal("sandbox"), id: Identifier, makeDefault: MakeDefault }),
  ])
  .openapi("PayoutAccountBind", {
    example: { channel: "alipay", identity: "logon_id", id: "13812345678", name: "张三", makeDefault: true },
  });
type BindBody = z.infer<typeof BindRequest>;

const PayoutAccountSchema = z
  .object({
    id: AccountId,
    channel: z.enum(PAYOUT_CHANNELS),
    masked: z.string().openapi({ example: "138****5678 · *三" }),
    isDefault: z.boolean(),
    coolingUntilMs: z.number().int().openapi({ description: "Withdrawals to this account are blocked until then." }),
    cooling: z.boolean().openapi({ description: "true while `coolingUntilMs` is in the future." }),
    createdAtMs: z.number().int(),
  })
  .openapi("PayoutAccount");

const AccountParam = z.object({ accountId: AccountId.openapi({ param: { name: "accountId", in: "path" } }) });

/** The request's account in the domain's terms (`wechatpay` is the domain's `wechat`). */
function accountOf(body: BindBody): PayoutAccount {
  switch (body.channel) {
    case "wechatpay":
      return { channel: "wechat", openid: body.openid };
    case "alipay":
      return { channel: "alipay", identity: body.identity, id: body.id, name: body.name };
    case "stripe":
      return { channel: "stripe", accountId: body.accountId };
    case "sandbox":
      return { channel: "sandbox", id: body.id };
  }
}

function view(row: VisiblePayoutAccount, nowMs: number) {
  return {
    id: row.id,
    channel: row.channel,
    masked: row.masked,
    isDefault: row.is_default === 1,
    coolingUntilMs: row.cooling_until_ms,
    cooling: isCooling(row.cooling_until_ms, nowMs),
    createdAtMs: row.created_at_ms,
  };
}

export const payoutAccounts = new OpenAPIHono<AppEnv>();

const BASES = [
  { path: "/creators/me/payout-accounts", auth: ["creator"], tags: ["creators"] },
  { path: "/me/payout-accounts", auth: "signed-in", tags: ["wallets"] },
] as const;

for (const base of BASES) {
  payoutAccounts.openapi(
    defineRoute({
      method: "post",
      path: base.path,
      auth: base.auth,
      tags: [...base.tags],
      summary: "Bind a payout account (WeChat openid, Alipay id + name, Stripe acct_…, sandbox)",
      description:
        `Stored encrypted, shown masked. At most ${LIMITS.payoutAccountsPerCreatorMax} accounts. A new account blocks ` +
        "withdrawals to it until `coolingUntilMs`.",
      request: { body: jsonBody(BindRequest) },
      responses: {
        201: jsonResponse(PayoutAccountSchema, "Bound"),
        ...errorResponses(400, 401, 403, 409),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const checked = validatePayoutAccount(accountOf(body));
      if (!checked.ok)
        throw new ApiError(checked.code, "The payout account is not valid.", { problem: checked.problem });
      const creatorId = c.var.principal.userId;
      const nowMs = Date.now();
      const row = await bindPayoutAccount(c.var.ledger.control, c.env.PII_KEYS, {
        id: newId("pa", nowMs),
        creatorId,
        account: checked.value,
        makeDefault: body.makeDefault,
        nowMs,
      });
      if ("ok" in row) throw ApiError.from(row);
      c.var.log.info("payout_account_bound", {
        creatorId,
        accountId: row.id,
        channel: row.channel,
        isDefault: row.is_default === 1,
        coolingUntilMs: row.cooling_until_ms,
      });
      return c.json(view(row, nowMs), 201);
    },
  );

  payoutAccounts.openapi(
    defineRoute({
      method: "get",
      path: base.path,
      auth: base.auth,
      tags: [...base.tags],
      summary: "Your payout accounts, masked, oldest first",
      responses: {
        200: jsonResponse(z.object({ items: z.array(PayoutAccountSchema) }), "The accounts"),
        ...errorResponses(401, 403),
      },
    }),
    async (c) => {
      const nowMs = Date.now();
      const rows = await listPayoutAccounts(c.var.ledger.control, c.var.principal.userId);
      return c.json({ items: rows.map((r) => view(r, nowMs)) }, 200);
    },
  );

  payoutAccounts.openapi(
    defineRoute({
      method: "put",
      path: `${base.path}/{accountId}/default`,
      auth: base.auth,
      tags: [...base.tags],
      summary: "Make an account your default; a change starts its cooling period",
      request: { params: AccountParam },
      responses: {
        200: jsonResponse(PayoutAccountSchema.extend({ changed: z.boolean() }), "The default"),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { accountId } = c.req.valid("param");
      const creatorId = c.var.principal.userId;
      const nowMs = Date.now();
      const result = await makeDefaultPayoutAccount(c.var.ledger.control, creatorId, accountId, nowMs);
      if ("ok" in result) throw ApiError.from(result);
      if (result.changed) {
        c.var.log.info("payout_account_default_changed", {
          creatorId,
          accountId,
          coolingUntilMs: result.row.cooling_until_ms,
        });
      }
      return c.json({ ...view(result.row, nowMs), changed: result.changed }, 200);
    },
  );

  payoutAccounts.openapi(
    defineRoute({
      method: "delete",
      path: `${base.path}/{accountId}`,
      auth: base.auth,
      tags: [...base.tags],
      summary: "Remove a payout account (removing the default leaves you without one)",
      request: { params: AccountParam },
      responses: {
        200: jsonResponse(
          z.object({ id: AccountId, removed: z.boolean().openapi({ description: "false: it already was." }) }),
          "Removed",
        ),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { accountId } = c.req.valid("param");
      const creatorId = c.var.principal.userId;
      const result = await removePayoutAccount(c.var.ledger.control, creatorId, accountId, Date.now());
      if ("ok" in result) throw ApiError.from(result);
      if (result.removed) c.var.log.info("payout_account_removed", { creatorId, accountId });
      return c.json({ id: accountId, removed: result.removed }, 200);
    },
  );
}
