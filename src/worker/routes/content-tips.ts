/**
 * Tips on content items (issue 19): an article, a video or a post is tipped like a live room —
 * its creator need not be live and the item need not be priced — and each item has its own
 * totals and leaderboard.
 *
 * The money is the room tip's operation (operations/tip.ts, `prepareContentTip` + `composeTip`),
 * run on the direct path under the Idempotency-Key in the payer's shard, with the same message
 * moderation, PIN and password-free limits, and risk assessed as action `tip` with the item's
 * creator as the recipient. A risk `review` holds the tip with its money, as a room's
 * (worker/held-tips.ts `holdTip`: 202 with the held tip naming the item); an operator's approval
 * makes it the tip on the item, a decline or the sweeper gives the money back.
 *
 * The leaderboard is read from the ledger: a viewer's tips all live in the viewer's shard, so
 * each shard's top viewers by sum (index tips_content_viewer) merge into the exact top
 * (domain/content.ts `mergeTopTippers`); an isolate keeps a copy for at most
 * `CONTENT_LIMITS.leaderboardCacheTtlMs`.
 *
 * The recent tips (`GET …/tips`) are merged across the shards by (time desc, id desc) like the
 * operator search (db/reads/content-tips.ts), each with its message only once moderation let it
 * through; an isolate keeps an item's first page for the same bound, and forgets it when it
 * takes a tip on the item or an operator decides one of its messages here.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { TypedResponse } from "hono";
import { emitOperationEvents } from "../../db/business-events";
import { contentTipReceipt, prepareContentTip, type TipAsk } from "../../db/operations/tip";
import { type RecentContentTipsPage, readRecentContentTips } from "../../db/reads/content-tips";
import { currentRiskSet } from "../../db/risk";
import type { Ledger } from "../../db/shards";
import { CONTENT_LIMITS, mergeTopTippers, type RankedTipper, TtlCache } from "../../domain/content";
import { LIMITS } from "../../domain/limits";
import { formatMinor, parseAmountMinor } from "../../domain/money";
import { decodePageCursor, encodePageCursor } from "../../domain/search";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { holdTip } from "../held-tips";
import { idempotencyOf } from "../idempotency";
import { moderatedMessage } from "../moderation";
import { requirePin } from "../pin";
import { postRatedTip } from "../rated-tip";
import { assessRisk } from "../risk";
import {
  AmountMinor,
  DecimalAmount,
  errorResponses,
  GiftId,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PrefixedId,
  TipMessage,
  TipPin,
  tipLineFields,
  UserId,
} from "../schemas";
import { ContentId, findItem, partnerItem } from "./content";
import { defineRoute } from "./define";

export const contentTips = new OpenAPIHono<AppEnv>();

const contentParams = z.object({ contentId: ContentId.openapi({ param: { name: "contentId", in: "path" } }) });

/** A tip on an item: a gift of the catalogue (× quantity) or a custom amount, never both. */
export const ContentTipRequestSchema = z
  .strictObject({
    giftId: GiftId.optional(),
    quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax).optional(),
    amount: DecimalAmount.optional().openapi({ description: 'A custom amount, e.g. "8.80" (instead of a gift).' }),
    message: TipMessage,
    pin: TipPin,
  })
  .refine((b) => (b.giftId === undefined) !== (b.amount === undefined), {
    message: "either giftId (with an optional quantity) or amount",
  })
  .refine((b) => b.quantity === undefined || b.giftId !== undefined, { message: "quantity goes with giftId" })
  .openapi("ContentTipRequest", { example: { giftId: "rose", quantity: 3, message: "写得真好" } });

export const ContentTipSchema = z
  .object({
    tip: z.object({
      id: PrefixedId("tip"),
      contentId: ContentId,
      creatorId: UserId,
      viewerId: UserId,
      giftId: GiftId.nullable(),
      quantity: z.number().int(),
      amountMinor: AmountMinor,
      amount: z.string(),
      platformMinor: AmountMinor,
      creatorMinor: AmountMinor,
      message: z.string().nullable().openapi({ description: "The message as shown (mask-level words masked)." }),
      messageStatus: z.enum(["shown", "masked", "held"]).nullable().openapi({
        description: "`held`: on no public view of the item until an operator approves it (the tip has posted).",
      }),
      createdAtMs: z.number().int(),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("ContentTip");

export const ContentHeldTipReceiptSchema = z
  .object({
    heldTip: z.object({
      id: PrefixedId("held"),
      state: z.literal("held"),
      contentId: ContentId,
      creatorId: UserId,
      ...tipLineFields,
      expiresAtMs: z
        .number()
        .int()
        .openapi({ description: "Not decided by then, it is declined and the amount returns to the wallet." }),
      decisionId: z.string().openapi({ description: "The risk decision that held it (for support)." }),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("ContentHeldTipReceipt");

contentTips.openapi(
  defineRoute({
    method: "post",
    path: "/content/{contentId}/tips",
    auth: ["viewer", "creator"],
    rateLimit: { user: "tips", ip: "moneyIp" },
    tags: ["content"],
    summary: "Tip a content item's creator (an article, video or post), paid from your wallet",
    description:
      "Like a room tip: debits the wallet and credits the creator's pending earnings and the platform's revenue " +
      "atomically, at the creator's rate (tiered by month, the room tips' rules); the creator need not be live " +
      "and the item need not be priced. Moderation, the PIN above password-free limits, risk (action `tip`) " +
      "and the switches pausing tips apply as to a room tip. A replay of the key answers the stored 201.",
    request: { params: contentParams, headers: IdempotencyKeyHeader, body: jsonBody(ContentTipRequestSchema) },
    responses: {
      201: jsonResponse(ContentTipSchema, "The tip was sent"),
      202: jsonResponse(
        ContentHeldTipReceiptSchema,
        "A risk rule sent the tip to review: the amount is held from the wallet until an operator decides " +
          "(approved: the tip on the item is sent as it would have been; declined, or not decided within 72 h: " +
          "the amount returns to the wallet). A replay of the key answers this again.",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422, 423, 428, 429, 503),
    },
  }),
  async (c) => {
    const { contentId } = c.req.valid("param");
    // The PIN is never part of the fingerprint (see the room tip route).
    const { pin, message: written, ...rest } = c.req.valid("json");
    const ask: TipAsk =
      rest.giftId !== undefined
        ? { kind: "gift", giftId: rest.giftId, quantity: rest.quantity ?? 1 }
        : { kind: "custom", amount: rest.amount ?? "" };
    const viewerId = c.var.principal.userId;
    const request = { contentId, ask, message: written ?? null };
    const idempotency = await idempotencyOf(c, request);
    const message = await moderatedMessage(c, written);
    const { ledger } = c.var;
    const shard = ledger.forOwner(viewerId);
    const confirmed = pin !== undefined;
    if (confirmed) await requirePin(shard, viewerId, pin, Date.now());
    // Risk at the edge, with the item's creator as the recipient (an unknown item: none; it is
    // refused as not found by the operation).
    const [item, set] = await Promise.all([
      findItem(ledger.control, contentId),
      currentRiskSet(ledger.control, c.var.config.switchCacheTtlMs),
    ]);
    const review = await assessRisk(
      c,
      {
        action: "tip",
        amountMinor: askAmountMinor(ask, set.giftPricesMinor),
        recipientId: item?.creator_id ?? null,
        pinVerified: confirmed,
        holdable: true,
      },
      set,
    );
    if (review !== null) {
      // Held with its money under the same Idempotency-Key (a replay answers the stored 202).
      const held = await holdTip(c, {
        target: { contentId },
        viewerId,
        ask,
        message,
        confirmed,
        review,
        request,
        idempotency,
      });
      return held as unknown as TypedResponse<z.infer<typeof ContentTipSchema>, 201, "json">;
    }
    return postRatedTip(c, {
      shard,
      viewerId,
      request,
      idempotency,
      confirmed,
      prepare: (id, nowMs) =>
        prepareContentTip(ledger.control, c.var.config, { id, contentId, viewerId, ask, message }, nowMs),
      onPosted: (id) => {
        leaderboards.forgetItem(contentId);
        forgetRecentTips(contentId);
        c.executionCtx.waitUntil(emitOperationEvents(c.env, shard, [{ id, kind: "tip" }], c.var.log));
      },
      receipt: contentTipReceipt,
    });
  },
);

/** The tip's amount as risk sees it at the edge: a custom amount, or the gift's cached price × quantity. */
function askAmountMinor(ask: TipAsk, prices: ReadonlyMap<string, number>): number | null {
  if (ask.kind === "custom") {
    const amount = parseAmountMinor(ask.amount);
    return amount.ok ? amount.value : null;
  }
  const price = prices.get(ask.giftId);
  return price === undefined ? null : price * ask.quantity;
}

/**
 * A read of an item declared twice, as the item's other reads are: for any signed-in user
 * (`/content/{id}/<resource>`, 404 for an unknown item) and for a partner holding `content.write`
 * (`/partner/content/{id}/<resource>`, only items of the partner's creators).
 */
function itemReadRoutes<Q extends z.ZodObject, S extends z.ZodType>(spec: {
  readonly resource: string;
  readonly query: Q;
  readonly schema: S;
  readonly answered: string;
  readonly member: { readonly summary: string; readonly description?: string };
  readonly partner: { readonly summary: string; readonly description?: string };
  readonly read: (ledger: Ledger, contentId: string, query: z.infer<Q>) => Promise<z.infer<S>>;
}): void {
  // Declared as a plain object schema so the handlers' validated types resolve; `read` gets it back as Q.
  const request = { params: contentParams, query: spec.query as z.ZodObject };
  contentTips.openapi(
    defineRoute({
      method: "get",
      path: `/content/{contentId}/${spec.resource}`,
      auth: "signed-in",
      tags: ["content"],
      ...spec.member,
      request,
      responses: { 200: jsonResponse(spec.schema, spec.answered), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const { contentId } = c.req.valid("param");
      if ((await findItem(c.var.ledger.control, contentId)) === null) throw new ApiError("content_not_found");
      return c.json(await spec.read(c.var.ledger, contentId, c.req.valid("query") as z.infer<Q>), 200);
    },
  );
  contentTips.openapi(
    defineRoute({
      method: "get",
      path: `/partner/content/{contentId}/${spec.resource}`,
      auth: { partnerScope: "content.write" },
      tags: ["partner"],
      ...spec.partner,
      request,
      responses: { 200: jsonResponse(spec.schema, spec.answered), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const { contentId } = c.req.valid("param");
      await partnerItem(c, contentId);
      return c.json(await spec.read(c.var.ledger, contentId, c.req.valid("query") as z.infer<Q>), 200);
    },
  );
}

// ---- Leaderboards ----

export const ContentLeaderboardSchema = z
  .object({
    contentId: ContentId,
    totalMinor: z.number().int().openapi({ description: "Σ of every tip on the item." }),
    tipCount: z.number().int(),
    entries: z.array(z.object({ rank: z.number().int(), userId: UserId, amountMinor: z.number().int() })),
  })
  .openapi("ContentLeaderboard");
type ContentLeaderboard = z.infer<typeof ContentLeaderboardSchema>;

const LeaderboardQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.leaderboardTopMax).default(LIMITS.leaderboardTopDefault),
});

/** The isolate's copies, by item and limit; a tip taken here forgets its item's at once. */
const leaderboards = {
  cache: new TtlCache<ContentLeaderboard>(CONTENT_LIMITS.leaderboardCacheTtlMs, CONTENT_LIMITS.leaderboardCacheMax),
  forgetItem(contentId: string) {
    for (let limit = 1; limit <= LIMITS.leaderboardTopMax; limit++) this.cache.delete(`${contentId}:${limit}`);
  },
};

/** Each shard's totals and its top `limit` viewers on the item, merged (exact; see the file's comment). */
export async function readContentLeaderboard(
  ledger: Ledger,
  contentId: string,
  limit: number,
): Promise<ContentLeaderboard> {
  const perShard = await Promise.all(
    ledger.shards.map(async (shard) => {
      const [totals, top] = await shard.db.batch([
        shard.db
          .prepare("SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS total FROM tips WHERE content_id = ?")
          .bind(contentId),
        shard.db
          .prepare(
            `SELECT viewer_id, SUM(amount_minor) AS total FROM tips WHERE content_id = ?
             GROUP BY viewer_id ORDER BY total DESC, viewer_id LIMIT ?`,
          )
          .bind(contentId, limit),
      ]);
      const sums = totals?.results[0] as { n: number; total: number } | undefined;
      return {
        tipCount: sums?.n ?? 0,
        totalMinor: sums?.total ?? 0,
        top: ((top?.results ?? []) as { viewer_id: string; total: number }[]).map((r) => ({
          userId: r.viewer_id,
          amountMinor: r.total,
        })),
      };
    }),
  );
  const entries: RankedTipper[] = mergeTopTippers(
    perShard.map((s) => s.top),
    limit,
  );
  return {
    contentId,
    totalMinor: perShard.reduce((sum, s) => sum + s.totalMinor, 0),
    tipCount: perShard.reduce((sum, s) => sum + s.tipCount, 0),
    entries,
  };
}

async function cachedLeaderboard(ledger: Ledger, contentId: string, limit: number): Promise<ContentLeaderboard> {
  const key = `${contentId}:${limit}`;
  const nowMs = Date.now();
  const hit = leaderboards.cache.get(key, nowMs);
  if (hit !== undefined) return hit;
  const board = await readContentLeaderboard(ledger, contentId, limit);
  leaderboards.cache.set(key, board, nowMs);
  return board;
}

itemReadRoutes({
  resource: "leaderboard",
  query: LeaderboardQuery,
  schema: ContentLeaderboardSchema,
  answered: "The leaderboard",
  member: {
    summary: "A content item's tip totals and its top tippers, largest first",
    description:
      "Every tip on the item, whoever sent it; ties by user id. An isolate may answer from a copy at most " +
      `${CONTENT_LIMITS.leaderboardCacheTtlMs / 1000} s old.`,
  },
  partner: { summary: "A content item's tip totals and top tippers (an item of the partner's creators)" },
  read: (ledger, contentId, { limit }) => cachedLeaderboard(ledger, contentId, limit),
});

// ---- Recent tips ----

const TIPS_CURSOR_TAG = "content_tips";

export const ContentTipsPageSchema = z
  .object({
    contentId: ContentId,
    tips: z.array(
      z.object({
        id: PrefixedId("tip"),
        ...tipLineFields,
        message: z
          .string()
          .nullable()
          .openapi({
            description:
              "The message as shown (mask-level words masked); null when there is none, while it is held " +
              "for review, when it was rejected, or when the tip was reversed.",
          }),
        reversed: z
          .boolean()
          .openapi({ description: "The tip was reversed (its money returned); it stays listed, without its message." }),
      }),
    ),
    nextCursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page; null at the end." }),
  })
  .openapi("ContentTipsPage");
type ContentTipsPage = z.infer<typeof ContentTipsPageSchema>;

const TipsQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(CONTENT_LIMITS.recentTipsPageMax)
    .default(CONTENT_LIMITS.recentTipsPageDefault),
  cursor: z.string().max(256).optional().openapi({ description: "The `nextCursor` of the previous page (opaque)." }),
});

/** The isolate's copies of first pages, by item and limit (a later page is read each time). */
const recentTips = new TtlCache<ContentTipsPage>(
  CONTENT_LIMITS.leaderboardCacheTtlMs,
  CONTENT_LIMITS.leaderboardCacheMax,
);

/** Forgets this isolate's copies of the item's first pages (a tip taken, a message decided). */
export function forgetRecentTips(contentId: string): void {
  for (let limit = 1; limit <= CONTENT_LIMITS.recentTipsPageMax; limit++) recentTips.delete(`${contentId}:${limit}`);
}

function tipsPageView(contentId: string, page: RecentContentTipsPage): ContentTipsPage {
  return {
    contentId,
    tips: page.tips.map((t) => ({ ...t, amount: formatMinor(t.amountMinor) })),
    nextCursor: page.next === null ? null : encodePageCursor(TIPS_CURSOR_TAG, page.next),
  };
}

async function tipsPage(ledger: Ledger, contentId: string, query: z.infer<typeof TipsQuery>): Promise<ContentTipsPage> {
  if (query.cursor !== undefined) {
    const cursor = decodePageCursor(TIPS_CURSOR_TAG, query.cursor);
    if (cursor === null) throw new ApiError("malformed_request", "This is not a cursor of this item's tips.");
    return tipsPageView(contentId, await readRecentContentTips(ledger, contentId, cursor, query.limit));
  }
  const key = `${contentId}:${query.limit}`;
  const nowMs = Date.now();
  const hit = recentTips.get(key, nowMs);
  if (hit !== undefined) return hit;
  const page = tipsPageView(contentId, await readRecentContentTips(ledger, contentId, null, query.limit));
  recentTips.set(key, page, nowMs);
  return page;
}

const TIPS_DESCRIPTION =
  "Every tip on the item, newest first (ties by id), in pages: each shard's tips merged by (time desc, id desc), " +
  "so following `nextCursor` lists every tip once. A message is shown only once moderation let it through " +
  "(a held one appears when an operator approves it; a rejected one never). An isolate may answer a first page " +
  `from a copy at most ${CONTENT_LIMITS.leaderboardCacheTtlMs / 1000} s old.`;

itemReadRoutes({
  resource: "tips",
  query: TipsQuery,
  schema: ContentTipsPageSchema,
  answered: "One page of tips",
  member: { summary: "A content item's recent tips with their messages, newest first", description: TIPS_DESCRIPTION },
  partner: {
    summary: "A content item's recent tips with their messages (an item of the partner's creators)",
    description: TIPS_DESCRIPTION,
  },
  read: tipsPage,
});
