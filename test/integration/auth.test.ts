import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { mintToken } from "../../dev/tokens";
import type { Config } from "../../src/platform/config";
import { verifyToken } from "../../src/worker/auth/jwt";
import { call, config, token } from "./helpers";

const path = "/v1/users/auth-user/wallet";

async function hs256(claims: Record<string, unknown>, secret = env.JWT_SECRET, header: Record<string, unknown> = {}) {
  const nowS = Math.floor(Date.now() / 1000);
  return new SignJWT({
    sub: "auth-user",
    roles: ["viewer"],
    iss: config.jwt.issuer,
    aud: config.jwt.audience,
    exp: nowS + 60,
    ...claims,
  })
    .setProtectedHeader({ alg: "HS256", ...header })
    .sign(new TextEncoder().encode(secret));
}

describe("bearer tokens", () => {
  it("accepts a valid token", async () => {
    const res = await call("GET", path, { token: await token("auth-user") });
    expect(res.status).toBe(200);
  });

  const bad: [string, () => Promise<string>][] = [
    ["a wrong signature", () => hs256({}, "another-secret-another-secret-another-secret")],
    ["an expired token", () => hs256({ exp: Math.floor(Date.now() / 1000) - 10 })],
    ["a wrong issuer", () => hs256({ iss: "https://evil.example" })],
    ["a wrong audience", () => hs256({ aud: "someone-else" })],
    ["no expiry", () => hs256({ exp: undefined })],
    ["an unknown role", () => hs256({ roles: ["god"] })],
    ["a subject that is not a user id", () => hs256({ sub: "a:b" })],
    [
      "alg none",
      async () => {
        const [, payload] = (await hs256({})).split(".");
        return `${btoa(JSON.stringify({ alg: "none" })).replace(/=+$/, "")}.${payload}.`;
      },
    ],
    ["garbage", async () => "not.a.jwt"],
  ];
  for (const [name, make] of bad) {
    it(`answers 401 unauthenticated for ${name}`, async () => {
      const res = await call("GET", path, { token: await make() });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("unauthenticated");
    });
  }

  it("answers 401 without a token and for a non-bearer scheme", async () => {
    expect((await call("GET", path)).status).toBe(401);
    const basic = await call("GET", path, { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(basic.status).toBe(401);
  });

  it("verifies ES256 tokens with a host's public key, and refuses HS256 tokens then", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const es: Config = { ...config, jwt: { ...config.jwt, publicJwk: JSON.stringify(await exportJWK(publicKey)) } };
    const nowS = Math.floor(Date.now() / 1000);
    const good = await new SignJWT({ roles: ["viewer", "creator"] })
      .setProtectedHeader({ alg: "ES256" })
      .setSubject("host-user-7")
      .setIssuer(config.jwt.issuer)
      .setAudience(config.jwt.audience)
      .setExpirationTime(nowS + 60)
      .sign(privateKey);
    const principal = await verifyToken(good, es, Date.now());
    expect(principal?.userId).toBe("host-user-7");
    expect([...(principal?.roles ?? [])]).toEqual(["viewer", "creator"]);
    // An HS256 token signed with the (public!) key material must not pass: algorithm confusion.
    const hsToken = await mintToken(config, { userId: "host-user-7", roles: ["admin"] }, Date.now());
    expect(await verifyToken(hsToken, es, Date.now())).toBeNull();
    // Expired is expired for ES256 too.
    expect(await verifyToken(good, es, Date.now() + 120_000)).toBeNull();
  });
});

describe("request ids and errors", () => {
  it("puts a request id on every response and in every error envelope", async () => {
    const res = await call("GET", "/v1/nowhere");
    expect(res.status).toBe(404);
    expect(res.body.error).toEqual({
      code: "not_found",
      message: "No such route.",
      requestId: res.headers.get("x-request-id"),
    });
  });

  it("echoes a well-formed caller request id and replaces a malformed one", async () => {
    const echoed = await call("GET", "/healthz", { headers: { "x-request-id": "trace-abc_123" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-abc_123");
    const replaced = await call("GET", "/healthz", { headers: { "x-request-id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^req_/);
  });
});

describe("development routes", () => {
  it("mint tokens in the development entry the tests run", async () => {
    const res = await call("POST", "/v1/dev/tokens", { body: { userId: "dev-user", roles: ["viewer"] } });
    expect(res.status).toBe(201);
    const wallet = await call("GET", "/v1/users/dev-user/wallet", { token: res.body.token });
    expect(wallet.status).toBe(200);
    const bad = await call("POST", "/v1/dev/tokens", { body: { userId: "dev user", roles: [] } });
    expect(bad.status).toBe(400);
  });

  it("do not exist in the production app, whatever the environment says", async () => {
    const { createApp } = await import("../../src/worker/app");
    const app = createApp();
    // Production requires Cloudflare Access for operators (config refuses to start without it).
    const access = { ACCESS_TEAM_DOMAIN: "https://giftwire-test.cloudflareaccess.com", ACCESS_AUD: "a".repeat(64) };
    for (const ENVIRONMENT of ["test", "development", "production"]) {
      const res = await app.request(
        "/v1/dev/tokens",
        { method: "POST", body: JSON.stringify({ userId: "dev-user", roles: ["admin"] }) },
        { ...env, ...access, ENVIRONMENT },
      );
      expect(res.status).toBe(404);
      expect(((await res.json()) as any).error.code).toBe("not_found");
      const seed = await app.request("/v1/dev/seed", { method: "POST" }, { ...env, ...access, ENVIRONMENT });
      expect(seed.status).toBe(404);
    }
  });

  it("are refused by the development entry too when its environment is production", async () => {
    const { createExecutionContext } = await import("cloudflare:test");
    const { default: devWorker } = await import("../../dev/giftwire-dev");
    const prodEnv = {
      ...env,
      ENVIRONMENT: "production",
      ACCESS_TEAM_DOMAIN: "https://giftwire-test.cloudflareaccess.com",
      ACCESS_AUD: "a".repeat(64),
    };
    const request = new Request("https://giftwire.test/v1/dev/tokens", {
      method: "POST",
      body: JSON.stringify({ userId: "dev-user", roles: ["admin"] }),
    });
    const res = await devWorker.fetch(request, prodEnv, createExecutionContext());
    expect(res.status).toBe(404);
  });
});
