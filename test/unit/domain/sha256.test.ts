import { createHash, createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex, hmacSha256, sha256, toHex } from "../../../src/domain/sha256";

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (h: string) => {
  const bytes = fromHex(h);
  if (bytes === null) throw new Error(`not hex: ${h}`);
  return bytes;
};

describe("sha256", () => {
  // FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
  it.each([
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    [
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ],
    [
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ],
  ])("hashes %j as NIST lists it", (message, digest) => {
    expect(toHex(sha256(ascii(message)))).toBe(digest);
  });

  it("hashes a million 'a' as NIST lists it", () => {
    expect(toHex(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe(
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );
  });

  it("agrees with node:crypto on every length around the padding boundaries", () => {
    for (let length = 0; length <= 200; length++) {
      const message = new Uint8Array(length).map((_, i) => (i * 31 + length) & 0xff);
      expect(toHex(sha256(message)), `length ${length}`).toBe(createHash("sha256").update(message).digest("hex"));
    }
  });

  it("agrees with node:crypto and WebCrypto on random messages", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (message) => {
        const ours = toHex(sha256(message));
        expect(ours).toBe(createHash("sha256").update(message).digest("hex"));
        expect(ours).toBe(toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", message))));
      }),
      { numRuns: 200 },
    );
  });
});

describe("hmacSha256", () => {
  // RFC 4231 test cases 1–4, 6 and 7 (case 5 is a truncated output).
  it.each([
    [
      "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
      toHex(ascii("Hi There")),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ],
    [
      toHex(ascii("Jefe")),
      toHex(ascii("what do ya want for nothing?")),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ],
    ["aa".repeat(20), "dd".repeat(50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
    [
      "0102030405060708090a0b0c0d0e0f10111213141516171819",
      "cd".repeat(50),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ],
    [
      "aa".repeat(131),
      toHex(ascii("Test Using Larger Than Block-Size Key - Hash Key First")),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
    [
      "aa".repeat(131),
      toHex(
        ascii(
          "This is a test using a larger than block-size key and a larger than block-size data. " +
            "The key needs to be hashed before being used by the HMAC algorithm.",
        ),
      ),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ])("matches RFC 4231 (key %s)", (key, data, mac) => {
    expect(toHex(hmacSha256(hex(key), hex(data)))).toBe(mac);
  });

  it("agrees with node:crypto and WebCrypto on random keys and messages", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 150 }),
        fc.uint8Array({ maxLength: 200 }),
        async (key, message) => {
          const ours = toHex(hmacSha256(key, message));
          expect(ours).toBe(createHmac("sha256", key).update(message).digest("hex"));
          const webKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
          expect(ours).toBe(toHex(new Uint8Array(await crypto.subtle.sign("HMAC", webKey, message))));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("hex", () => {
  it("round-trips bytes and refuses anything but even-length lower-case hex", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(fromHex(toHex(bytes))).toEqual(bytes);
      }),
    );
    expect(fromHex("abc")).toBeNull();
    expect(fromHex("AB")).toBeNull();
    expect(fromHex("zz")).toBeNull();
  });
});
