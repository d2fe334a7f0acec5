/**
 * Operator sign-in and the operator directory (issue 15): who is an operator, and with which
 * roles, is the control database's say — through Cloudflare Access in production (verified
 * against the team's certs, served here by the provider network) and the bearer token's
 * subject locally. A token's `roles` claim alone makes nobody an operator.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { importPKCS8, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { mintToken } from "../../dev/tokens";
import { PERMISSION_NAMES, permissionsOf } from "../../src/domain/permissions";
import { createApp } from "../../src/worker/app";
import { BASE, call, callApproved, config, registerOperator, token } from "./helpers";

const TEAM = "https://giftwire-test.cloudflareaccess.com";
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const KID = "giftwire-test-access-1";

const accessEnv = { ...env, ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD } as Env;
const app = createApp();

async function accessKey(): Promise<CryptoKey> {
  const keys = JSON.parse(env.TEST_PROVIDER_KEYS) as { accessTeam: { privatePkcs8Base64: string } };
  const pem = `-----BEGIN PRIVATE KEY-----\n${keys.accessTeam.privatePkcs8Base64}\n-----END PRIVATE KEY-----`;
  return importPKCS8(pem, "RS256");
}

/** An assertion as Access signs it: RS256 under the team key, `iss` the team, `aud` [AUD]. */
async function assertion(
  claims: Record<string, unknown>,
  options: { iss?: string; aud?: string; expiresInS?: number; key?: CryptoKey; kid?: string } = {},
): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: options.kid ?? KID })
    .setIssuer(options.iss ?? TEAM)
    .setAudience([options.aud ?? AUD])
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + (options.expiresInS ?? 300))
    .sign(options.key ?? (await accessKey()));
}

async function viaAccess(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await app.request(
    `${BASE}${path}`,
    {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    accessEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const uid = () => crypto.randomUUID().slice(0, 8);

describe("operators through Cloudflare Access", () => {
  it("admit a person by the email in a valid assertion, with the directory's roles", async () => {
    const id = `op-acc-${uid()}`;
    const email = `${id}@giftwire.example`;
    const admin = await token(`op-admin-${uid()}`, "admin");
    expect(
      (
        await call("POST", "/v1/admin/operators", {
          token: admin,
          body: { id, displayName: "Access person", email: email.toUpperCase() },
        })
      ).status,
    ).toBe(201);
    expect(
      (await callApproved("PUT", `/v1/admin/operators/${id}/roles`, { token: admin, body: { roles: ["auditor"] } }))
        .status,
    ).toBe(200);

    const me = await viaAccess("GET", "/v1/admin/me", {
      "cf-access-jwt-assertion": await assertion({ email, sub: "u1" }),
    });
    expect(me.status).toBe(200);
    expect(me.body.operator).toMatchObject({ id, email, roles: ["auditor"] });
    expect(me.body.permissions).toEqual([...permissionsOf(["auditor"])].sort());
    // Read-only: the auditor cannot change anything.
    const change = await viaAccess(
      "PUT",
      "/v1/admin/notification-templates/tips_merged/en",
      { "cf-access-jwt-assertion": await assertion({ email }) },
      { title: "x", body: "y" },
    );
    expect(change).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
  });

  it("admit a service token by its client id (common_name, empty sub)", async () => {
    const id = `op-svc-${uid()}`;
    const clientId = `${uid()}.access`;
    const admin = await token(`op-admin-${uid()}`, "admin");
    await call("POST", "/v1/admin/operators", {
      token: admin,
      body: { id, displayName: "Nightly job", serviceClientId: clientId },
    });
    await callApproved("PUT", `/v1/admin/operators/${id}/roles`, { token: admin, body: { roles: ["finance"] } });
    const me = await viaAccess("GET", "/v1/admin/me", {
      "cf-access-jwt-assertion": await assertion({ sub: "", common_name: clientId }),
    });
    expect(me.status).toBe(200);
    expect(me.body.operator).toMatchObject({ id, serviceClientId: clientId, roles: ["finance"] });
  });

  it("refuse assertions that fail any check with 401, and unknown people with 403", async () => {
    const id = `op-acc-${uid()}`;
    const email = `${id}@giftwire.example`;
    await registerOperator(id, ["admin"]);
    await env.CONTROL.prepare("UPDATE operators SET email = ? WHERE id = ?").bind(email, id).run();
    const other = await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    );
    const bad: [string, Record<string, string>][] = [
      ["no assertion", {}],
      ["wrong audience", { "cf-access-jwt-assertion": await assertion({ email }, { aud: "0".repeat(64) }) }],
      [
        "wrong issuer",
        { "cf-access-jwt-assertion": await assertion({ email }, { iss: "https://evil.cloudflareaccess.com" }) },
      ],
      ["expired", { "cf-access-jwt-assertion": await assertion({ email }, { expiresInS: -120 }) }],
      [
        "another key",
        { "cf-access-jwt-assertion": await assertion({ email }, { key: (other as CryptoKeyPair).privateKey }) },
      ],
      ["garbage", { "cf-access-jwt-assertion": "not.a.jwt" }],
      // With Access configured, a bearer token names no operator, even an admin's subject.
      [
        "bearer instead",
        { authorization: `Bearer ${await mintToken(config, { userId: id, roles: ["admin"] }, Date.now())}` },
      ],
    ];
    for (const [label, headers] of bad) {
      const res = await viaAccess("GET", "/v1/admin/me", headers);
      expect(res, label).toMatchObject({ status: 401, body: { error: { code: "unauthenticated" } } });
    }
    const stranger = await viaAccess("GET", "/v1/admin/me", {
      "cf-access-jwt-assertion": await assertion({ email: `nobody-${uid()}@giftwire.example` }),
    });
    expect(stranger).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    const ok = await viaAccess("GET", "/v1/admin/me", { "cf-access-jwt-assertion": await assertion({ email }) });
    expect(ok.status).toBe(200);
  });
});

describe("the operator directory", () => {
  it("decides, not the token: revoking a role or disabling an operator takes effect on the next request", async () => {
    const admin = await token(`op-admin-${uid()}`, "admin");
    const id = `op-fin-${uid()}`;
    // A token claiming every role makes nobody an operator.
    const claims = await mintToken(config, { userId: id, roles: ["admin", "finance"] }, Date.now());
    expect((await call("GET", "/v1/admin/ledger/invariants", { token: claims })).status).toBe(403);

    expect((await call("POST", "/v1/admin/operators", { token: admin, body: { id, displayName: "Fin" } })).status).toBe(
      201,
    );
    // Added without roles: still nothing.
    expect((await call("GET", "/v1/admin/me", { token: claims })).status).toBe(403);
    const granted = await callApproved("PUT", `/v1/admin/operators/${id}/roles`, {
      token: admin,
      body: { roles: ["finance", "support"] },
    });
    expect(granted.body.roles).toEqual(["finance", "support"]);
    expect((await call("GET", "/v1/admin/ledger/invariants", { token: claims })).status).toBe(200);
    // A finance operator may not manage operators.
    expect((await call("GET", "/v1/admin/operators", { token: claims })).status).toBe(403);

    // Revoking finance (leaving support) is at once: no adjustments, no invariant checker, but
    // support still reads anyone's wallet.
    await call("PUT", `/v1/admin/operators/${id}/roles`, { token: admin, body: { roles: ["support"] } });
    expect((await call("POST", `/v1/users/${id}/wallet/adjustments`, { token: claims, body: {} })).status).toBe(403);
    expect((await call("GET", "/v1/admin/ledger/invariants", { token: claims })).status).toBe(403);
    expect((await call("GET", "/v1/users/someone-else/wallet", { token: claims })).status).toBe(200);

    await call("PUT", `/v1/admin/operators/${id}/status`, { token: admin, body: { status: "disabled" } });
    expect((await call("GET", "/v1/admin/me", { token: claims })).status).toBe(403);
    // Object-level checks read the directory too: a disabled operator reads only their own wallet.
    expect((await call("GET", "/v1/users/someone-else/wallet", { token: claims })).status).toBe(403);
    await callApproved("PUT", `/v1/admin/operators/${id}/status`, { token: admin, body: { status: "active" } });
    expect((await call("GET", "/v1/users/someone-else/wallet", { token: claims })).status).toBe(200);
  });

  it("adds idempotently, refuses a taken identity, pages in id order and names unknown operators", async () => {
    const admin = await token(`op-admin-${uid()}`, "admin");
    const tag = uid();
    const email = `dup-${tag}@giftwire.example`;
    const first = { id: `op-a-${tag}`, displayName: "A", email };
    expect((await call("POST", "/v1/admin/operators", { token: admin, body: first })).status).toBe(201);
    expect((await call("POST", "/v1/admin/operators", { token: admin, body: first })).status).toBe(200);
    const taken = await call("POST", "/v1/admin/operators", {
      token: admin,
      body: { id: `op-b-${tag}`, displayName: "B", email },
    });
    expect(taken).toMatchObject({ status: 409, body: { error: { code: "operator_identity_taken" } } });
    const sameIdOtherEmail = await call("POST", "/v1/admin/operators", {
      token: admin,
      body: { ...first, email: `other-${tag}@giftwire.example` },
    });
    expect(sameIdOtherEmail.status).toBe(409);
    expect((await call("GET", `/v1/admin/operators?after=op-b-${tag}`, { token: admin })).status).toBe(200);

    const seen: string[] = [];
    let after: string | null = `op-a-${tag}`.slice(0, -1);
    for (let page = 0; page < 50 && after !== null; page++) {
      const res: { body: { items: { id: string }[]; next: string | null } } = await call(
        "GET",
        `/v1/admin/operators?limit=2&after=${after}`,
        { token: admin },
      );
      seen.push(...res.body.items.map((o) => o.id));
      after = res.body.next;
      if (seen.includes(first.id)) break;
    }
    expect(seen).toContain(first.id);
    expect([...seen].sort()).toEqual(seen);

    for (const [method, path, body] of [
      ["PUT", `/v1/admin/operators/op-none-${tag}/roles`, { roles: [] }],
      ["PUT", `/v1/admin/operators/op-none-${tag}/status`, { status: "disabled" }],
    ] as const) {
      expect(await call(method, path, { token: admin, body })).toMatchObject({
        status: 404,
        body: { error: { code: "operator_not_found" } },
      });
    }
    const unknownRole = await call("PUT", `/v1/admin/operators/${first.id}/roles`, {
      token: admin,
      body: { roles: ["superuser"] },
    });
    expect(unknownRole.status).toBe(400);
  });

  it("tells an operator their own permissions, from the matrix", async () => {
    const t = await token(`op-me-${uid()}`, "support", "risk");
    const me = await call("GET", "/v1/admin/me", { token: t });
    expect(me.status).toBe(200);
    expect(me.body.operator.roles).toEqual(["support", "risk"]);
    expect(me.body.permissions).toEqual([...permissionsOf(["support", "risk"])].sort());
    expect(me.body.permissions.every((p: string) => (PERMISSION_NAMES as string[]).includes(p))).toBe(true);
  });
});
