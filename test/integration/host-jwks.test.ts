/**
 * Host identity through JWKS (issue 18): with HOST_JWKS_URL set, user tokens are verified
 * against the host's key set, served here by the test network (test/support/host-login.ts),
 * fetched and cached by the Worker as in production. Rotation by `kid`, the bound on a removed
 * key, the cooldown on unknown `kid`s, the claim checks, and a login service that is down.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { mintToken } from "../../dev/tokens";
import { configFrom } from "../../src/platform/config";
import { createApp } from "../../src/worker/app";
import { HOST_LOGIN_HOST } from "../support/host-login";
import { DOUBLES_ORIGIN } from "../support/provider-network";
import { BASE, config } from "./helpers";

const app = createApp();
const ISSUER = "https://login.host.example";
const AUDIENCE = "giftwire-at-host";

const uid = () => crypto.randomUUID().slice(0, 8);

interface HostKey {
  readonly kid: string;
  readonly alg: "RS256" | "ES256" | "EdDSA";
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function hostKey(alg: HostKey["alg"], kid = `k-${uid()}`): Promise<HostKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** A host's key set of its own, and an env whose Worker trusts it. */
async function keySet(settings: { cooldownMs?: number; cacheMaxAgeMs?: number } = {}) {
  const name = `set-${uid()}`;
  const hostEnv = {
    ...env,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    HOST_JWKS_URL: `https://${HOST_LOGIN_HOST}/${name}/jwks.json`,
    HOST_JWKS_COOLDOWN_MS: String(settings.cooldownMs ?? 0),
    HOST_JWKS_CACHE_MAX_AGE_MS: String(settings.cacheMaxAgeMs ?? 600_000),
  } as Env;
  const publish = async (keys: readonly HostKey[], status = 200, padBytes = 0) => {
    const res = await fetch(`${DOUBLES_ORIGIN}/host-login/${name}`, {
      method: "PUT",
      body: JSON.stringify({ keys: keys.map((k) => k.jwk), status, padBytes }),
    });
    expect(res.status).toBe(200);
  };
  const fetches = async () =>
    ((await (await fetch(`${DOUBLES_ORIGIN}/host-login/${name}`)).json()) as { fetches: number }).fetches;
  return { hostEnv, publish, fetches };
}

/** A token as the host signs it: `kid` in the header, the host's issuer and audience. */
async function sign(
  key: HostKey,
  userId: string,
  options: { iss?: string; aud?: string; expiresInS?: number; kid?: string | null } = {},
): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  const header = options.kid === null ? { alg: key.alg } : { alg: key.alg, kid: options.kid ?? key.kid };
  return new SignJWT({ roles: ["viewer"] })
    .setProtectedHeader(header)
    .setSubject(userId)
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + (options.expiresInS ?? 300))
    .sign(key.privateKey);
}

/** The caller's own wallet: any signed-in user may read it. */
async function wallet(hostEnv: Env, userId: string, token: string) {
  const ctx = createExecutionContext();
  const res = await app.request(
    `${BASE}/v1/users/${userId}/wallet`,
    { headers: { authorization: `Bearer ${token}` } },
    hostEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code ?? null, retryAfter: res.headers.get("retry-after") };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("host identity through JWKS", () => {
  it("accepts the host's RS256, ES256 and EdDSA tokens by kid, fetching the set once", async () => {
    const { hostEnv, publish, fetches } = await keySet();
    const keys = [await hostKey("RS256"), await hostKey("ES256"), await hostKey("EdDSA")];
    await publish(keys);
    const user = `jwks-${uid()}`;
    for (const key of keys) expect(await wallet(hostEnv, user, await sign(key, user))).toEqual(ok);
    expect(await fetches()).toBe(1);
  });

  it("follows a rotation: key 2 published beside key 1, then key 1 removed and refused within the cache age", async () => {
    const [cooldownMs, cacheMaxAgeMs] = [200, 1_000];
    const { hostEnv, publish, fetches } = await keySet({ cooldownMs, cacheMaxAgeMs });
    const [k1, k2] = [await hostKey("RS256"), await hostKey("RS256")];
    const user = `jwks-${uid()}`;
    await publish([k1]);
    const byK1 = await sign(k1, user);
    expect(await wallet(hostEnv, user, byK1)).toEqual(ok);
    expect(await fetches()).toBe(1);

    // The host publishes key 2 and signs with it: its unknown kid makes the Worker fetch again
    // (once the cooldown since the last fetch has passed).
    await publish([k1, k2]);
    await sleep(cooldownMs + 50);
    const byK2 = await sign(k2, user);
    expect(await wallet(hostEnv, user, byK2)).toEqual(ok);
    expect(await fetches()).toBe(2);
    expect(await wallet(hostEnv, user, byK1)).toEqual(ok);
    expect(await fetches()).toBe(2);

    // The host removes key 1: accepted at most until the Worker's copy is cacheMaxAgeMs old.
    await publish([k2]);
    expect(await wallet(hostEnv, user, byK1)).toEqual(ok);
    await sleep(cacheMaxAgeMs + 100);
    expect(await wallet(hostEnv, user, byK1)).toEqual(unauthenticated);
    expect(await wallet(hostEnv, user, byK2)).toEqual(ok);
    // The stale copy was fetched again once; key 1's miss right after it is inside the cooldown.
    expect(await fetches()).toBe(3);
  });

  it("fetches at most once per cooldown for tokens naming unknown kids", async () => {
    const { hostEnv, publish, fetches } = await keySet({ cooldownMs: 60_000 });
    const [k1, stranger] = [await hostKey("ES256"), await hostKey("ES256")];
    const user = `jwks-${uid()}`;
    await publish([k1]);
    expect(await wallet(hostEnv, user, await sign(k1, user))).toEqual(ok);
    for (let i = 0; i < 20; i++) {
      const forged = await sign(stranger, user, { kid: `made-up-${i}` });
      expect(await wallet(hostEnv, user, forged)).toEqual(unauthenticated);
    }
    // A key published during the cooldown is picked up only after it (the price of the bound).
    const k2 = await hostKey("ES256");
    await publish([k1, k2]);
    expect(await wallet(hostEnv, user, await sign(k2, user))).toEqual(unauthenticated);
    expect(await fetches()).toBe(1);
  });

  it("refuses a wrong issuer, audience, an expired token, alg none, HS256 and a key not in the set: 401", async () => {
    const { hostEnv, publish, fetches } = await keySet();
    const k1 = await hostKey("RS256");
    await publish([k1]);
    const user = `jwks-${uid()}`;
    const signed = await sign(k1, user);
    const [, payload] = signed.split(".");
    const b64 = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, "");
    const bad: [string, string][] = [
      ["wrong issuer", await sign(k1, user, { iss: "https://evil.example" })],
      ["wrong audience", await sign(k1, user, { aud: "someone-else" })],
      ["expired", await sign(k1, user, { expiresInS: -60 })],
      ["alg none", `${b64({ alg: "none", kid: k1.kid })}.${payload}.`],
      ["alg none without kid", `${b64({ alg: "none" })}.${payload}.`],
      // The shared secret is not a key once the host's set is configured.
      ["HS256 under JWT_SECRET", await mintToken(configFrom(hostEnv), { userId: user, roles: ["viewer"] }, Date.now())],
      ["HS256 under the default config", await mintToken(config, { userId: user, roles: ["viewer"] }, Date.now())],
      ["a key not in the set, under a listed kid", await sign(await hostKey("RS256"), user, { kid: k1.kid })],
      ["a signature cut off", signed.slice(0, -4)],
    ];
    for (const [name, token] of bad) {
      expect({ name, ...(await wallet(hostEnv, user, token)) }).toEqual({ name, ...unauthenticated });
    }
    expect(await wallet(hostEnv, user, signed)).toEqual(ok);
    expect(await fetches()).toBe(1);
  });

  it("answers 503 host_keys_unavailable, not 401, while the host's set cannot be fetched", async () => {
    const { hostEnv, publish } = await keySet();
    const k1 = await hostKey("RS256");
    const user = `jwks-${uid()}`;
    const token = await sign(k1, user);
    for (const status of [500, 404, 302]) {
      await publish([k1], status);
      expect(await wallet(hostEnv, user, token)).toEqual({
        status: 503,
        code: "host_keys_unavailable",
        retryAfter: "5",
      });
    }
    // A set larger than LIMITS.hostJwksBytesMax (64 KiB) is not read to the end.
    await publish([k1], 200, 64 * 1024);
    expect((await wallet(hostEnv, user, token)).code).toBe("host_keys_unavailable");
    await publish([k1], 200, 60 * 1024);
    expect(await wallet(hostEnv, user, token)).toEqual(ok);
  });

  it("refuses a configuration giving both a static key and a key set, or a plain-http key set in production", () => {
    const url = `https://${HOST_LOGIN_HOST}/any/jwks.json`;
    expect(() => configFrom({ ...env, HOST_JWKS_URL: url, JWT_PUBLIC_JWK: '{"kty":"EC"}' } as Env)).toThrow(/set one/);
    expect(() =>
      configFrom({
        ...env,
        ENVIRONMENT: "production",
        ACCESS_TEAM_DOMAIN: "https://team.cloudflareaccess.com",
        ACCESS_AUD: "a".repeat(64),
        HOST_JWKS_URL: "http://login.host.example/jwks.json",
      } as Env),
    ).toThrow(/https/);
    expect(configFrom({ ...env, HOST_JWKS_URL: url } as Env).jwt.jwks).toEqual({
      url,
      cooldownMs: 30_000,
      cacheMaxAgeMs: 600_000,
    });
  });
});

const ok = { status: 200, code: null, retryAfter: null };
const unauthenticated = { status: 401, code: "unauthenticated", retryAfter: null };
