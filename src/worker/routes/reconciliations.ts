/**
 * Reconciliation runs, for finance: reconcile a channel's daily statement against our
 * orders and refunds, auto-repair what an active query settles, and read a run back.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { CHANNELS } from "../../channels/channel";
import { STATEMENT_BILLS } from "../../channels/statement";
import { findingCounts, findRun, type RunRow, runFindings } from "../../db/reconciliation";
import { LIMITS } from "../../domain/limits";
import { FINDING_KINDS } from "../../domain/reconcile";
import type { AppEnv } from "../context";
import { ApiError, errorResponse } from "../errors";
import { runReconciliation } from "../payments/reconcile";
import { AmountMinor, errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

/** The one route whose body may exceed LIMITS.bodyMaxBytes; app.ts leaves its size to this file. */
export const STATEMENT_UPLOAD_PATH = "/v1/admin/reconciliations";
/**
 * A statement travels as a JSON string: each line's newline (or CRLF) becomes a two-byte
 * escape, hence room for two bytes a line on top of the file and the rest of the body. The
 * statement itself is held to LIMITS.statementMaxBytes by the parser, exactly.
 */
const STATEMENT_BODY_BYTES_MAX = LIMITS.statementMaxBytes + 2 * LIMITS.statementLinesMax + LIMITS.bodyMaxBytes;

const RunId = PrefixedId("recon");

/** `YYYY-MM-DD`, a date the calendar has. */
const StatementDate = z
  .string()
  .regex(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/)
  .refine((d) => new Date(`${d}T00:00:00Z`).toISOString().slice(0, 10) === d, "a calendar date");

const ReconcileRequest = z
  .strictObject({
    channel: z.enum(CHANNELS),
    date: StatementDate.openapi({
      description: "The statement's day, in BUSINESS_TIME_ZONE (default Asia/Shanghai).",
      example: "2026-12-01",
    }),
    bill: z
      .enum(STATEMENT_BILLS)
      .default("trade")
      .openapi({
        description:
          "`trade`: the statement of payments and refunds (WeChat 交易账单, Alipay 业务明细, Stripe's balance " +
          "report, which also lists Connect transfers). `fund_flow` (wechatpay, alipay): WeChat's 资金账单 or " +
          "Alipay's 账务明细 (bill_type=signcustomer), reconciled against withdrawals only; `statement` is required.",
      }),
    statement: z
      .string()
      .max(LIMITS.statementMaxBytes)
      .optional()
      .openapi({
        description:
          "The channel's daily statement file, as text (Alipay's: the unzipped 业务明细 or 账务明细 CSV, decoded " +
          "from GBK). Optional for the sandbox and WeChat Pay channels' trade statements, which are downloaded.",
      }),
  })
  .openapi("ReconcileRequest", { example: { channel: "sandbox", date: "2026-12-01" } });

const FindingSchema = z
  .object({
    id: z.string(),
    kind: z.enum(FINDING_KINDS),
    subject: z.enum(["payment", "refund", "payout"]),
    repair: z.enum(["query_channel", "operator"]).openapi({
      description: "`query_channel`: repaired automatically by asking the channel; `operator`: needs a person.",
    }),
    repairOutcome: z.string().nullable().openapi({
      description: "What the automatic repair did (`credited`, `already_credited`, …); null when none was tried.",
    }),
    orderId: z.string().nullable().openapi({ description: "Our order, when we have it." }),
    merchantOrderNo: z.string().nullable().openapi({ description: "The order as the statement names it." }),
    providerTxnId: z.string().nullable(),
    providerRefundId: z.string().nullable(),
    refundNo: z.string().nullable().openapi({ description: "Our refund, when the finding is about one." }),
    line: z.number().int().nullable().openapi({ description: "The statement file's line (1-based)." }),
    ours: z
      .object({
        amountMinor: AmountMinor,
        currency: z.string().nullable(),
        state: z.string(),
        refundedMinor: AmountMinor.nullable(),
      })
      .nullable(),
    theirs: z.object({ amountMinor: AmountMinor, currency: z.string(), status: z.string() }).nullable(),
    detail: z.string(),
  })
  .openapi("ReconciliationFinding");

const RunSchema = z
  .object({
    id: RunId,
    channel: z.enum(CHANNELS),
    date: z.string(),
    sourceSha256: z.string().openapi({ description: "Of the statement's UTF-8 bytes; the same file is run once." }),
    bill: z.enum(STATEMENT_BILLS).openapi({ description: "`trade` or `fund_flow` (payouts only)." }),
    lines: z.number().int(),
    matched: z.number().int().openapi({ description: "Statement lines paired with our orders and refunds." }),
    findings: z.number().int(),
    repaired: z.number().int(),
    unrepaired: z.number().int().openapi({ description: "Findings left to operators." }),
    counts: z.record(z.enum(FINDING_KINDS), z.number().int()),
    actorId: z.string(),
    startedAtMs: z.number().int(),
    finishedAtMs: z.number().int().nullable().openapi({ description: "Null while repairs are still running." }),
  })
  .openapi("ReconciliationRun");

const RunReply = z.object({
  run: RunSchema,
  findings: z
    .array(FindingSchema)
    .openapi({ description: `At most ${LIMITS.reconciliationFindingsStoredMax}, in report order.` }),
});

export const reconciliations = new OpenAPIHono<AppEnv>();

/** A run as the API shows it; runs and findings are in the control database. */
async function reply(control: D1Database, run: RunRow) {
  const [counts, findings] = await Promise.all([
    findingCounts(control, run.id),
    runFindings(control, run.id, LIMITS.reconciliationFindingsStoredMax),
  ]);
  return {
    run: {
      id: run.id,
      channel: run.channel,
      date: run.statement_date,
      sourceSha256: run.source_sha256,
      bill: run.bill,
      lines: run.lines,
      matched: run.matched,
      findings: run.findings,
      repaired: run.repaired,
      unrepaired: run.findings - run.repaired,
      counts,
      actorId: run.actor_id,
      startedAtMs: run.started_at_ms,
      finishedAtMs: run.finished_at_ms,
    },
    findings,
  };
}

reconciliations.openapi(
  defineRoute({
    method: "post",
    path: "/admin/reconciliations",
    auth: { permission: "reconcile.run" },
    middleware: [
      bodyLimit({ maxSize: STATEMENT_BODY_BYTES_MAX, onError: (c) => errorResponse(c, "payload_too_large") }),
    ],
    tags: ["operators"],
    summary: "Reconcile a channel's daily statement and auto-repair what a query settles",
    description:
      "Parses the statement (refused whole with `statement_malformed` if any of it cannot be read exactly; " +
      "nothing is stored), matches it against our orders and refunds for the day, stores the run and its " +
      "findings, then queries the channel for each `query_channel` finding: a payment whose callback never " +
      "came is credited, once. Without `statement`, the channel's client downloads the day's file (409 " +
      "`statement_not_ready` while the channel has not produced it yet). A `fund_flow` bill is matched against the channel's withdrawals only (payout " +
      "findings are for operators). The same statement for the same channel and day answers 200 with the stored " +
      `run. The body may be up to ${STATEMENT_BODY_BYTES_MAX} bytes.`,
    request: { body: jsonBody(ReconcileRequest) },
    responses: {
      201: jsonResponse(RunReply, "The run, with its findings and repairs"),
      200: jsonResponse(RunReply, "This statement was reconciled before: the stored run"),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { run, created } = await runReconciliation(c.env, c.var.ledger, c.var.log, {
      channel: body.channel,
      date: body.date,
      bill: body.bill,
      statementText: body.statement,
      actorId: c.var.principal.userId,
      nowMs: Date.now(),
    });
    return c.json(await reply(c.var.ledger.control, run), created ? 201 : 200);
  },
);

reconciliations.openapi(
  defineRoute({
    method: "get",
    path: "/admin/reconciliations/{runId}",
    auth: { permission: "reconcile.read" },
    tags: ["operators"],
    summary: "A reconciliation run and its findings",
    request: { params: z.object({ runId: RunId.openapi({ param: { name: "runId", in: "path" } }) }) },
    responses: {
      200: jsonResponse(RunReply, "The run"),
      ...errorResponses(401, 403, 404),
    },
  }),
  async (c) => {
    const { control } = c.var.ledger;
    const run = await findRun(control, c.req.valid("param").runId);
    if (!run) throw new ApiError("reconciliation_not_found");
    return c.json(await reply(control, run), 200);
  },
);
