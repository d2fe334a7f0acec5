/**
 * Security tests generated from the routes themselves: every operation in /v1/openapi.json
 * and every route on the Hono router. A route added without an auth declaration, or with one
 * the Worker does not enforce, fails here without anyone writing a test for it; so does a money
 * route without its rate limits (test/integration/rate-limits.test.ts shows them biting).
 *
 * No request here is allowed to reach a handler: the tokens sent either lack the declared
 * role (refused by the auth middleware) or come with a malformed request (refused by the
 * validators, which run after auth) — so the probes change no state.
 */

import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mintToken } from "../../dev/tokens";
import { newPartnerKey, PARTNER_SCOPE_NAMES, type PartnerScope } from "../../src/domain/partner-keys";
import { OPERATOR_ROLES, type OperatorRole, rolesWith } from "../../src/domain/permissions";
import { RATE_LIMITS, type UserRateLimit } from "../../src/domain/rate-limits";
import { createApp } from "../../src/worker/app";
import { ROLES, type Role } from "../../src/worker/auth/jwt";
import { declaredAuth, partnerScopeOf, permissionOf, type RouteAuth } from "../../src/worker/middleware/auth";
import { declaredRateLimit } from "../../src/worker/middleware/rate-limit";
import { BASE, config, registerOperator } from "./helpers";

/**
 * OpenAPI operations anyone may call without a token. Exact: an operation declared public
 * that is not here fails, and so does one listed here that is not declared public.
 */
const PUBLIC_OPERATIONS = new Set([
  // The gift catalog, tip presets and bounds: the viewer page shows them before sign-in.
  "GET /v1/gifts",
  // The public keys grant tokens are signed with: hosts verify grants offline against them (issue 19).
  "GET /v1/content/grants/jwks.json",
]);

/** Routes registered on the app outside the OpenAPI document, each with its declared auth. */
const NON_OPENAPI_ROUTES: Record<string, RouteAuth> = {
  // Load balancers and uptime checks.
  "GET /healthz": "public",
  // The API's own description.
  "GET /v1/openapi.json": "public",
  // Payment providers: raw bytes, authenticated by the provider's signature in the handler.
  "POST /v1/payments/callbacks/:channel": "signature",
  "POST /v1/payouts/callbacks/:channel": "signature",
  // The room WebSocket: a bearer token, ?access_token= or an overlay key, checked in the handler.
  "GET /v1/rooms/:roomId/live": "socket",
};

/**
 * App-wide middleware (`use`): request context on everything; CORS and the default body limit
 * on /v1. Auth is never a path pattern: a `use` added here would have to be listed, and it
 * must not be auth.
 */
const APP_MIDDLEWARE = ["ALL /*", "ALL /v1/*", "ALL /v1/*"];

/** The three routes issue 11 named as having no 401/403 test: they must stay covered here. */
const NAMED_IN_ISSUE_11 = [
  "POST /v1/admin/payments/orders/{orderId}/refunds",
  "PUT /v1/admin/creators/{creatorId}/share",
  "POST /v1/payments/orders",
];

/**
 * The operations issue 15 makes four-eyed (maker-checker), and when. Exact: a route that starts
 * or stops proposing without this list changing fails here.
 */
const FOUR_EYED_OPERATIONS: Record<string, string> = {
  "POST /v1/users/{userId}/wallet/adjustments": "above `FOUR_EYES_ADJUSTMENT_MINOR` (default 1,000.00)",
  "POST /v1/admin/payments/orders/{orderId}/refunds": "above `FOUR_EYES_REFUND_MINOR` (default 1,000.00)",
  "POST /v1/admin/withdrawals/{withdrawalId}/approve": "above `FOUR_EYES_WITHDRAWAL_MINOR` (default 5,000.00)",
  "POST /v1/admin/tips/{tipId}/reversal": "always",
  "POST /v1/admin/unlocks/{unlockId}/refund": "always",
  "PUT /v1/admin/creators/{creatorId}/share": "always",
  "POST /v1/admin/revenue-schedules": "always",
  "PUT /v1/admin/switches/{kind}/{scope}": "always",
  "DELETE /v1/admin/switches/{kind}/{scope}": "always",
  "PUT /v1/admin/operators/{operatorId}/roles": "when it grants a role",
  "PUT /v1/admin/operators/{operatorId}/status": "when it enables an operator again",
};

/**
 * The money routes users call: each must declare a per-user and a per-address rate limit
 * (domain/rate-limits.ts). Exact, both ways: a route with an Idempotency-Key header that users
 * (not operators) call is a money route and must be here; so is the claim (a packet share is
 * idempotent per user, so it takes no key). Operator routes that move money are behind
 * Cloudflare Access, audited and four-eyed, and are not rate limited.
 */
const MONEY_ROUTES: Record<string, UserRateLimit> = {
  "POST /v1/rooms/{roomId}/tips": "tips",
  "POST /v1/rooms/{roomId}/red-packets": "packets",
  "POST /v1/rooms/{roomId}/red-packets/{packetId}/claims": "packets",
  "POST /v1/payments/orders": "payments",
  "POST /v1/creators/me/withdrawals": "withdrawals",
  // A paid unlock (issue 19) shares the wallet tips' per-user limit: the same wallet, the same kind of spend.
  "POST /v1/content/{contentId}/unlock": "tips",
  // A tip on a content item (issue 19) is a wallet tip.
  "POST /v1/content/{contentId}/tips": "tips",
  "POST /v1/me/winnings/withdrawals": "withdrawals",
};

/** The routes outside the OpenAPI document that carry a rate limit: the provider callbacks. */
const RATE_LIMITED_NON_OPENAPI: Record<string, "callbacks"> = {
  "POST /v1/payments/callbacks/:channel": "callbacks",
  "POST /v1/payouts/callbacks/:channel": "callbacks",
};

const METHODS = ["get", "put", "post", "patch", "delete"] as const;

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  example?: unknown;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  minItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

interface Operation {
  parameters?: { name: string; in: string; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses?: Record<string, unknown>;
  security?: unknown[];
  "x-giftwire-auth"?: RouteAuth;
  "x-giftwire-four-eyes"?: { when: string };
  "x-giftwire-rate-limit"?: { name: string; key: string; limit: number; periodS: number }[];
}

interface OpenApiDocument {
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components: { schemas: Record<string, JsonSchema> };
}

const docResponse = await exports.default.fetch(`${BASE}/v1/openapi.json`);
const doc = (await docResponse.json()) as OpenApiDocument;

const ULID_TAIL = "01JDEM00000000000000000000";
const PREFIXED_ULID = /^\^([a-z]+_)\[0-9A-HJKMNP-TV-Z\]\{26\}\$$/;

/** A syntactically valid path parameter: the schema's example, or a prefixed ULID from its pattern. */
function sampleParam(op: string, name: string, schema: JsonSchema): string {
  if (typeof schema.example === "string") return schema.example;
  const prefix = schema.pattern === undefined ? null : PREFIXED_ULID.exec(schema.pattern)?.[1];
  if (prefix) return `${prefix}${ULID_TAIL}`;
  throw new Error(`${op}: give the path parameter "${name}" an example so this test can fill it in`);
}

function resolve(schema: JsonSchema): JsonSchema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace("#/components/schemas/", "");
  const found = doc.components.schemas[name];
  if (!found) throw new Error(`unresolved ${schema.$ref}`);
  return resolve(found);
}

/** A request body that looks valid: examples where the document has them, else built from the schema. */
function sampleBody(schema: JsonSchema): unknown {
  const s = resolve(schema);
  if (s.example !== undefined) return s.example;
  if (s.const !== undefined) return s.const;
  if (s.enum?.[0] !== undefined) return s.enum[0];
  const first = s.oneOf?.[0] ?? s.anyOf?.[0];
  if (first) return sampleBody(first);
  if (s.allOf) return Object.assign({}, ...s.allOf.map((part) => sampleBody(part)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === "object" || s.properties) {
    const body: Record<string, unknown> = {};
    for (const key of s.required ?? []) {
      const prop = s.properties?.[key];
      if (prop) body[key] = sampleBody(prop);
    }
    return body;
  }
  if (type === "array") return s.items ? Array.from({ length: s.minItems ?? 0 }, () => sampleBody(s.items ?? {})) : [];
  if (type === "integer" || type === "number") return s.minimum ?? 1;
  if (type === "boolean") return false;
  return "sample";
}

interface Case {
  readonly name: string;
  readonly method: string;
  readonly auth: RouteAuth | undefined;
  readonly op: Operation;
  readonly path: string;
  /** The same path with every parameter malformed (null without parameters). */
  readonly malformedPath: string | null;
  readonly body: unknown;
}

const cases: Case[] = [];
for (const [template, item] of Object.entries(doc.paths)) {
  for (const method of METHODS) {
    const op = item[method];
    if (!op) continue;
    const name = `${method.toUpperCase()} /v1${template}`;
    let path = `/v1${template}`;
    let malformedPath: string | null = null;
    for (const p of op.parameters ?? []) {
      if (p.in !== "path") continue;
      path = path.replace(`{${p.name}}`, encodeURIComponent(sampleParam(name, p.name, p.schema)));
      malformedPath = (malformedPath ?? `/v1${template}`).replace(`{${p.name}}`, "%20not%20an%20id%20");
    }
    const schema = op.requestBody?.content["application/json"]?.schema;
    cases.push({
      name,
      method: method.toUpperCase(),
      auth: op["x-giftwire-auth"],
      op,
      path,
      malformedPath,
      body: schema ? sampleBody(schema) : undefined,
    });
  }
}

async function send(c: Case, options: { token?: string; apiKey?: string; path?: string; body?: unknown }) {
  const headers: Record<string, string> = { "idempotency-key": `route-security-${crypto.randomUUID()}` };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers["x-api-key"] = options.apiKey;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const res = await exports.default.fetch(`${BASE}${options.path ?? c.path}`, { method: c.method, headers, body });
  const text = await res.text();
  const parsed = text.startsWith("{") ? (JSON.parse(text) as { error?: { code?: string } }) : null;
  return { status: res.status, code: parsed?.error?.code };
}

function tokenWith(roles: readonly Role[]): Promise<string> {
  return mintToken(config, { userId: "route-security-probe", roles: [...roles] }, Date.now());
}

/**
 * A token for an operator holding exactly `roles` in the operator directory (one probe operator
 * per role set, so concurrent files never change each other's). The token claims no roles:
 * only the directory speaks for an operator.
 */
async function operatorWith(roles: readonly OperatorRole[]): Promise<string> {
  const id = `rs-op-${roles.length === 0 ? "none" : roles.join("-")}`;
  await registerOperator(id, roles);
  return mintToken(config, { userId: id, roles: ["viewer"] }, Date.now());
}

/** Every role set as a bit mask over OPERATOR_ROLES, in a fixed shuffled order (a seeded sweep). */
function shuffledRoleSets(seed: number): OperatorRole[][] {
  const sets: OperatorRole[][] = [];
  for (let mask = 1; mask < 1 << OPERATOR_ROLES.length; mask++) {
    sets.push(OPERATOR_ROLES.filter((_, i) => (mask >> i) & 1));
  }
  let state = seed;
  for (let i = sets.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = state % (i + 1);
    [sets[i], sets[j]] = [sets[j] as OperatorRole[], sets[i] as OperatorRole[]];
  }
  return sets;
}

/**
 * A partner API key for the probes, written straight to the control database (as the operator
 * route would: only the SHA-256 stored): holding `scopes`, optionally revoked or expired. One
 * partner per probe run; a fresh key per case keeps each within its own rate limit.
 */
const probePartner = `ptn_probe_${crypto.randomUUID()}`;
let probePartnerReady: Promise<unknown> | null = null;
async function partnerKeyWith(
  scopes: readonly PartnerScope[],
  state: "live" | "revoked" | "expired" = "live",
): Promise<string> {
  probePartnerReady ??= env.CONTROL.prepare(
    `INSERT INTO partners (id, name, contact_email, status, created_by, created_at_ms)
     VALUES (?, 'route-security probe', 'probe@example.com', 'active', 'test', ?) ON CONFLICT (id) DO NOTHING`,
  )
    .bind(probePartner, Date.now())
    .run();
  await probePartnerReady;
  const minted = newPartnerKey("test", (n) => crypto.getRandomValues(new Uint8Array(n)));
  const nowMs = Date.now();
  await env.CONTROL.prepare(
    `INSERT INTO partner_api_keys (id, partner_id, mode, display_prefix, key_hash, scopes, name, created_by, created_at_ms, expires_at_ms, revoked_at_ms)
     VALUES (?, ?, 'test', ?, ?, ?, 'probe', 'test', ?, ?, ?)`,
  )
    .bind(
      `pk_probe_${crypto.randomUUID()}`,
      probePartner,
      minted.displayPrefix,
      minted.hash,
      JSON.stringify(scopes),
      nowMs,
      state === "expired" ? nowMs - 1 : null,
      state === "revoked" ? nowMs - 1 : null,
    )
    .run();
  return minted.key;
}

/** A body no route accepts: strict schemas refuse the unknown field. */
const MALFORMED_BODY = { notAField: "route-security probe" };

describe("the OpenAPI document", () => {
  it("declares the auth of every operation (x-giftwire-auth)", () => {
    const undeclared = cases.filter((c) => c.auth === undefined).map((c) => c.name);
    expect(undeclared).toEqual([]);
  });

  it("lists exactly the public operations as public, and documents bearer security on every other", () => {
    const declaredPublic = cases.filter((c) => c.auth === "public").map((c) => c.name);
    expect(new Set(declaredPublic)).toEqual(PUBLIC_OPERATIONS);
    for (const c of cases) {
      const op = doc.paths[c.name.slice(c.name.indexOf(" ") + 4)]?.[c.method.toLowerCase() as "get"];
      const partner = c.auth !== undefined && partnerScopeOf(c.auth) !== null;
      expect(op?.security, c.name).toEqual(
        c.auth === "public" ? undefined : partner ? [{ partnerKey: [] }, { partnerApiKey: [] }] : [{ bearerAuth: [] }],
      );
    }
  });

  it("declares exactly the four-eyed operations, each an operator route that can answer 202", () => {
    const declared: Record<string, string> = {};
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        const fourEyes = op?.["x-giftwire-four-eyes"];
        if (!op || !fourEyes) continue;
        const name = `${method.toUpperCase()} /v1${template}`;
        declared[name] = fourEyes.when;
        expect(permissionOf(op["x-giftwire-auth"] ?? "public"), name).not.toBeNull();
        expect(Object.keys(op.responses ?? {}), name).toContain("202");
      }
    }
    expect(declared).toEqual(FOUR_EYED_OPERATIONS);
  });

  it("gives every money route a per-user and a per-address rate limit, and no other route one", () => {
    const takesKey = (c: Case) =>
      (c.op.parameters ?? []).some((p) => p.in === "header" && p.name === "idempotency-key");
    const userRoutesWithKey = cases
      // A partner route's limit is its API key's (the partner gate), not a user's and an address's.
      .filter(
        (c) => takesKey(c) && c.auth !== undefined && permissionOf(c.auth) === null && partnerScopeOf(c.auth) === null,
      )
      .map((c) => c.name);
    for (const name of userRoutesWithKey) expect(Object.keys(MONEY_ROUTES), `${name} moves money`).toContain(name);
    const declared = Object.fromEntries(
      cases.filter((c) => c.op["x-giftwire-rate-limit"]).map((c) => [c.name, c.op["x-giftwire-rate-limit"]]),
    );
    const expected = Object.fromEntries(
      Object.entries(MONEY_ROUTES).map(([name, user]) => [
        name,
        [user, "moneyIp" as const].map((limit) => ({
          name: limit,
          key: RATE_LIMITS[limit].keyKind,
          limit: RATE_LIMITS[limit].limit,
          periodS: RATE_LIMITS[limit].periodS,
        })),
      ]),
    );
    expect(declared).toEqual(expected);
    for (const [name, limits] of Object.entries(declared)) {
      expect(
        limits?.map((l) => l.key),
        name,
      ).toEqual(["user", "ip"]);
    }
  });

  it("documents 429 on every route that can refuse with it (rate limits, failed sign-ins)", () => {
    const missing = cases
      .filter((c) => (c.auth !== "public" || c.op["x-giftwire-rate-limit"]) && !c.op.responses?.["429"])
      .map((c) => c.name);
    expect(missing).toEqual([]);
  });

  it("covers the routes issue 11 named as untested", () => {
    const names = new Set(cases.map((c) => c.name));
    for (const name of NAMED_IN_ISSUE_11) expect(names.has(name), name).toBe(true);
  });
});

describe.each(cases.filter((c) => c.auth !== "public"))("$name", (c) => {
  it("answers 401 without a token, even to a malformed request (auth runs before validation)", async () => {
    expect(await send(c, { body: c.body })).toEqual({ status: 401, code: "unauthenticated" });
    const malformed = await send(c, {
      path: c.malformedPath ?? c.path,
      body: c.body === undefined ? undefined : MALFORMED_BODY,
    });
    expect(malformed).toEqual({ status: 401, code: "unauthenticated" });
  });

  const permission = c.auth === undefined ? null : permissionOf(c.auth);
  if (permission) {
    const holders = rolesWith(permission);
    it(`answers 403 to every operator role without ${permission}, and to operators by token claim alone`, async () => {
      const refused: [string, string][] = [
        // Every operator role claimed in the token, but no operator row: the claim alone is nothing.
        ["claims only", await tokenWith(ROLES)],
        ["no roles", await operatorWith([])],
        ...(await Promise.all(
          OPERATOR_ROLES.filter((r) => !holders.includes(r)).map(
            async (r) => [r, await operatorWith([r])] as [string, string],
          ),
        )),
      ];
      for (const [label, token] of refused) {
        expect(await send(c, { token, body: c.body }), label).toEqual({ status: 403, code: "forbidden" });
        const malformed = await send(c, {
          token,
          path: c.malformedPath ?? c.path,
          body: c.body === undefined ? undefined : MALFORMED_BODY,
        });
        expect(malformed, `${label}, malformed`).toEqual({ status: 403, code: "forbidden" });
      }
    });

    // The sweep: role sets in a shuffled order; each passes the gate (and stops at validation,
    // or for a GET without parameters, reads) exactly when one of its roles holds the
    // permission. Only malformed requests and reads: nothing changes.
    const validates = c.malformedPath !== null || c.body !== undefined;
    if (validates || c.method === "GET") {
      it(`admits exactly the role sets holding ${permission} (${holders.join(", ")})`, async () => {
        const seed = [...c.name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 2_147_483_647, 7);
        const outcomes: string[] = [];
        const expected: string[] = [];
        for (const roles of shuffledRoleSets(seed).slice(0, 12)) {
          const res = await send(c, {
            token: await operatorWith(roles),
            path: c.malformedPath ?? c.path,
            body: c.body === undefined ? undefined : MALFORMED_BODY,
          });
          const allowed = roles.some((r) => holders.includes(r));
          outcomes.push(`${roles.join("+")}: ${res.status >= 200 && res.status < 300 ? "2xx" : res.status}`);
          expected.push(`${roles.join("+")}: ${allowed ? (validates ? 400 : "2xx") : 403}`);
        }
        expect(outcomes).toEqual(expected);
      });
    }
  }

  const scope = c.auth === undefined ? null : partnerScopeOf(c.auth);
  if (scope) {
    const malformed = { path: c.malformedPath ?? c.path, body: c.body === undefined ? undefined : MALFORMED_BODY };
    it(`answers 403 to a partner key without ${scope}, 401 to a user token, a revoked or an expired key`, async () => {
      const others = await partnerKeyWith(PARTNER_SCOPE_NAMES.filter((s) => s !== scope));
      expect(await send(c, { apiKey: others, body: c.body }), "other scopes").toEqual({
        status: 403,
        code: "forbidden",
      });
      expect(await send(c, { apiKey: others, ...malformed }), "other scopes, malformed").toEqual({
        status: 403,
        code: "forbidden",
      });
      const user = await tokenWith(ROLES);
      expect(await send(c, { token: user, body: c.body }), "a user token").toEqual({
        status: 401,
        code: "unauthenticated",
      });
      for (const state of ["revoked", "expired"] as const) {
        const key = await partnerKeyWith([scope], state);
        expect(await send(c, { apiKey: key, body: c.body }), state).toEqual({ status: 401, code: "unauthenticated" });
        expect(await send(c, { apiKey: key, ...malformed }), `${state}, malformed`).toEqual({
          status: 401,
          code: "unauthenticated",
        });
      }
    });
    if (c.malformedPath !== null || c.body !== undefined) {
      it(`lets a key holding only ${scope} through to validation`, async () => {
        const key = await partnerKeyWith([scope]);
        expect(await send(c, { apiKey: key, ...malformed })).toEqual({ status: 400, code: "malformed_request" });
      });
    }
  }

  const roles = Array.isArray(c.auth) ? (c.auth as readonly Role[]) : null;
  if (roles) {
    it(`answers 403 to tokens without any of ${roles.join(", ")}`, async () => {
      const others = ROLES.filter((r) => !roles.includes(r));
      for (const held of [[], others]) {
        const token = await tokenWith(held);
        expect(await send(c, { token, body: c.body }), `roles [${held.join(", ")}]`).toEqual({
          status: 403,
          code: "forbidden",
        });
        const malformed = await send(c, {
          token,
          path: c.malformedPath ?? c.path,
          body: c.body === undefined ? undefined : MALFORMED_BODY,
        });
        expect(malformed, `roles [${held.join(", ")}], malformed`).toEqual({ status: 403, code: "forbidden" });
      }
    });
  }

  // With a malformed request, a token the declaration admits gets as far as validation (400)
  // and no further: this proves the declaration is not stricter than it says, changing nothing.
  if ((c.malformedPath !== null || c.body !== undefined) && permission) {
    it("lets every operator role holding the permission through to validation", async () => {
      for (const role of rolesWith(permission)) {
        const malformed = await send(c, {
          token: await operatorWith([role]),
          path: c.malformedPath ?? c.path,
          body: c.body === undefined ? undefined : MALFORMED_BODY,
        });
        expect(malformed, role).toEqual({ status: 400, code: "malformed_request" });
      }
    });
  }
  if ((c.malformedPath !== null || c.body !== undefined) && (roles || c.auth === "signed-in")) {
    it("lets every token the declaration admits through to validation", async () => {
      for (const held of roles ? roles.map((r) => [r]) : [[]]) {
        const malformed = await send(c, {
          token: await tokenWith(held),
          path: c.malformedPath ?? c.path,
          body: c.body === undefined ? undefined : MALFORMED_BODY,
        });
        expect(malformed, `roles [${held.join(", ")}]`).toEqual({ status: 400, code: "malformed_request" });
      }
    });
  }
});

describe.each(cases.filter((c) => c.auth === "public"))("$name (public)", (c) => {
  it("answers without a token", async () => {
    const res = await send(c, { body: c.body });
    expect(res.status).toBe(200);
  });
});

describe("the router", () => {
  const routes = createApp().routes;
  const handlerOf = (h: unknown) => (h as { __COMPOSED_HANDLER?: unknown }).__COMPOSED_HANDLER ?? h;
  const documented = new Map(
    cases.map((c) => [c.name.replace(/\{([^}]+)\}/g, ":$1"), c.auth] as [string, RouteAuth | undefined]),
  );

  it("has no path-pattern middleware beyond the app-wide ones (auth is declared on routes)", () => {
    const uses = routes.filter((r) => r.method === "ALL").map((r) => `${r.method} ${r.path}`);
    expect(uses).toEqual(APP_MIDDLEWARE);
  });

  it("gives every route one auth declaration, first in its handlers, matching its documentation", () => {
    const byRoute = new Map<string, unknown[]>();
    for (const r of routes) {
      if (r.method === "ALL") continue;
      const key = `${r.method} ${r.path}`;
      byRoute.set(key, [...(byRoute.get(key) ?? []), handlerOf(r.handler)]);
    }
    const problems: string[] = [];
    for (const [key, handlers] of byRoute) {
      const declared = handlers.map(declaredAuth).filter((a) => a !== undefined);
      const expected = documented.has(key) ? documented.get(key) : NON_OPENAPI_ROUTES[key];
      if (!documented.has(key) && !(key in NON_OPENAPI_ROUTES)) problems.push(`${key}: neither documented nor listed`);
      else if (declared.length !== 1) problems.push(`${key}: ${declared.length} auth declarations`);
      else if (declaredAuth(handlers[0]) === undefined) problems.push(`${key}: auth is not its first handler`);
      else if (JSON.stringify(declared[0]) !== JSON.stringify(expected)) {
        problems.push(`${key}: declares ${JSON.stringify(declared[0])}, documented ${JSON.stringify(expected)}`);
      }
    }
    for (const key of Object.keys(NON_OPENAPI_ROUTES)) if (!byRoute.has(key)) problems.push(`${key}: not registered`);
    expect(problems).toEqual([]);
  });

  it("enforces each route's declared rate limits right after its auth (not just documents them)", () => {
    const limited: Record<string, unknown> = {};
    for (const r of routes) {
      if (r.method === "ALL") continue;
      const key = `${r.method} ${r.path}`;
      const handlers = routes.filter((x) => `${x.method} ${x.path}` === key).map((x) => handlerOf(x.handler));
      const at = handlers.findIndex((h) => declaredRateLimit(h) !== undefined);
      if (at === -1) continue;
      expect(at, `${key}: the rate limit runs right after auth`).toBe(1);
      limited[key] = declaredRateLimit(handlers[at]);
    }
    const expected: Record<string, unknown> = { ...RATE_LIMITED_NON_OPENAPI };
    for (const [name, user] of Object.entries(MONEY_ROUTES)) {
      expected[name.replace(/\{([^}]+)\}/g, ":$1")] = { user, ip: "moneyIp" };
    }
    expect(limited).toEqual(expected);
  });
});
