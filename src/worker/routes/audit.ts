import { OpenAPIHono, z } from "@hono/zod-openapi";
import { auditChains, listAuditEntries, verifyStoredChain } from "../../db/audit";
import { readAnchors } from "../../db/audit-anchors";
import { LIMITS } from "../../domain/limits";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const ChainName = z
  .string()
  .regex(/^(?:control|ledger-\d{1,2})$/)
  .openapi({ description: "`control`, or `ledger-<n>` for ledger shard n.", example: "ledger-0" });

const ChainReportSchema = z
  .object({
    chain: z.string(),
    length: z.number().int(),
    headSeq: z.number().int(),
    headHash: z.string(),
    anchorsChecked: z.number().int(),
    ok: z.boolean(),
    broken: z
      .object({
        index: z.number().int(),
        kind: z.enum(["sequence_broken", "prev_link_broken", "hash_mismatch", "anchor_mismatch", "anchor_missing"]),
        expectedSeq: z.number().int(),
        foundSeq: z.number().int().nullable(),
      })
      .nullable(),
  })
  .openapi("AuditChainReport");

const AuditEntrySchema = z
  .object({
    seq: z.number().int(),
    atMs: z.number().int(),
    actor: z.string(),
    action: z.string(),
    target: z.string(),
    requestId: z.string(),
    detail: z.unknown().openapi({ description: "`{before, after}` as the action recorded it." }),
    digest: z.string(),
    prevHash: z.string(),
    hash: z.string(),
  })
  .openapi("AuditEntry");

const Field = z.string().min(1).max(LIMITS.auditFieldMaxLength);

const AuditQuery = z.object({
  chain: ChainName.default("control"),
  actor: Field.optional(),
  action: Field.optional(),
  target: Field.optional(),
  fromMs: z.coerce.number().int().min(0).optional(),
  toMs: z.coerce.number().int().min(0).optional(),
  cursor: z
    .string()
    .regex(/^\d{1,15}$/)
    .optional()
    .openapi({ description: "The `nextCursor` of the previous page." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.auditListPageMax).default(LIMITS.auditListPageDefault),
});

export const audit = new OpenAPIHono<AppEnv>();

audit.openapi(
  defineRoute({
    method: "get",
    path: "/admin/audit/verify",
    auth: { permission: "audit.read" },
    tags: ["operators"],
    summary: "Walk every audit chain and report the first broken entry",
    description:
      "One hash chain per database (the control database, each ledger shard). Each is walked from its first entry, " +
      "recomputing every hash, and compared with the daily anchors exported to R2. Answers 200 with ok=false and, " +
      "per chain, the first entry that does not fit: its index in the walk and why.",
    responses: {
      200: jsonResponse(z.object({ ok: z.boolean(), chains: z.array(ChainReportSchema) }), "The report"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const chains = [];
    for (const chain of auditChains(c.var.ledger)) {
      chains.push(await verifyStoredChain(chain, await readAnchors(c.env.AUDIT_ANCHORS, chain.name)));
    }
    const ok = chains.every((r) => r.ok);
    if (!ok) c.var.log.error("alert_audit_chain_broken", { broken: chains.filter((r) => !r.ok) });
    return c.json({ ok, chains }, 200);
  },
);

audit.openapi(
  defineRoute({
    method: "get",
    path: "/admin/audit",
    auth: { permission: "audit.read" },
    tags: ["operators"],
    summary: "One audit chain's entries, newest first, filtered and cursor-paginated",
    description:
      "An action's entry is in the chain of the database it wrote: a wallet adjustment in its user's ledger shard, " +
      "a creator's share or a gift in `control`. Filters are exact (actor, action, target) and a time range " +
      "[fromMs, toMs).",
    request: { query: AuditQuery },
    responses: {
      200: jsonResponse(
        z.object({ chain: z.string(), items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() }),
        "One page",
      ),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { chain: name, cursor, limit, ...filter } = c.req.valid("query");
    const chain = auditChains(c.var.ledger).find((ch) => ch.name === name);
    if (chain === undefined) throw new ApiError("not_found", "There is no such audit chain.");
    const beforeSeq = cursor === undefined ? Number.MAX_SAFE_INTEGER : Number(cursor);
    const rows = await listAuditEntries(chain.db, filter, beforeSeq, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const items = page.map((e) => ({ ...e, detail: JSON.parse(e.detail) as unknown }));
    return c.json({ chain: name, items, nextCursor: rows.length > limit && last ? String(last.seq) : null }, 200);
  },
);
