/**
 * The creator's statement (账单), their own only: income details (every tip to them and every
 * paid unlock of their content, merged from every ledger shard), settlements, withdrawals and
 * reversals (tip reversals and unlock refunds), filtered by business days
 * and paged oldest first; and the monthly statement (all four and a summary) as a CSV streamed
 * page by page (src/db/reads/statements.ts reads, worker/statement-month-csv.ts writes).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  decodeStatementCursor,
  encodeStatementCursor,
  giftNames,
  IncomeMerge,
  type IncomeRow,
  type MsRange,
  reversalsPage,
  reversedIncomeIds,
  type StatementCursor,
  settlementsPage,
  withdrawalsPage,
} from "../../db/reads/statements";
import { addDays, dayStartMs, isDayKey } from "../../domain/business-day";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, formatMinor } from "../../domain/money";
import { PAYOUT_CHANNELS } from "../../domain/payout-account-binding";
import { isMonthKey, nextMonth } from "../../domain/statement-csv";
import { STATEMENT_CSV_COLUMNS } from "../../domain/statement-month";
import { WITHDRAWAL_STATES } from "../../domain/withdrawal-states";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonResponse } from "../schemas";
import { monthStatementCsv } from "../statement-month-csv";
import { defineRoute } from "./define";
import { SETTLEMENT_DAY_FIELDS } from "./settlements";

const STATEMENT_KINDS = ["income", "settlements", "withdrawals", "reversals"] as const;

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a business day YYYY-MM-DD");

const StatementQuery = z.object({
  kind: z.enum(STATEMENT_KINDS).default("income"),
  from: Day.optional().openapi({ description: "First business day, inclusive." }),
  to: Day.optional().openapi({ description: "Last business day, inclusive." }),
  cursor: z.string().max(240).optional().openapi({ description: "The `nextCursor` of the previous page." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
});

const Amount = z.string().openapi({ description: 'Exact decimal, e.g. "188.00".' });

const IncomeCommon = {
  viewerId: z.string().openapi({ description: "Who paid: the tipper, or the reader who unlocked." }),
  grossMinor: z.number().int(),
  gross: Amount,
  platformBps: z.number().int().nullable().openapi({ description: "Null on tips from before rates were recorded." }),
  platformMinor: z.number().int(),
  netMinor: z.number().int(),
  net: Amount,
  reversed: z.boolean().openapi({ description: "The tip was reversed, or the unlock refunded." }),
  currency: z.string(),
  createdAtMs: z.number().int(),
};

const IncomeTip = z.object({
  kind: z.literal("tip"),
  tipId: z.string(),
  roomId: z.string().nullable().openapi({ description: "Null for a tip on a content item." }),
  contentId: z.string().nullable().openapi({ description: "The content item tipped; null for a tip in a room." }),
  giftId: z.string().nullable(),
  giftName: z.string().nullable(),
  quantity: z.number().int(),
  ...IncomeCommon,
});

const IncomeUnlock = z.object({
  kind: z.literal("unlock"),
  unlockId: z.string(),
  contentId: z.string().openapi({ description: "The content item unlocked." }),
  ...IncomeCommon,
});

const IncomeItem = z.discriminatedUnion("kind", [IncomeTip.strict(), IncomeUnlock.strict()]).openapi("StatementIncome");

const Int = z.number().int();

/** A creator's settlement of one business day: its figures in fen, and each also as a decimal. */
const SettlementItem = z
  .object({
    id: z.string(),
    ...SETTLEMENT_DAY_FIELDS,
    gross: Amount,
    platform: Amount,
    creatorPart: Amount,
    reversed: Amount,
    withholding: Amount,
    receivableOffset: Amount,
    net: Amount,
    createdAtMs: Int,
  })
  .strict()
  .openapi("StatementSettlement");

/** A withdrawal requested in the range, in its state now. */
const WithdrawalItem = z
  .object({
    id: z.string(),
    state: z.enum(WITHDRAWAL_STATES),
    amountMinor: Int,
    amount: Amount,
    feeMinor: Int,
    fee: Amount,
    currency: z.string(),
    channel: z.enum(PAYOUT_CHANNELS),
    destinationMasked: z.string(),
    review: z.enum(["auto", "manual"]),
    rejectReason: z.string().nullable(),
    failureReason: z.string().nullable(),
    createdAtMs: Int,
    updatedAtMs: Int,
  })
  .strict()
  .openapi("StatementWithdrawal");

const ReversalCommon = {
  id: z.string(),
  viewerId: z.string().openapi({ description: "Who was paid back: the tipper, or the reader who unlocked." }),
  amountMinor: Int,
  amount: Amount,
  platformMinor: Int,
  platform: Amount,
  creatorMinor: Int.openapi({ description: "Your part taken back." }),
  creator: Amount,
  source: z.enum(["pending", "receivable"]).openapi({
    description: "`pending`: taken before the day settled; `receivable`: after, owed and offset later.",
  }),
  reason: z.string(),
  currency: z.string(),
  createdAtMs: Int,
};

const ReversalItem = z
  .discriminatedUnion("kind", [
    z
      .object({
        kind: z.literal("tip"),
        tipId: z.string(),
        contentId: z.string().nullable().openapi({ description: "The content item tipped; null for a tip in a room." }),
        tipDay: Day,
        tipCreatedAtMs: Int,
        ...ReversalCommon,
      })
      .strict(),
    z
      .object({
        kind: z.literal("unlock"),
        unlockId: z.string(),
        contentId: z.string(),
        unlockDay: Day,
        unlockCreatedAtMs: Int,
        ...ReversalCommon,
      })
      .strict(),
  ])
  .openapi("StatementReversal");

const nextCursor = z.string().nullable().openapi({ description: "Null on the last page." });

/** One page of the statement; `kind` tells which list it is, and so the shape of its items. */
export const StatementPage = z
  .discriminatedUnion("kind", [
    z
      .object({
        kind: z.literal("income"),
        items: z.array(IncomeItem).openapi({
          description:
            "Tips and paid unlocks in one (time, id) order; a tip reversed or an unlock refunded stays, `reversed`.",
        }),
        nextCursor,
      })
      .openapi("StatementIncomePage"),
    z
      .object({ kind: z.literal("settlements"), items: z.array(SettlementItem), nextCursor })
      .openapi("StatementSettlementsPage"),
    z
      .object({ kind: z.literal("withdrawals"), items: z.array(WithdrawalItem), nextCursor })
      .openapi("StatementWithdrawalsPage"),
    z
      .object({
        kind: z.literal("reversals"),
        items: z
          .array(ReversalItem)
          .openapi({ description: "Tip reversals and unlock refunds, your part taken back." }),
        nextCursor,
      })
      .openapi("StatementReversalsPage"),
  ])
  .openapi("StatementPage");

const CsvParams = z.object({
  file: z
    .string()
    .regex(/^\d{4}-\d{2}\.csv$/, "YYYY-MM.csv")
    .openapi({ param: { name: "file", in: "path" }, example: "2026-11.csv" }),
});

export const statements = new OpenAPIHono<AppEnv>();

function incomeItem(row: IncomeRow, names: Map<string, string>, reversed: Set<string>): z.infer<typeof IncomeItem> {
  const common = {
    viewerId: row.viewerId,
    grossMinor: row.amountMinor,
    gross: formatMinor(row.amountMinor),
    platformBps: row.platformBps,
    platformMinor: row.platformMinor,
    netMinor: row.creatorMinor,
    net: formatMinor(row.creatorMinor),
    reversed: reversed.has(row.id),
    currency: row.currency,
    createdAtMs: row.createdAtMs,
  };
  if (row.kind === "unlock") {
    return { kind: "unlock", unlockId: row.id, contentId: row.contentId ?? "", ...common };
  }
  return {
    kind: "tip",
    tipId: row.id,
    roomId: row.roomId,
    contentId: row.contentId,
    giftId: row.giftId,
    giftName: row.giftId === null ? null : (names.get(row.giftId) ?? null),
    quantity: row.quantity,
    ...common,
  };
}

/** A row's fields, and each `…Minor` amount also as an exact decimal under the name without `Minor`. */
type WithDecimals<T> = T & { [K in keyof T as K extends `${infer Name}Minor` ? Name : never]: string };

function withDecimals<T extends object>(row: T): WithDecimals<T> {
  const out: Record<string, unknown> = { ...(row as Record<string, unknown>) };
  for (const [k, v] of Object.entries(row)) {
    if (k.endsWith("Minor") && typeof v === "number") out[k.slice(0, -5)] = formatMinor(v);
  }
  return out as WithDecimals<T>;
}

statements.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/statement",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your statement: income, settlements, withdrawals or reversals, by business day (creator)",
    description:
      "Oldest first, paged with `nextCursor`. Income is every tip to you and every paid unlock of your content, " +
      "merged from every ledger shard in one (time, id) order, each line with its `kind` (`tip` or `unlock`): a " +
      "page never repeats or skips a line. Reversals are tip reversals and unlock refunds (your part taken back), " +
      "each with its `kind`.",
    request: { query: StatementQuery },
    responses: { 200: jsonResponse(StatementPage, "A page"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const q = c.req.valid("query");
    if ((q.from !== undefined && !isDayKey(q.from)) || (q.to !== undefined && !isDayKey(q.to))) {
      throw new ApiError("malformed_request", "from and to are calendar days, YYYY-MM-DD.");
    }
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) {
      throw new ApiError("malformed_request", "from is after to.");
    }
    let after: StatementCursor | null = null;
    if (q.cursor !== undefined) {
      after = decodeStatementCursor(q.cursor);
      if (after === null) throw new ApiError("malformed_request", "The cursor is not one we gave.");
    }
    const tz = c.var.config.businessTimeZone;
    const range: MsRange = {
      fromMs: q.from === undefined ? 0 : dayStartMs(q.from, tz),
      toMs: q.to === undefined ? Number.MAX_SAFE_INTEGER : dayStartMs(addDays(q.to, 1), tz),
    };
    const creatorId = c.var.principal.userId;
    const ledger = c.var.ledger;
    const own = ledger.forOwner(creatorId).db;
    const cursor = (next: StatementCursor | null) => (next ? encodeStatementCursor(next) : null);

    switch (q.kind) {
      case "income": {
        const merge = new IncomeMerge(
          ledger.shards.map((s) => s.db),
          creatorId,
          range,
          after,
          q.limit + 1,
        );
        const rows = await merge.take(q.limit + 1);
        const page = rows.slice(0, q.limit);
        const [names, reversed] = await Promise.all([giftNames(ledger.control), reversedIncomeIds(own, page)]);
        const last = page.at(-1);
        const next = rows.length > q.limit && last ? { key: last.createdAtMs, id: last.id } : null;
        return c.json(
          { kind: "income" as const, items: page.map((r) => incomeItem(r, names, reversed)), nextCursor: cursor(next) },
          200,
        );
      }
      case "settlements": {
        const page = await settlementsPage(
          own,
          creatorId,
          q.from ?? "0000-01-01",
          q.to ?? "9999-12-31",
          after,
          q.limit,
        );
        return c.json(
          { kind: "settlements" as const, items: page.rows.map(withDecimals), nextCursor: cursor(page.next) },
          200,
        );
      }
      case "withdrawals": {
        const page = await withdrawalsPage(own, creatorId, range, after, q.limit);
        return c.json(
          { kind: "withdrawals" as const, items: page.rows.map(withDecimals), nextCursor: cursor(page.next) },
          200,
        );
      }
      case "reversals": {
        const page = await reversalsPage(own, creatorId, range, after, q.limit);
        return c.json(
          { kind: "reversals" as const, items: page.rows.map(withDecimals), nextCursor: cursor(page.next) },
          200,
        );
      }
    }
  },
);

statements.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/statements/{file}",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your monthly statement as CSV, YYYY-MM.csv in the business time zone (creator)",
    description:
      "Streamed page by page. UTF-8 with a byte-order mark (for Excel), CRLF, a header row, then sections told " +
      "by the first column: income (each tip and paid unlock), reversal (each tip reversal and unlock refund), " +
      "settlement (by business day), withdrawal (requested in the month, in its state now), each in time order, " +
      "and a summary (gross, platform_share, creator_part, reversed, withholding, settled_net, withdrawn, fees: " +
      "name in `id`, value in `amount`; income and reversal figures count tips and unlocks alike, as settlement " +
      "does). The second column, `kind`, tells an income or reversal line's source: `tip` (in a room, or on the " +
      "item in `content_id`) or `unlock` (the paid unlock in `unlock_id` of `content_id`; its income line's state " +
      "`refunded` once refunded, a tip's `reversed`). " +
      `Columns ${STATEMENT_CSV_COLUMNS.join(", ")}; amounts as exact decimals.`,
    request: { params: CsvParams },
    responses: {
      200: { description: "The statement", content: { "text/csv": { schema: z.string() } } },
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const month = c.req.valid("param").file.slice(0, 7);
    if (!isMonthKey(month)) throw new ApiError("malformed_request", "No such month.");
    const tz = c.var.config.businessTimeZone;
    const range = { fromMs: dayStartMs(`${month}-01`, tz), toMs: dayStartMs(`${nextMonth(month)}-01`, tz) };
    const creatorId = c.var.principal.userId;
    const counts = { income: 0, reversal: 0, settlement: 0, withdrawal: 0 };
    const chunks = monthStatementCsv(
      c.var.ledger,
      { creatorId, month, range, timeZone: tz, currency: DEFAULT_CURRENCY },
      counts,
    );
    const encoder = new TextEncoder();
    const log = c.var.log;
    // Pulled by the reader: one page of one section per pull, so a month of any size streams in
    // bounded memory and a slow download slows the reads down rather than buffering them.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) {
          log.info("statement_csv_streamed", { creatorId, month, ...counts });
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(next.value));
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="giftwire-statement-${month}.csv"`,
        "cache-control": "private, no-store",
      },
    }) as never;
  },
);
