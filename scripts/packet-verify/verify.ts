/**
 * What `npm run packet:verify` does, with `fetch` passed in (the unit test fakes it): reads a
 * finished red packet and every page of its claims from the API, then checks, with node:crypto's
 * SHA-256 and HMAC (not the Worker's own implementation), that the revealed seed matches the
 * commitment published at send and that every share and the luckiest claim are what the seed
 * gives (docs/adr/0008).
 */
import { createHash, createHmac } from "node:crypto";
import { type FairnessVerdict, type Hashes, verifyFairness } from "../../src/domain/fair-packet";
import { LIMITS } from "../../src/domain/limits";
import { formatMinor } from "../../src/domain/money";

export const NODE_HASHES: Hashes = {
  sha256: (message) => new Uint8Array(createHash("sha256").update(message).digest()),
  hmac: (key, message) => new Uint8Array(createHmac("sha256", key).update(message).digest()),
};

export interface VerifyArgs {
  readonly packetId: string;
  readonly roomId: string;
  readonly baseUrl: string;
  readonly token: string;
  /** The commitment the caller saw at send (optional): the API's must be the same. */
  readonly commitment: string | null;
}

interface PacketDetail {
  packet: {
    id: string;
    totalMinor: number;
    shares: number;
    split: "lucky" | "equal";
    commitment: string | null;
    seed: string | null;
  };
  live: { status: "open" | "exhausted" | "expired"; seed: string | null };
}

interface ClaimsPage {
  claims: { index: number; amountMinor: number; userId: string }[];
  luckiestIndex: number | null;
  nextAfter: number | null;
}

export type VerifyOutcome =
  | { readonly kind: "verified"; readonly verdict: FairnessVerdict; readonly lines: string[] }
  | { readonly kind: "unprovable"; readonly lines: string[] };

type Fetch = (url: string, init: RequestInit) => Promise<Response>;

async function getJson<T>(fetcher: Fetch, args: VerifyArgs, path: string): Promise<T> {
  const url = `${args.baseUrl.replace(/\/+$/, "")}${path}`;
  const res = await fetcher(url, { headers: { authorization: `Bearer ${args.token}`, accept: "application/json" } });
  if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export async function verifyPacket(args: VerifyArgs, fetcher: Fetch): Promise<VerifyOutcome> {
  const base = `/v1/rooms/${encodeURIComponent(args.roomId)}/red-packets/${encodeURIComponent(args.packetId)}`;
  const detail = await getJson<PacketDetail>(fetcher, args, base);
  const p = detail.packet;
  const lines = [
    `packet ${p.id}: ${p.shares} shares (${p.split}), total ${formatMinor(p.totalMinor)}, ${detail.live.status}`,
  ];
  const seed = detail.live.seed ?? p.seed;
  if (p.commitment === null) {
    lines.push("✗ this packet was sent before provably fair shares: it has no commitment to check");
    return { kind: "unprovable", lines };
  }
  if (seed === null) {
    lines.push(`commitment ${p.commitment}`);
    lines.push("… the packet is still open: its seed is revealed once it is exhausted or expired");
    return { kind: "unprovable", lines };
  }
  const claims: ClaimsPage["claims"] = [];
  let luckiestIndex: number | null = null;
  let after = -1;
  for (let pages = 0; pages <= Math.ceil(p.shares / LIMITS.packetClaimsPageMax); pages++) {
    const page = await getJson<ClaimsPage>(
      fetcher,
      args,
      `${base}/claims?after=${after}&limit=${LIMITS.packetClaimsPageMax}`,
    );
    claims.push(...page.claims);
    luckiestIndex = page.luckiestIndex;
    if (page.nextAfter === null) break;
    after = page.nextAfter;
  }
  const verdict = verifyFairness(
    {
      packet: { id: p.id, totalMinor: p.totalMinor, shares: p.shares, split: p.split },
      commitment: p.commitment,
      seed,
      claims,
      luckiestIndex,
    },
    NODE_HASHES,
  );
  const seenAtSend = args.commitment === null || args.commitment === p.commitment;
  lines.push(`seed       ${seed}`);
  lines.push(`commitment ${p.commitment} ${verdict.commitmentOk ? "✓ = SHA-256(seed)" : "✗ is not SHA-256(seed)"}`);
  if (!seenAtSend) lines.push(`✗ the commitment you saw at send was ${args.commitment}`);
  const users = new Map(claims.map((c) => [c.index, c.userId]));
  for (const s of verdict.shares) {
    const who = users.get(s.index) ?? "(missing)";
    const claimed = s.claimedMinor === null ? "—" : formatMinor(s.claimedMinor);
    lines.push(
      `  #${String(s.index).padEnd(5)} ${who.padEnd(24)} ${claimed.padStart(10)}  ${
        s.ok ? "✓" : `✗ the seed gives ${formatMinor(s.expectedMinor)}`
      }`,
    );
  }
  for (const stray of verdict.strayClaims)
    lines.push(`  ✗ claim #${stray.index} is not a share of this packet (or twice)`);
  lines.push(
    verdict.luckiestOk
      ? `luckiest   #${verdict.expectedLuckiestIndex} ✓`
      : `luckiest   ✗ published #${luckiestIndex}, the seed gives #${verdict.expectedLuckiestIndex}`,
  );
  const ok = verdict.ok && seenAtSend;
  const sum = claims.reduce((total, c) => total + c.amountMinor, 0);
  lines.push(
    ok
      ? `✓ FAIR: all ${claims.length} claimed shares (Σ ${formatMinor(sum)}) and the luckiest are what the committed seed gives`
      : "✗ NOT VERIFIED: the published claims do not match the committed seed",
  );
  return { kind: "verified", verdict: { ...verdict, ok }, lines };
}
