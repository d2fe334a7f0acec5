import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  displayPrefixOf,
  hashPartnerKey,
  judgePartnerKey,
  lastUsedDue,
  newPartnerKey,
  PARTNER_KEY_CACHE_TTL_MS,
  PARTNER_KEY_LAST_USED_INTERVAL_MS,
  PARTNER_KEY_PATTERN,
  PARTNER_SCOPE_NAMES,
  parsePartnerKey,
} from "../../../src/domain/partner-keys";

const bytesOf = (seed: Uint8Array) => (n: number) => seed.slice(0, n);

describe("partner API keys", () => {
  it("are gw_<mode>_ and 43 base64url characters carrying all 32 random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom("live", "test"), (seed, mode) => {
        const minted = newPartnerKey(mode as "live" | "test", bytesOf(seed));
        expect(minted.key).toMatch(PARTNER_KEY_PATTERN);
        expect(minted.key.startsWith(`gw_${mode}_`)).toBe(true);
        expect(parsePartnerKey(minted.key)).toBe(mode);
        const secret = minted.key.slice(`gw_${mode}_`.length).replace(/-/g, "+").replace(/_/g, "/");
        const decoded = Uint8Array.from(atob(`${secret}=`), (ch) => ch.charCodeAt(0));
        expect([...decoded]).toEqual([...seed]);
        expect(minted.displayPrefix).toBe(minted.key.slice(0, `gw_${mode}_`.length + 8));
        expect(minted.hash).toBe(hashPartnerKey(minted.key));
        expect(minted.hash).toMatch(/^[0-9a-f]{64}$/);
      }),
    );
  });

  it("hash to SHA-256 of the whole key (a known vector)", () => {
    // SHA-256("abc")
    expect(hashPartnerKey("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("different random bytes make different keys and hashes", () => {
    const a = newPartnerKey("live", () => new Uint8Array(32).fill(1));
    const b = newPartnerKey("live", () => new Uint8Array(32).fill(2));
    expect(a.key).not.toBe(b.key);
    expect(a.hash).not.toBe(b.hash);
  });

  it("refuses anything that is not a key before any lookup", () => {
    for (const raw of [
      "",
      "gw_live_",
      "gw_prod_" + "a".repeat(43),
      "gw_live_" + "a".repeat(42),
      "eyJhbGciOi.x.y",
      "gw_test_" + "a".repeat(44),
    ]) {
      expect(parsePartnerKey(raw), raw).toBeNull();
    }
    expect(displayPrefixOf("gw_test_ABCDEFGHIJ")).toBe("gw_test_ABCDEFGH");
  });

  it("judges revoked, expired, disabled partner and missing scope, one reason each", () => {
    const base = { revokedAtMs: null, expiresAtMs: null, partnerActive: true, scopes: ["rooms.read" as const] };
    expect(judgePartnerKey(base, "rooms.read", 1000)).toBe("ok");
    expect(judgePartnerKey({ ...base, revokedAtMs: 1000 }, "rooms.read", 1000)).toBe("revoked");
    expect(judgePartnerKey({ ...base, revokedAtMs: 1001 }, "rooms.read", 1000)).toBe("ok");
    expect(judgePartnerKey({ ...base, expiresAtMs: 1000 }, "rooms.read", 1000)).toBe("expired");
    expect(judgePartnerKey({ ...base, expiresAtMs: 1001 }, "rooms.read", 1000)).toBe("ok");
    expect(judgePartnerKey({ ...base, partnerActive: false }, "rooms.read", 1000)).toBe("partner_disabled");
    for (const scope of PARTNER_SCOPE_NAMES.filter((s) => s !== "rooms.read")) {
      expect(judgePartnerKey(base, scope, 1000)).toBe("missing_scope");
    }
  });

  it("write the last-used time at most once a minute, and name a bound of at most 10 s", () => {
    expect(PARTNER_KEY_CACHE_TTL_MS).toBeLessThanOrEqual(10_000);
    fc.assert(
      fc.property(fc.nat(1e12), fc.nat(10 * PARTNER_KEY_LAST_USED_INTERVAL_MS), (last, gap) => {
        expect(lastUsedDue(last, last + gap)).toBe(gap >= PARTNER_KEY_LAST_USED_INTERVAL_MS);
      }),
    );
    expect(lastUsedDue(null, 0)).toBe(true);
  });
});
