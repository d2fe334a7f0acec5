/**
 * The partners' webhook verifier (packages/client/src/webhooks.ts) against the Standard Webhooks
 * spec's test vector and against the `standardwebhooks` package, an independent implementation:
 * whatever it signs, ours accepts; whatever either side changes, both refuse.
 */
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { verifyWebhook, WebhookVerificationError } from "../../../packages/client/src/webhooks";

/** ../shared/PAYOUTS-AND-PLATFORM.md §2, from the reference library's own tests. */
const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestampS: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

const headersOf = (id: string, timestampS: number, signature: string) => ({
  "webhook-id": id,
  "webhook-timestamp": String(timestampS),
  "webhook-signature": signature,
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "accepted";
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error.reason;
    throw error;
  }
}

describe("verifyWebhook", () => {
  const at = VECTOR.timestampS * 1000;

  it("accepts the spec's test vector, from Headers or a plain object, and returns id and payload", async () => {
    const plain = headersOf(VECTOR.id, VECTOR.timestampS, VECTOR.signature);
    for (const headers of [plain, new Headers(plain)]) {
      expect(await verifyWebhook(VECTOR.secret, VECTOR.body, headers, { nowMs: at })).toEqual({
        id: VECTOR.id,
        timestampS: VECTOR.timestampS,
        payload: { test: 2432232314 },
      });
    }
    // The same bytes as a Uint8Array.
    const bytes = new TextEncoder().encode(VECTOR.body);
    expect((await verifyWebhook(VECTOR.secret, bytes, plain, { nowMs: at })).id).toBe(VECTOR.id);
  });

  it("accepts when any of several signatures matches (a rotation), and with several secrets", async () => {
    const other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const headers = headersOf(VECTOR.id, VECTOR.timestampS, `${other} v1a,ignored ${VECTOR.signature}`);
    expect((await verifyWebhook(VECTOR.secret, VECTOR.body, headers, { nowMs: at })).id).toBe(VECTOR.id);
    const wrongSecret = `whsec_${btoa("another secret, 24 bytes!")}`;
    expect((await verifyWebhook([wrongSecret, VECTOR.secret], VECTOR.body, headers, { nowMs: at })).timestampS).toBe(
      VECTOR.timestampS,
    );
  });

  it("refuses each tampering with its own reason", async () => {
    const ok = headersOf(VECTOR.id, VECTOR.timestampS, VECTOR.signature);
    const cases: [string, Promise<unknown>][] = [
      ["body changed", verifyWebhook(VECTOR.secret, '{"test": 2432232315}', ok, { nowMs: at })],
      ["re-serialized body", verifyWebhook(VECTOR.secret, '{"test":2432232314}', ok, { nowMs: at })],
      ["id changed", verifyWebhook(VECTOR.secret, VECTOR.body, { ...ok, "webhook-id": "msg_other" }, { nowMs: at })],
      [
        "timestamp changed",
        verifyWebhook(
          VECTOR.secret,
          VECTOR.body,
          { ...ok, "webhook-timestamp": String(VECTOR.timestampS + 1) },
          {
            nowMs: at,
          },
        ),
      ],
      ["wrong secret", verifyWebhook(`whsec_${btoa("x".repeat(32))}`, VECTOR.body, ok, { nowMs: at })],
      ["too old", verifyWebhook(VECTOR.secret, VECTOR.body, ok, { nowMs: at + 301_000 })],
      ["too new", verifyWebhook(VECTOR.secret, VECTOR.body, ok, { nowMs: at - 301_000 })],
      ["no signature", verifyWebhook(VECTOR.secret, VECTOR.body, { ...ok, "webhook-signature": undefined })],
      ["v2 only", verifyWebhook(VECTOR.secret, VECTOR.body, { ...ok, "webhook-signature": "v2,abc=" }, { nowMs: at })],
      ["bad timestamp", verifyWebhook(VECTOR.secret, VECTOR.body, { ...ok, "webhook-timestamp": "1e9" })],
      ["bad secret", verifyWebhook("whsec_***", VECTOR.body, ok, { nowMs: at })],
    ];
    const reasons = Object.fromEntries(await Promise.all(cases.map(async ([n, p]) => [n, await refusal(p)])));
    expect(reasons).toEqual({
      "body changed": "signature_mismatch",
      "re-serialized body": "signature_mismatch",
      "id changed": "signature_mismatch",
      "timestamp changed": "signature_mismatch",
      "wrong secret": "signature_mismatch",
      "too old": "timestamp_too_old",
      "too new": "timestamp_too_new",
      "no signature": "headers_missing",
      "v2 only": "signature_mismatch",
      "bad timestamp": "timestamp_invalid",
      "bad secret": "secret_invalid",
    });
    // Inside the window, at its edges.
    expect(await refusal(verifyWebhook(VECTOR.secret, VECTOR.body, ok, { nowMs: at + 300_000 }))).toBe("accepted");
    expect(await refusal(verifyWebhook(VECTOR.secret, VECTOR.body, ok, { nowMs: at - 300_000 }))).toBe("accepted");
  });

  it("agrees with the standardwebhooks package on what it signs and on any change to it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        fc.stringMatching(/^msg_[A-Za-z0-9]{1,32}$/),
        // Near now: the package checks its tolerance against the real clock.
        fc.integer({ min: -250, max: 250 }).map((d) => Math.floor(Date.now() / 1000) + d),
        fc.json(),
        fc.nat(),
        async (secretBytes, id, timestampS, body, flip) => {
          const secret = `whsec_${Buffer.from(secretBytes).toString("base64")}`;
          const theirs = new Webhook(secret);
          const signature = theirs.sign(id, new Date(timestampS * 1000), body);
          const headers = headersOf(id, timestampS, signature);
          const nowMs = Date.now();
          const ours = await verifyWebhook(secret, body, headers, { nowMs });
          expect(ours).toEqual({ id, timestampS, payload: JSON.parse(body) });
          expect(theirs.verify(body, headers)).toEqual(JSON.parse(body));
          // One byte of the body changed: both refuse.
          const bytes = new TextEncoder().encode(body);
          const i = flip % bytes.length;
          bytes[i] = (bytes[i] ?? 0) ^ 0x01;
          expect(await refusal(verifyWebhook(secret, bytes, headers, { nowMs }))).toBe("signature_mismatch");
          expect(() => theirs.verify(Buffer.from(bytes), headers)).toThrow();
        },
      ),
      { numRuns: 200 },
    );
  });
});
