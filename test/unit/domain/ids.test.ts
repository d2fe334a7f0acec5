import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketOfId, ID_BODY_PATTERN, idPattern, idTimeMs, isId, newId, newOwnedId } from "../../../src/domain/ids";

const zeros = (n: number) => new Uint8Array(n);

describe("ids", () => {
  it("are prefixed, 26 Crockford base32 characters, and carry their creation time", () => {
    const id = newId("tip", 1_795_313_605_551, zeros);
    expect(id).toMatch(/^tip_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(isId("tip", id)).toBe(true);
    expect(isId("room", id)).toBe(false);
    expect(idTimeMs(id)).toBe(1_795_313_605_551);
  });

  it("sort by creation time as strings", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 2 }), fc.integer({ min: 1, max: 10_000 }), (t, dt) => {
        const a = newId("op", t);
        const b = newId("op", Math.min(t + dt, 2 ** 48 - 1));
        expect(a < b).toBe(true);
      }),
    );
  });

  it("do not collide in practice", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId("tip", 1_000)));
    expect(ids.size).toBe(10_000);
  });

  it("refuse a time outside 48 bits", () => {
    expect(() => newId("tip", -1)).toThrow();
    expect(() => newId("tip", 2 ** 48)).toThrow();
  });
});

describe("id patterns", () => {
  it("match exactly the ids newId makes for their prefix, and no other prefix's", () => {
    const id = newId("packet", 1_800_000_000_000, () => new Uint8Array(16).fill(7));
    expect(idPattern("packet").test(id)).toBe(true);
    expect(idPattern("room").test(id)).toBe(false);
    expect(idPattern("packet").test(`${id}0`)).toBe(false);
    expect(ID_BODY_PATTERN.test(id.slice("packet_".length))).toBe(true);
    expect(ID_BODY_PATTERN.test(`${"0".repeat(25)}O`)).toBe(false);
  });
});

describe("ids owned by a bucket", () => {
  it("carry the owner's bucket, keep the id's layout and time, and differ in their randomness", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1023 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), (bucket, nowMs) => {
        const id = newOwnedId("order", bucket, nowMs);
        expect(id).toMatch(idPattern("order"));
        expect(bucketOfId(id)).toBe(bucket);
        expect(idTimeMs(id)).toBe(nowMs);
        expect(newOwnedId("order", bucket, nowMs)).not.toBe(id);
      }),
    );
  });

  it("read a bucket from any well-formed id, and none from a string that is not one", () => {
    expect(bucketOfId(newId("tip", 0))).toBeGreaterThanOrEqual(0);
    expect(bucketOfId("order_nope")).toBeNull();
    expect(bucketOfId("not an id")).toBeNull();
    expect(() => newOwnedId("order", 1024, 0)).toThrow();
    expect(() => newOwnedId("order", -1, 0)).toThrow();
  });
});
