import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey } from "jose";
import { LIMITS } from "../../domain/limits";
import type { HostJwksSettings } from "../../platform/config";

/**
 * Host identity through JWKS (issue 18): a host plugs in its existing login by publishing its
 * public keys as a JSON Web Key Set and setting `HOST_JWKS_URL`. Tokens name their key by
 * `kid`; the host rotates by publishing the new key beside the old one, signing with the new,
 * then removing the old.
 *
 * The algorithms are named here, never taken from the token: asymmetric ones only, so a key set
 * can never be used as an HMAC secret, and `none` is refused by jose whatever the list.
 */
export const HOST_JWT_ALGORITHMS = ["RS256", "ES256", "EdDSA", "Ed25519"] as const;

/**
 * The host's key set could not be read (unreachable, not 200, too large, not JSON, timed out,
 * not a key set). The caller answers 503: the token may be fine, and telling the client it is
 * not would sign the user out because the host's login service is down.
 */
export class HostKeysUnavailable extends Error {
  override name = "HostKeysUnavailable";
}

/** True for the errors that mean "the keys could not be fetched", not "the token is bad". */
export function isKeysUnavailable(error: unknown): boolean {
  return (
    error instanceof HostKeysUnavailable || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid
  );
}

/**
 * Reads the key set with a bounded body, answering a failure as HostKeysUnavailable so it is
 * told apart from a bad token by its class. jose asks with `redirect: "manual"`: a redirect is
 * not followed (it is not 200, so it is a failure).
 */
async function fetchKeySet(url: string | URL | Request, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    // jose turns a TimeoutError (its own deadline) into JWKSTimeout.
    if (error instanceof Error && error.name === "TimeoutError") throw error;
    throw new HostKeysUnavailable("the host's key set could not be fetched", { cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new HostKeysUnavailable(`the host's key set answered ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > LIMITS.hostJwksBytesMax) {
    await response.body?.cancel();
    throw new HostKeysUnavailable("the host's key set is too large");
  }
  // Read up to the bound and no further, whatever the headers said.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  for (;;) {
    const chunk = reader ? await reader.read() : { done: true as const, value: undefined };
    if (chunk.done) break;
    size += chunk.value.byteLength;
    if (size > LIMITS.hostJwksBytesMax) {
      await reader?.cancel();
      throw new HostKeysUnavailable("the host's key set is too large");
    }
    chunks.push(chunk.value);
  }
  const decoder = new TextDecoder();
  const text = chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
  try {
    JSON.parse(text);
  } catch (cause) {
    throw new HostKeysUnavailable("the host's key set is not JSON", { cause });
  }
  return new Response(text, { status: 200, headers: { "content-type": "application/json" } });
}

/**
 * One key set per URL and cache settings, kept for the isolate's life: jose keeps the keys it
 * fetched, fetches again when its copy is older than `cacheMaxAgeMs`, and when a token names a
 * `kid` it does not hold — at most once per `cooldownMs`, so tokens with made-up `kid`s cannot
 * make every request a fetch to the host.
 */
const keySets = new Map<string, JWTVerifyGetKey>();

export function hostKeySet(settings: HostJwksSettings): JWTVerifyGetKey {
  const cacheKey = `${settings.cooldownMs}:${settings.cacheMaxAgeMs}:${settings.url}`;
  let keys = keySets.get(cacheKey);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(settings.url), {
      cooldownDuration: settings.cooldownMs,
      cacheMaxAge: settings.cacheMaxAgeMs,
      timeoutDuration: LIMITS.hostJwksTimeoutMs,
      [customFetch]: fetchKeySet,
    });
    keySets.set(cacheKey, keys);
  }
  return keys;
}
