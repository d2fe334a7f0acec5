import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AUDIT_GENESIS_HASH,
  type AuditAction,
  type AuditEntry,
  canonicalJson,
  EMPTY_CHAIN_HEAD,
  entryHash,
  nextEntry,
  verifyChain,
} from "../../../src/domain/audit-chain";

const nodeSha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

const small = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }),
  fc.string({ maxLength: 12 }),
);
const detailValue = fc.oneof(small, fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), small, { maxKeys: 4 }));

const actionArb: fc.Arbitrary<AuditAction> = fc.record({
  actor: fc.oneof(fc.constantFrom("usr_admin1", "usr_fin2"), fc.constant("system:settlement")),
  action: fc.constantFrom("wallet.adjust", "creator_share.set", "settlement.run", "payment.refund"),
  target: fc.string({ minLength: 1, maxLength: 20 }),
  requestId: fc.string({ minLength: 1, maxLength: 20 }),
  before: detailValue,
  after: detailValue,
});

function chainOf(actions: readonly AuditAction[], startMs = 1_700_000_000_000): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let head = EMPTY_CHAIN_HEAD;
  actions.forEach((action, i) => {
    const entry = nextEntry(head, action, startMs + i);
    entries.push(entry);
    head = { seq: entry.seq, hash: entry.hash };
  });
  return entries;
}

const chainArb = fc.array(actionArb, { minLength: 2, maxLength: 40 }).map((actions) => chainOf(actions));

describe("canonical JSON", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [true, null, "x"], c: -2 } })).toBe(
      '{"a":{"c":-2,"d":[true,null,"x"]},"b":1}',
    );
  });

  it("refuses floats, unsafe integers and undefined, which have no single spelling", () => {
    expect(() => canonicalJson({ amount: 1.5 })).toThrow(/safe integers/);
    expect(() => canonicalJson(2 ** 53)).toThrow(/safe integers/);
    expect(() => canonicalJson(Number.NaN)).toThrow(/safe integers/);
    expect(() => canonicalJson({ a: undefined })).toThrow(/undefined/);
    expect(() => canonicalJson(new Date(0))).toThrow(/plain objects/);
  });

  it("is the same for any key order, and parses back to the same value", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), small), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(record));
        expect(JSON.parse(canonicalJson(record))).toEqual(record);
      }),
    );
  });
});

describe("an entry's hash", () => {
  it("is SHA-256 of the previous hash's hex followed by the canonical entry (checked against node:crypto)", () => {
    const entry = nextEntry(
      EMPTY_CHAIN_HEAD,
      { actor: "usr_a", action: "wallet.adjust", target: "usr_b", requestId: "req_1", before: null, after: { x: 1 } },
      1_000,
    );
    expect(entry.seq).toBe(1);
    expect(entry.prevHash).toBe(AUDIT_GENESIS_HASH);
    expect(entry.detail).toBe('{"after":{"x":1},"before":null}');
    expect(entry.digest).toBe(nodeSha256(entry.detail));
    const canonical = `{"action":"wallet.adjust","actor":"usr_a","atMs":1000,"digest":"${entry.digest}","requestId":"req_1","seq":1,"target":"usr_b"}`;
    expect(entry.hash).toBe(nodeSha256(AUDIT_GENESIS_HASH + canonical));
    expect(entryHash(entry.prevHash, entry)).toBe(entry.hash);
  });
});

describe("verifying a chain", () => {
  it("a chain of random entries verifies, and its head is its last entry", () => {
    fc.assert(
      fc.property(chainArb, (entries) => {
        const last = entries.at(-1) as AuditEntry;
        expect(verifyChain(entries)).toEqual({
          ok: true,
          length: entries.length,
          head: { seq: last.seq, hash: last.hash },
        });
      }),
    );
  });

  it("the empty chain verifies with the genesis head", () => {
    expect(verifyChain([])).toEqual({ ok: true, length: 0, head: EMPTY_CHAIN_HEAD });
  });

  const fieldChange = fc.constantFrom(
    "atMs",
    "actor",
    "action",
    "target",
    "requestId",
    "detail",
    "digest",
    "hash",
    "prevHash",
  );

  it("any single changed field is reported at exactly its entry", () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), fieldChange, (entries, pick, field) => {
        const index = pick % entries.length;
        const original = entries[index] as AuditEntry;
        const changed: AuditEntry =
          field === "atMs"
            ? { ...original, atMs: original.atMs + 1 }
            : { ...original, [field]: field === "detail" ? '{"after":1,"before":0}' : `${original[field]}x` };
        const tampered = entries.with(index, changed);
        const verdict = verifyChain(tampered);
        expect(verdict.ok).toBe(false);
        if (verdict.ok) return;
        expect(verdict.broken.index).toBe(index);
        expect(verdict.broken.kind).toBe(field === "prevHash" ? "prev_link_broken" : "hash_mismatch");
        expect(verdict.length).toBe(index);
      }),
    );
  });

  it("a changed sequence number is reported at exactly its entry", () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), fc.integer({ min: 1, max: 5 }), (entries, pick, delta) => {
        const index = pick % entries.length;
        const original = entries[index] as AuditEntry;
        const verdict = verifyChain(entries.with(index, { ...original, seq: original.seq + delta }));
        expect(verdict.ok ? null : verdict.broken).toEqual({
          index,
          kind: "sequence_broken",
          expectedSeq: index + 1,
          foundSeq: index + 1 + delta,
        });
      }),
    );
  });

  it("a deleted entry is reported at exactly its index (the last one, against an anchor)", () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (entries, pick) => {
        const index = pick % entries.length;
        const kept = entries.filter((_, i) => i !== index);
        const last = entries.at(-1) as AuditEntry;
        const verdict = verifyChain(kept, [{ seq: last.seq, hash: last.hash }]);
        expect(verdict.ok).toBe(false);
        if (verdict.ok) return;
        expect(verdict.broken.index).toBe(index);
        expect(verdict.broken.kind).toBe(index === entries.length - 1 ? "anchor_missing" : "sequence_broken");
      }),
    );
  });

  it("two swapped entries are reported at the first of them", () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), fc.nat(), (entries, a, b) => {
        const i = a % entries.length;
        const j = b % entries.length;
        fc.pre(i !== j);
        const [first, second] = [Math.min(i, j), Math.max(i, j)];
        const swapped = entries.with(first, entries[second] as AuditEntry).with(second, entries[first] as AuditEntry);
        const verdict = verifyChain(swapped);
        expect(verdict.ok ? null : verdict.broken).toMatchObject({ index: first, kind: "sequence_broken" });
        // Swapped in the database keeps each row's sequence: the content at a sequence changed.
        const resequenced = swapped.map((e, k) => ({ ...e, seq: k + 1 }));
        const stored = verifyChain(resequenced);
        expect(stored.ok ? null : stored.broken.index).toBe(first);
      }),
    );
  });

  it("a suffix rewritten consistently passes on its own but not against the anchor exported before", () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (entries, pick) => {
        const index = pick % entries.length;
        const last = entries.at(-1) as AuditEntry;
        // Rewrite entry `index` and re-hash it and everything after it, as someone with write access could.
        const rewritten = entries.slice(0, index);
        let head = index === 0 ? EMPTY_CHAIN_HEAD : { seq: index, hash: (entries[index - 1] as AuditEntry).hash };
        for (const original of entries.slice(index)) {
          const entry = nextEntry(
            head,
            { ...original, target: `${original.target}!`, before: null, after: null },
            original.atMs,
          );
          rewritten.push(entry);
          head = { seq: entry.seq, hash: entry.hash };
        }
        expect(verifyChain(rewritten).ok).toBe(true);
        const verdict = verifyChain(rewritten, [{ seq: last.seq, hash: last.hash }]);
        expect(verdict.ok ? null : verdict.broken).toMatchObject({
          index: entries.length - 1,
          kind: "anchor_mismatch",
        });
      }),
    );
  });
});
