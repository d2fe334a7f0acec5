import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkPinStrength,
  constantTimeEqual,
  hashPin,
  PIN_PBKDF2_ITERATIONS,
  PIN_PBKDF2_ITERATIONS_MAX,
  verifyPin,
} from "../../../src/domain/pin";

const salt = (seed: number) => Uint8Array.from({ length: 16 }, (_, i) => (seed * 31 + i * 7) & 0xff);
const pinArb = fc.integer({ min: 0, max: 999_999 }).map((n) => String(n).padStart(6, "0"));
/** Fewer iterations in the property runs: the property does not depend on the count. */
const FAST = 1_000;

describe("payment PIN hashing", () => {
  it("hashes with PBKDF2-SHA-256 at the Workers' cap, to a 32-byte digest that is not the PIN", async () => {
    expect(PIN_PBKDF2_ITERATIONS).toBe(100_000);
    expect(PIN_PBKDF2_ITERATIONS).toBeLessThanOrEqual(PIN_PBKDF2_ITERATIONS_MAX);
    const stored = await hashPin("246810", salt(1));
    expect(stored.iterations).toBe(PIN_PBKDF2_ITERATIONS);
    expect(stored.hashHex).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.saltHex).toMatch(/^[0-9a-f]{32}$/);
    expect(stored.hashHex).not.toContain("246810");
    expect(await verifyPin("246810", stored)).toBe(true);
    expect(await verifyPin("246811", stored)).toBe(false);
  });

  it("matches a known PBKDF2-HMAC-SHA-256 vector (RFC 7914 §11, P=passwd S=salt c=1)", async () => {
    // The derivation is the standard one, not something home-made: the first 32 bytes.
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt: new TextEncoder().encode("salt"), iterations: 1 },
      await crypto.subtle.importKey("raw", new TextEncoder().encode("passwd"), "PBKDF2", false, ["deriveBits"]),
      256,
    );
    const hex = Buffer.from(bits).toString("hex");
    expect(hex).toBe("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
  });

  it("gives the same PIN a different hash under another salt", async () => {
    const a = await hashPin("246810", salt(1), FAST);
    const b = await hashPin("246810", salt(2), FAST);
    expect(a.hashHex).not.toBe(b.hashHex);
    expect(await verifyPin("246810", b)).toBe(true);
  });

  it("verify(hash(p), q) holds exactly when p == q, over random PINs", async () => {
    await fc.assert(
      fc.asyncProperty(pinArb, pinArb, fc.integer({ min: 0, max: 255 }), async (p, q, seed) => {
        const stored = await hashPin(p, salt(seed), FAST);
        expect(await verifyPin(q, stored)).toBe(p === q);
        expect(await verifyPin(p, stored)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a stored iteration count above the runtime's cap before deriving anything", async () => {
    const stored = await hashPin("246810", salt(1), FAST);
    await expect(verifyPin("246810", { ...stored, iterations: PIN_PBKDF2_ITERATIONS_MAX + 1 })).rejects.toThrow(
      /iteration count/,
    );
  });

  it("never matches input that is not six digits", async () => {
    const stored = await hashPin("246810", salt(1), FAST);
    for (const bad of ["24681", "2468100", " 246810", "24681a", ""]) expect(await verifyPin(bad, stored)).toBe(false);
  });
});

describe("constant-time compare", () => {
  it("is equality on byte arrays, lengths included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        const equal = a.length === b.length && a.every((x, i) => x === b[i]);
        expect(constantTimeEqual(a, b)).toBe(equal);
        expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
      }),
    );
  });

  it("reads every byte whatever the first difference (no early exit)", () => {
    const reads = (a: Uint8Array, b: Uint8Array) => {
      let count = 0;
      const counting = new Proxy(b, {
        get: (target, key) => {
          if (typeof key === "string" && /^\d+$/.test(key)) count++;
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      constantTimeEqual(a, counting);
      return count;
    };
    const a = new Uint8Array(32).fill(7);
    const differsFirst = Uint8Array.from(a);
    differsFirst[0] = 8;
    const differsLast = Uint8Array.from(a);
    differsLast[31] = 8;
    expect(reads(a, differsFirst)).toBe(32);
    expect(reads(a, differsLast)).toBe(32);
    expect(reads(a, Uint8Array.from(a))).toBe(32);
  });
});

describe("trivial PINs", () => {
  it("refuses one digit repeated and runs of consecutive digits, up or down", () => {
    for (const pin of ["000000", "111111", "999999", "123456", "654321", "012345", "345678", "987654", "543210"]) {
      expect(checkPinStrength(pin)).toMatchObject({ ok: false, code: "pin_too_simple" });
    }
  });

  it("accepts every other six-digit PIN", () => {
    fc.assert(
      fc.property(pinArb, (pin) => {
        const d = [...pin].map(Number);
        const steps = new Set(d.slice(1).map((x, i) => x - (d[i] as number)));
        const trivial = steps.size === 1 && [0, 1, -1].includes([...steps][0] as number);
        expect(checkPinStrength(pin).ok).toBe(!trivial);
      }),
    );
    expect(checkPinStrength("246810")).toEqual({ ok: true, value: "246810" });
    expect(checkPinStrength("135790").ok).toBe(true);
  });

  it("refuses anything but six digits as malformed", () => {
    for (const pin of ["12345", "1234567", "12345a", "１２３４５６"]) {
      expect(checkPinStrength(pin)).toMatchObject({ ok: false, code: "malformed_request" });
    }
  });
});
