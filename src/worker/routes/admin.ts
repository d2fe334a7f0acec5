import { OpenAPIHono, z } from "@hono/zod-openapi";
import { batchWithAuditEntry } from "../../db/audit";
import { checkShardedInvariants } from "../../db/sharded-invariants";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { fourEyes } from "../proposals";
import { errorResponses, jsonBody, jsonResponse, UserId } from "../schemas";
import { defineRoute } from "./define";

const InvariantReportSchema = z
  .object({
    ok: z.boolean(),
    checkedAtMs: z.number().int(),
    shards: z.number().int(),
    counts: z.object({
      accounts: z.number().int(),
      operations: z.number().int(),
      transfers: z.number().int(),
      transitInFlight: z.number().int(),
    }),
    violationCount: z.number().int(),
    violations: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi("InvariantReport");

const CreatorShare = z
  .strictObject({ platformShareBps: z.number().int().min(0).max(10_000).nullable() })
  .openapi("CreatorShare", { description: "null returns the creator to the platform default." });

export const admin = new OpenAPIHono<AppEnv>();

admin.openapi(
  defineRoute({
    method: "get",
    path: "/admin/ledger/invariants",
    auth: { permission: "ledger.read" },
    tags: ["operators"],
    summary: "Verify the ledger's invariants over every shard and across them",
    description:
      "Per shard: Σ balances = 0 per currency; no protected account negative; every balance = Σ of its transfers; " +
      "every operation's transfers sum to its declared amount; packets and orders whole. Across shards: each pair " +
      "of transit balances equals what is still in flight between them; no delivery lost, doubled or unmatched; " +
      "operation ids unique. Answers 200 with ok=false and every violation, each naming its shard.",
    responses: { 200: jsonResponse(InvariantReportSchema, "The report"), ...errorResponses(401, 403) },
  }),
  async (c) => {
    const report = await checkShardedInvariants(c.var.ledger, Date.now());
    if (!report.ok) c.var.log.error("ledger_invariant_violated", { violationCount: report.violationCount });
    return c.json({ ...report, violations: report.violations.map((v) => ({ ...v })) }, 200);
  },
);

admin.openapi(
  defineRoute({
    method: "put",
    path: "/admin/creators/{creatorId}/share",
    auth: { permission: "share.set" },
    fourEyes: { when: "always" },
    tags: ["operators"],
    summary: "Set or clear a creator's platform revenue-share override",
    request: {
      params: z.object({ creatorId: UserId.openapi({ param: { name: "creatorId", in: "path" } }) }),
      body: jsonBody(CreatorShare),
    },
    responses: {
      200: jsonResponse(z.object({ creatorId: UserId, platformShareBps: z.number().int().nullable() }), "Saved"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { creatorId } = c.req.valid("param");
    const { platformShareBps } = c.req.valid("json");
    const { control } = c.var.ledger;
    const before = await control
      .prepare("SELECT platform_share_bps FROM creators WHERE user_id = ?")
      .bind(creatorId)
      .first<{ platform_share_bps: number | null }>();
    if (!before) throw new ApiError("not_found", "There is no such creator.");
    const proposed = await fourEyes(c, {
      required: true,
      summary:
        platformShareBps === null
          ? `Clear ${creatorId}'s revenue-share override (back to the schedule)`
          : `Set ${creatorId}'s platform revenue share to ${(platformShareBps / 100).toFixed(2)}%`,
      body: { platformShareBps },
    });
    if (proposed) return proposed;
    const [updated] = await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "creator_share.set",
        target: creatorId,
        before: { platformShareBps: before.platform_share_bps },
        after: { platformShareBps },
      }),
      [
        control
          .prepare("UPDATE creators SET platform_share_bps = ?, updated_at_ms = ? WHERE user_id = ? RETURNING user_id")
          .bind(platformShareBps, Date.now(), creatorId),
      ],
    );
    if (updated?.results.length !== 1) throw new ApiError("not_found", "There is no such creator.");
    c.var.log.info("creator_share_set", { creatorId, platformShareBps, actorId: c.var.principal.userId });
    return c.json({ creatorId, platformShareBps }, 200);
  },
);
