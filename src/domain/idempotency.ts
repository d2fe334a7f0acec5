import { fail, ok, type Result } from "./errors";
import { LIMITS } from "./limits";

/**
 * Idempotency-Key semantics (IETF httpapi-idempotency-key-header draft):
 * missing → 400, same key with a different request → 422, same key still in flight → 409,
 * same key and request after completion → the stored response, replayed.
 */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

export function parseIdempotencyKey(header: string | undefined): Result<string> {
  if (header === undefined || header === "") return fail("idempotency_key_missing");
  // Structured-field sf-string form ("abc") is accepted as well as a bare token.
  const key = header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
  if (key.length === 0 || key.length > LIMITS.idempotencyKeyMaxLength || !KEY_PATTERN.test(key)) {
    return fail("idempotency_key_invalid");
  }
  return ok(key);
}

/** A fingerprint of what the request asks for: method, path and the exact body bytes. */
export async function requestFingerprint(method: string, path: string, body: string): Promise<string> {
  const bytes = new TextEncoder().encode(`${method.toUpperCase()} ${path}\n${body}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export type IdempotencyDecision =
  | { readonly kind: "execute" }
  | { readonly kind: "replay"; readonly status: number; readonly body: string }
  | { readonly kind: "reject"; readonly code: "idempotency_key_reused" | "idempotency_key_in_flight" };

export interface StoredIdempotencyRecord {
  readonly requestHash: string;
  readonly state: "in_flight" | "completed";
  readonly lockedUntilMs: number;
  readonly responseStatus: number | null;
  readonly responseBody: string | null;
}

/**
 * What to do with a request whose key already has a record. An in-flight record whose
 * lock has lapsed (its worker died) may be taken over: the operation id was fixed when the
 * record was created, so running it again cannot apply it twice.
 */
export function decideOnExisting(
  record: StoredIdempotencyRecord,
  requestHash: string,
  nowMs: number,
): IdempotencyDecision {
  if (record.requestHash !== requestHash) return { kind: "reject", code: "idempotency_key_reused" };
  if (record.state === "completed" && record.responseStatus !== null && record.responseBody !== null) {
    return { kind: "replay", status: record.responseStatus, body: record.responseBody };
  }
  if (record.lockedUntilMs > nowMs) return { kind: "reject", code: "idempotency_key_in_flight" };
  return { kind: "execute" };
}
