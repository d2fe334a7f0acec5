/**
 * The viewer page's verifier (public/js/packet-proof.js, WebCrypto) is a third implementation
 * of the scheme: it must agree with the domain's (src/domain/fair-packet.ts) on every packet,
 * honest or tampered.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
// @ts-expect-error: plain JavaScript served to the browser, no declarations
import { verifyPacketProof } from "../../../public/js/packet-proof.js";
import { commitmentOf, luckiestIndexOf, recomputeShares, verifyFairness } from "../../../src/domain/fair-packet";
import { toHex } from "../../../src/domain/sha256";

const packetArb = fc.integer({ min: 1, max: 120 }).chain((shares) =>
  fc.record({
    id: fc.constantFrom("packet_01JPAGE0000000000000000000", "packet_红包"),
    shares: fc.constant(shares),
    totalMinor: fc.integer({ min: shares, max: shares * 20_000 }),
    split: fc.constantFrom("lucky" as const, "equal" as const),
  }),
);

describe("the viewer page's verifier", () => {
  it("recomputes every share as the domain does, and agrees on honest and tampered claim lists", async () => {
    await fc.assert(
      fc.asyncProperty(
        packetArb,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 50 })), { nil: null }),
        async (packet, seedBytes, tamper) => {
          const seed = toHex(seedBytes);
          const shares = recomputeShares(packet, seedBytes, packet.shares);
          const claims = shares.map((amountMinor, index) =>
            tamper !== null && index === tamper[0] % packet.shares
              ? { index, amountMinor: amountMinor + tamper[1] }
              : { index, amountMinor },
          );
          const proof = {
            packet,
            commitment: commitmentOf(seed),
            seed,
            claims,
            luckiestIndex: luckiestIndexOf(shares),
          };
          const page = await verifyPacketProof(proof);
          const domain = verifyFairness(proof);
          expect(page.ok).toBe(domain.ok);
          expect(page.ok).toBe(tamper === null);
          expect(page.commitmentOk).toBe(true);
          expect(page.expectedLuckiestIndex).toBe(domain.expectedLuckiestIndex);
          expect(page.shares.map((s: { expectedMinor: number }) => s.expectedMinor)).toEqual(shares);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses a seed that is not the committed one", async () => {
    const packet = { id: "packet_x", totalMinor: 1_000, shares: 4, split: "lucky" };
    const seed = "ab".repeat(32);
    const shares = recomputeShares(
      packet as never,
      Uint8Array.from({ length: 32 }, () => 0xab),
      4,
    );
    const claims = shares.map((amountMinor, index) => ({ index, amountMinor }));
    const verdict = await verifyPacketProof({
      packet,
      commitment: commitmentOf("cd".repeat(32)),
      seed,
      claims,
      luckiestIndex: luckiestIndexOf(shares),
    });
    expect(verdict).toMatchObject({ ok: false, commitmentOk: false });
  });
});
