import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { reseal, SealingError, seal, unseal } from "../../../src/platform/sealing";

const key = () => randomBytes(32).toString("base64");
const k1 = key();
const k2 = key();
const ringK1 = JSON.stringify({ current: "k1", keys: { k1 } });
const ringK2 = JSON.stringify({ current: "k2", keys: { k1, k2 } });

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "opened";
  } catch (e) {
    return e instanceof SealingError ? e.code : String(e);
  }
}

describe("sealing (AES-256-GCM key ring)", () => {
  it("round-trips any text, with a fresh iv each time", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        const a = await seal(ringK1, "ctx:1", text);
        const b = await seal(ringK1, "ctx:1", text);
        expect(a.keyId).toBe("k1");
        expect(a.sealed).not.toBe(b.sealed);
        expect(await unseal(ringK1, "ctx:1", a)).toBe(text);
      }),
      { numRuns: 50 },
    );
  });

  it("binds a value to its context: another row's ciphertext does not open", async () => {
    const value = await seal(ringK1, "payout_account:pa_1", '{"openid":"o1"}');
    expect(await code(unseal(ringK1, "payout_account:pa_2", value))).toBe("sealed_value_corrupt");
  });

  it("refuses a tampered value and an unknown key", async () => {
    const value = await seal(ringK1, "c", "secret");
    const bytes = Buffer.from(value.sealed, "base64");
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    expect(await code(unseal(ringK1, "c", { ...value, sealed: bytes.toString("base64") }))).toBe(
      "sealed_value_corrupt",
    );
    expect(await code(unseal(ringK1, "c", { ...value, keyId: "k9" }))).toBe("pii_key_unknown");
  });

  it("rotates: old values open under the new ring, reseal moves them to the current key", async () => {
    const old = await seal(ringK1, "c", "张三");
    expect(await unseal(ringK2, "c", old)).toBe("张三");
    const moved = await reseal(ringK2, "c", old);
    expect(moved.keyId).toBe("k2");
    expect(await unseal(JSON.stringify({ current: "k2", keys: { k2 } }), "c", moved)).toBe("张三");
    expect(await reseal(ringK2, "c", moved)).toBe(moved);
  });

  it("says what is wrong with the key ring", async () => {
    expect(await code(seal(undefined, "c", "x"))).toBe("pii_keys_missing");
    expect(await code(seal("not json", "c", "x"))).toBe("pii_keys_malformed");
    expect(await code(seal(JSON.stringify({ current: "k3", keys: { k1 } }), "c", "x"))).toBe("pii_keys_malformed");
    expect(await code(seal(JSON.stringify({ current: "k1", keys: { k1: "c2hvcnQ=" } }), "c", "x"))).toBe(
      "pii_keys_malformed",
    );
  });
});
