/**
 * The operator directory through the API (issue 15): who is an operator and with which roles
 * is data in the control database, managed by admins here — never a token claim. Disabling
 * an operator or revoking a role takes effect on their next request (the gate reads the
 * directory every time); nothing can leave the directory without an active admin.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  addOperator,
  listOperators,
  type Operator,
  operatorById,
  setOperatorRoles,
  setOperatorStatus,
} from "../../db/operators";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { LIMITS } from "../../domain/limits";
import { OPERATOR_ROLES, PERMISSION_NAMES, permissionsOf } from "../../domain/permissions";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { fourEyes } from "../proposals";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const OperatorId = z
  .string()
  .regex(USER_ID_PATTERN)
  .openapi({ description: "The operator's id (locally, the bearer token's subject).", example: "op-alice" });

const OperatorSchema = z
  .object({
    id: z.string(),
    displayName: z.string(),
    email: z.string().nullable(),
    serviceClientId: z.string().nullable(),
    status: z.enum(["active", "disabled"]),
    roles: z.array(z.enum(OPERATOR_ROLES)),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
    updatedAtMs: z.number().int(),
  })
  .openapi("Operator");

const NewOperatorSchema = z
  .strictObject({
    id: OperatorId,
    displayName: z.string().min(1).max(LIMITS.nameMaxLength),
    email: z.email().max(LIMITS.emailMaxLength).nullable().default(null),
    serviceClientId: z.string().min(1).max(LIMITS.accessClientIdMaxLength).nullable().default(null),
  })
  .openapi("NewOperator", {
    example: { id: "op-alice", displayName: "Alice", email: "alice@giftwire.example", serviceClientId: null },
  });

const RolesSchema = z
  .strictObject({ roles: z.array(z.enum(OPERATOR_ROLES)).max(OPERATOR_ROLES.length) })
  .openapi("OperatorRoles", { example: { roles: ["finance"] } });

const StatusSchema = z
  .strictObject({ status: z.enum(["active", "disabled"]) })
  .openapi("OperatorStatus", { example: { status: "disabled" } });

const Params = z.object({ operatorId: OperatorId.openapi({ param: { name: "operatorId", in: "path" } }) });

function view(operator: Operator) {
  return { ...operator, roles: [...operator.roles] };
}

export const operators = new OpenAPIHono<AppEnv>();

operators.openapi(
  defineRoute({
    method: "get",
    path: "/admin/me",
    auth: { permission: "self.read" },
    tags: ["operators"],
    summary: "The calling operator: their roles and every permission those roles hold",
    responses: {
      200: jsonResponse(
        z.object({ operator: OperatorSchema, permissions: z.array(z.enum(PERMISSION_NAMES as [string, ...string[]])) }),
        "Who you are, as the operator directory says",
      ),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const operator = c.get("operator");
    if (!operator) throw new ApiError("internal_error");
    return c.json({ operator: view(operator), permissions: [...permissionsOf(operator.roles)].sort() }, 200);
  },
);

operators.openapi(
  defineRoute({
    method: "get",
    path: "/admin/operators",
    auth: { permission: "operator.read" },
    tags: ["operators"],
    summary: "The operator directory, in id order",
    request: {
      query: z.object({
        after: OperatorId.optional().openapi({ description: "The last id of the previous page." }),
        limit: z.coerce.number().int().min(1).max(LIMITS.operatorsPageMax).default(50),
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ items: z.array(OperatorSchema), next: z.string().nullable() }),
        "A page of operators; `next` is the cursor for the following page, null at the end",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { after, limit } = c.req.valid("query");
    const items = await listOperators(c.var.ledger.control, after ?? null, limit + 1);
    const page = items.slice(0, limit);
    return c.json({ items: page.map(view), next: items.length > limit ? (page.at(-1)?.id ?? null) : null }, 200);
  },
);

operators.openapi(
  defineRoute({
    method: "post",
    path: "/admin/operators",
    auth: { permission: "operator.manage" },
    tags: ["operators"],
    summary: "Add an operator, with no roles yet",
    description:
      "Give the identity they sign in with: `email` for a person behind Cloudflare Access, " +
      "`serviceClientId` for an Access service token (locally, the bearer subject is the `id`). " +
      "Roles are granted separately. The same request again answers 200 with the operator; an " +
      "identity another operator holds is 409 `operator_identity_taken`.",
    request: { body: jsonBody(NewOperatorSchema) },
    responses: {
      201: jsonResponse(OperatorSchema, "Added"),
      200: jsonResponse(OperatorSchema, "Already there, as asked"),
      ...errorResponses(400, 401, 403, 409),
    },
  }),
  async (c) => {
    const input = c.req.valid("json");
    const actor = c.var.principal.userId;
    const result = await addOperator(
      c.var.ledger.control,
      { ...input, email: input.email?.toLowerCase() ?? null },
      actor,
      Date.now(),
    );
    if (result.kind === "identity_taken") throw new ApiError("operator_identity_taken");
    if (result.kind === "added") c.var.log.info("operator_added", { operatorId: input.id, actorId: actor });
    return c.json(view(result.operator), result.kind === "added" ? 201 : 200);
  },
);

operators.openapi(
  defineRoute({
    method: "put",
    path: "/admin/operators/{operatorId}/roles",
    auth: { permission: "operator.manage" },
    fourEyes: { when: "when it grants a role" },
    tags: ["operators"],
    summary: "Replace an operator's roles",
    description:
      "A change that only revokes takes effect at once, on the operator's next request. Leaving no active admin is 409 `last_admin`, and nothing changes.",
    request: { params: Params, body: jsonBody(RolesSchema) },
    responses: {
      200: jsonResponse(OperatorSchema, "The roles now"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { operatorId } = c.req.valid("param");
    const { roles } = c.req.valid("json");
    const actor = c.var.principal.userId;
    const before = await operatorById(c.var.ledger.control, operatorId);
    if (!before) throw new ApiError("operator_not_found");
    const grants = roles.filter((r) => !before.roles.includes(r));
    const proposed = await fourEyes(c, {
      required: grants.length > 0,
      summary: `Give ${operatorId} the roles ${[...new Set(roles)].join(", ") || "(none)"} (grants ${grants.join(", ")})`,
      body: { roles },
    });
    if (proposed) return proposed;
    const result = await setOperatorRoles(c.var.ledger.control, operatorId, roles, actor, Date.now());
    if (result.kind === "not_found") throw new ApiError("operator_not_found");
    if (result.kind === "last_admin") throw new ApiError("last_admin");
    c.var.log.info("operator_roles_set", {
      operatorId,
      actorId: actor,
      granted: result.granted,
      revoked: result.revoked,
    });
    return c.json(view(result.operator), 200);
  },
);

operators.openapi(
  defineRoute({
    method: "put",
    path: "/admin/operators/{operatorId}/status",
    auth: { permission: "operator.manage" },
    fourEyes: { when: "when it enables an operator again" },
    tags: ["operators"],
    summary: "Disable an operator (effective on their next request), or enable them again",
    description: "Disabling takes effect at once, on the operator's next request.",
    request: { params: Params, body: jsonBody(StatusSchema) },
    responses: {
      200: jsonResponse(OperatorSchema, "The operator now"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { operatorId } = c.req.valid("param");
    const { status } = c.req.valid("json");
    const before = await operatorById(c.var.ledger.control, operatorId);
    if (!before) throw new ApiError("operator_not_found");
    const proposed = await fourEyes(c, {
      required: status === "active" && before.status !== "active",
      summary: `Enable operator ${operatorId} again (roles: ${before.roles.join(", ") || "none"})`,
      body: { status },
    });
    if (proposed) return proposed;
    const result = await setOperatorStatus(c.var.ledger.control, operatorId, status, Date.now());
    if (result.kind === "not_found") throw new ApiError("operator_not_found");
    if (result.kind === "last_admin") throw new ApiError("last_admin");
    c.var.log.info("operator_status_set", { operatorId, status, actorId: c.var.principal.userId });
    return c.json(view(result.operator), 200);
  },
);
