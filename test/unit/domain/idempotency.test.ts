import { describe, expect, it } from "vitest";
import { decideOnExisting, parseIdempotencyKey, requestFingerprint } from "../../../src/domain/idempotency";
import { LIMITS } from "../../../src/domain/limits";

describe("Idempotency-Key parsing", () => {
  it("accepts tokens and sf-strings, rejects missing, empty, too long and non-printable keys", () => {
    expect(parseIdempotencyKey("abc-123")).toEqual({ ok: true, value: "abc-123" });
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8"')).toEqual({ ok: true, value: "8e03978e-40d5-43e8" });
    expect(parseIdempotencyKey(undefined)).toMatchObject({ ok: false, code: "idempotency_key_missing" });
    expect(parseIdempotencyKey("")).toMatchObject({ ok: false, code: "idempotency_key_missing" });
    expect(parseIdempotencyKey('""')).toMatchObject({ ok: false, code: "idempotency_key_invalid" });
    expect(parseIdempotencyKey("k".repeat(LIMITS.idempotencyKeyMaxLength))).toMatchObject({ ok: true });
    expect(parseIdempotencyKey("k".repeat(LIMITS.idempotencyKeyMaxLength + 1))).toMatchObject({
      ok: false,
      code: "idempotency_key_invalid",
    });
    expect(parseIdempotencyKey("has space")).toMatchObject({ ok: false, code: "idempotency_key_invalid" });
    expect(parseIdempotencyKey("ключ")).toMatchObject({ ok: false, code: "idempotency_key_invalid" });
  });
});

describe("requestFingerprint", () => {
  it("differs by method, path and body and is stable", async () => {
    const a = await requestFingerprint("POST", "/v1/rooms/r/tips", '{"a":1}');
    expect(await requestFingerprint("post", "/v1/rooms/r/tips", '{"a":1}')).toBe(a);
    expect(await requestFingerprint("POST", "/v1/rooms/s/tips", '{"a":1}')).not.toBe(a);
    expect(await requestFingerprint("POST", "/v1/rooms/r/tips", '{"a":2}')).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("decideOnExisting", () => {
  const base = {
    requestHash: "h",
    state: "in_flight" as const,
    lockedUntilMs: 1_000,
    responseStatus: null,
    responseBody: null,
  };

  it("rejects another request under the same key with 422, whatever its state", () => {
    expect(decideOnExisting(base, "other", 0)).toEqual({ kind: "reject", code: "idempotency_key_reused" });
    expect(
      decideOnExisting({ ...base, state: "completed", responseStatus: 201, responseBody: "{}" }, "other", 0),
    ).toEqual({
      kind: "reject",
      code: "idempotency_key_reused",
    });
  });

  it("replays a completed request", () => {
    expect(
      decideOnExisting({ ...base, state: "completed", responseStatus: 201, responseBody: '{"x":1}' }, "h", 0),
    ).toEqual({
      kind: "replay",
      status: 201,
      body: '{"x":1}',
    });
  });

  it("answers 409 while the lock holds, and lets a lapsed lock be taken over", () => {
    expect(decideOnExisting(base, "h", 999)).toEqual({ kind: "reject", code: "idempotency_key_in_flight" });
    expect(decideOnExisting(base, "h", 1_000)).toEqual({ kind: "execute" });
  });
});
