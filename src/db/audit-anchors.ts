/**
 * Daily anchors of the audit chains: once a (UTC) day, each chain's head (sequence and hash)
 * is written to R2 at `audit-anchors/{yyyy-mm-dd}/{chain}.json`, outside the database. Someone
 * who can write the database could rewrite a chain's tail and re-hash it consistently; an
 * anchor exported before then no longer matches, so the verifier (src/db/audit.ts) reports it.
 *
 * The head is also kept in the object's custom metadata, so the verifier reads every anchor of
 * a chain from listings alone (one request per thousand anchors, no object reads).
 */
import { type ChainHead, EMPTY_CHAIN_HEAD } from "../domain/audit-chain";
import { assert } from "../domain/limits";
import { type AuditChain, readAuditHead } from "./audit";

const PREFIX = "audit-anchors/";

export const anchorDay = (nowMs: number): string => new Date(nowMs).toISOString().slice(0, 10);

export const anchorKey = (day: string, chain: string): string => `${PREFIX}${day}/${chain}.json`;

export interface AuditAnchor {
  readonly chain: string;
  readonly day: string;
  readonly seq: number;
  readonly hash: string;
  readonly exportedAtMs: number;
}

/**
 * Writes today's anchor of every chain that has none yet (idempotent per day: a second run
 * the same day writes nothing). Returns how many were written and how many were there.
 */
export async function exportDailyAnchors(
  bucket: R2Bucket,
  chains: readonly AuditChain[],
  nowMs: number,
): Promise<{ readonly exported: number; readonly present: number }> {
  const day = anchorDay(nowMs);
  const listed = await bucket.list({ prefix: `${PREFIX}${day}/` });
  assert(!listed.truncated, "a day holds one anchor per chain, far fewer than a listing page");
  const present = new Set(listed.objects.map((o) => o.key));
  let exported = 0;
  for (const chain of chains) {
    const key = anchorKey(day, chain.name);
    if (present.has(key)) continue;
    const head = await readAuditHead(chain.db);
    const anchor: AuditAnchor = { chain: chain.name, day, seq: head.seq, hash: head.hash, exportedAtMs: nowMs };
    await bucket.put(key, JSON.stringify(anchor), {
      httpMetadata: { contentType: "application/json" },
      customMetadata: { seq: String(head.seq), hash: head.hash },
    });
    exported += 1;
  }
  return { exported, present: present.size };
}

/** Every anchor of one chain, oldest day first (an empty chain's anchors say nothing and are left out). */
export async function readAnchors(bucket: R2Bucket, chain: string): Promise<ChainHead[]> {
  const anchors: ChainHead[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list({ prefix: PREFIX, cursor, include: ["customMetadata"] });
    for (const object of page.objects) {
      if (!object.key.endsWith(`/${chain}.json`)) continue;
      const seq = Number(object.customMetadata?.seq);
      const hash = object.customMetadata?.hash;
      assert(Number.isSafeInteger(seq) && typeof hash === "string", `anchor ${object.key} carries its head`);
      if (seq > EMPTY_CHAIN_HEAD.seq) anchors.push({ seq, hash });
    }
    if (!page.truncated) break;
    cursor = page.cursor;
  }
  return anchors;
}
