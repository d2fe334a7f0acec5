/**
 * The room's red-packet desk: claims for one packet are serialized here, in the room's
 * SQLite. Every method is synchronous, so a caller inside `transactionSync` checks and
 * writes with no await in between: at most one claim per user, never more than the shares,
 * and the claim row exists before anyone hears its amount.
 *
 * A claim row is also the room's outbox for the ledger: `sent = 0` until its credit is on
 * the ledger queue (`unsentCredits` → send → `markSent`: the credit flush). An expired packet
 * is `settled = 0` until its refund posted in D1. `InFlightClaims` is the flow control in
 * front of the desk: claims admitted and not yet answered, per packet, in memory only.
 *
 * Shares are provably fair (docs/adr/0008): each packet's row holds its secret seed, every
 * share is drawn from it in claim order (`fairShare`), and views show the seed only once the
 * packet is finished. Packets sent before the scheme have no seed and draw from the CSPRNG.
 */

import type { ClaimCreditMessage } from "../db/messages/ledger-postings";
import type { PacketInfo } from "../db/messages/room-events";
import { commitmentOf, fairShare, seedBytes } from "../domain/fair-packet";
import { LIMITS } from "../domain/limits";
import type { Currency } from "../domain/money";
import { inFlightClaimsMax, nextShare, type RandomInt } from "../domain/red-packet";
import type { PacketView } from "./live-room.protocol";

export const PACKET_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS packets (id TEXT PRIMARY KEY, sender_id TEXT NOT NULL, creator_id TEXT NOT NULL,
     currency TEXT NOT NULL, total_minor INTEGER NOT NULL, shares INTEGER NOT NULL, split TEXT NOT NULL,
     greeting TEXT NOT NULL, audience TEXT NOT NULL, created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL,
     remaining_minor INTEGER NOT NULL, remaining_shares INTEGER NOT NULL, status TEXT NOT NULL,
     progress_dirty INTEGER NOT NULL DEFAULT 0, settled INTEGER NOT NULL DEFAULT 0, settle_attempts INTEGER NOT NULL DEFAULT 0,
     seed_hex TEXT, commitment_hex TEXT,
     CHECK (remaining_shares >= 0 AND remaining_minor >= remaining_shares),
     CHECK (remaining_shares > 0 OR remaining_minor = 0))`,
  `CREATE INDEX IF NOT EXISTS packets_status_expiry ON packets (status, expires_at_ms)`,
  `CREATE TABLE IF NOT EXISTS packet_claims (id TEXT PRIMARY KEY, packet_id TEXT NOT NULL, user_id TEXT NOT NULL,
     claim_index INTEGER NOT NULL, amount_minor INTEGER NOT NULL CHECK (amount_minor >= 1), claimed_at_ms INTEGER NOT NULL,
     sent INTEGER NOT NULL DEFAULT 0,
     UNIQUE (packet_id, user_id), UNIQUE (packet_id, claim_index))`,
  `CREATE INDEX IF NOT EXISTS packet_claims_unsent ON packet_claims (sent) WHERE sent = 0`,
];

export type PacketStatus = "open" | "exhausted" | "expired";

type PacketRow = {
  id: string;
  sender_id: string;
  creator_id: string;
  /** Written from a parsed `PacketInfo`, so one of CURRENCIES. */
  currency: Currency;
  total_minor: number;
  shares: number;
  split: "lucky" | "equal";
  greeting: string;
  audience: "everyone" | "followers";
  created_at_ms: number;
  expires_at_ms: number;
  remaining_minor: number;
  remaining_shares: number;
  status: PacketStatus;
  settled: number;
  settle_attempts: number;
  seed_hex: string | null;
  commitment_hex: string | null;
};

export interface RoomClaim {
  readonly id: string;
  readonly packetId: string;
  readonly userId: string;
  readonly index: number;
  readonly amountMinor: number;
  readonly claimedAtMs: number;
}

type ClaimRow = {
  id: string;
  packet_id: string;
  user_id: string;
  claim_index: number;
  amount_minor: number;
  claimed_at_ms: number;
};

export type ClaimOutcome =
  | { readonly kind: "claimed"; readonly claim: RoomClaim; readonly fresh: boolean; readonly exhausted: boolean }
  | { readonly kind: "unknown" }
  | {
      readonly kind: "rejected";
      readonly code: "packet_exhausted" | "packet_expired" | "packet_followers_only";
    };

export interface Expired {
  readonly packetId: string;
  readonly claimCount: number;
  readonly claimedMinor: number;
  readonly remainingMinor: number;
}

const toClaim = (r: ClaimRow): RoomClaim => ({
  id: r.id,
  packetId: r.packet_id,
  userId: r.user_id,
  index: r.claim_index,
  amountMinor: r.amount_minor,
  claimedAtMs: r.claimed_at_ms,
});

export class RedPacketDesk {
  constructor(
    private readonly sql: SqlStorage,
    private readonly newClaimId: (nowMs: number) => string,
    /** For packets without a seed (sent before the fairness scheme). */
    private readonly randomInt: RandomInt,
  ) {
    // A room created before the scheme has the packets table without the seed's columns.
    const columns = sql.exec<{ name: string }>("PRAGMA table_info(packets)").toArray();
    if (!columns.some((c) => c.name === "seed_hex")) {
      sql.exec("ALTER TABLE packets ADD COLUMN seed_hex TEXT");
      sql.exec("ALTER TABLE packets ADD COLUMN commitment_hex TEXT");
    }
  }

  private row(packetId: string): PacketRow | null {
    return this.sql.exec<PacketRow>("SELECT * FROM packets WHERE id = ?", packetId).toArray()[0] ?? null;
  }

  /** An approved greeting replaces the default one (issue 16); false if the room does not know the packet. */
  setGreeting(packetId: string, greeting: string): boolean {
    return (
      this.sql.exec("UPDATE packets SET greeting = ? WHERE id = ? RETURNING id", greeting, packetId).toArray()
        .length === 1
    );
  }

  /** Registers a packet the ledger funded; a second registration changes nothing. */
  open(info: PacketInfo): boolean {
    const inserted = this.sql.exec(
      `INSERT INTO packets (id, sender_id, creator_id, currency, total_minor, shares, split, greeting, audience,
         created_at_ms, expires_at_ms, remaining_minor, remaining_shares, status, seed_hex, commitment_hex)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id`,
      info.id,
      info.senderId,
      info.creatorId,
      info.currency,
      info.totalMinor,
      info.shares,
      info.split,
      info.greeting,
      info.audience,
      info.createdAtMs,
      info.expiresAtMs,
      info.totalMinor,
      info.shares,
      info.seed,
      info.seed === null ? null : commitmentOf(info.seed),
    );
    return inserted.toArray().length === 1;
  }

  claimOf(packetId: string, userId: string): RoomClaim | null {
    const row = this.sql
      .exec<ClaimRow>("SELECT * FROM packet_claims WHERE packet_id = ? AND user_id = ?", packetId, userId)
      .toArray()[0];
    return row ? toClaim(row) : null;
  }

  /** Checks the claim before it is admitted: a repeat gets its claim back, a closed packet its answer. */
  precheck(
    packetId: string,
    userId: string,
    follows: readonly string[],
    nowMs: number,
  ): ClaimOutcome | { readonly kind: "admit"; readonly remainingShares: number } {
    const checked = this.admission(packetId, userId, follows, nowMs);
    return checked.kind === "admit" ? { kind: "admit", remainingShares: checked.packet.remaining_shares } : checked;
  }

  /** The checks `precheck` and `claim` share, on one read of the packet's row. */
  private admission(
    packetId: string,
    userId: string,
    follows: readonly string[],
    nowMs: number,
  ): ClaimOutcome | { readonly kind: "admit"; readonly packet: PacketRow } {
    const packet = this.row(packetId);
    if (packet === null) return { kind: "unknown" };
    const existing = this.claimOf(packetId, userId);
    if (existing) return { kind: "claimed", claim: existing, fresh: false, exhausted: packet.remaining_shares === 0 };
    if (packet.status === "exhausted" || packet.remaining_shares === 0)
      return { kind: "rejected", code: "packet_exhausted" };
    if (packet.status === "expired" || nowMs >= packet.expires_at_ms)
      return { kind: "rejected", code: "packet_expired" };
    const eligible =
      packet.audience === "everyone" ||
      userId === packet.sender_id ||
      userId === packet.creator_id ||
      follows.includes(packet.creator_id);
    if (!eligible) return { kind: "rejected", code: "packet_followers_only" };
    return { kind: "admit", packet };
  }

  /**
   * The claim itself; call inside `transactionSync`. Draws the share from what is left,
   * writes the claim and the packet's new remainder. Re-checks everything `precheck` did.
   */
  claim(packetId: string, userId: string, follows: readonly string[], nowMs: number): ClaimOutcome {
    const checked = this.admission(packetId, userId, follows, nowMs);
    if (checked.kind !== "admit") return checked;
    const { packet } = checked;
    const shape = { totalMinor: packet.total_minor, shares: packet.shares };
    const remaining = { remainingMinor: packet.remaining_minor, remainingShares: packet.remaining_shares };
    const amountMinor =
      packet.seed_hex === null
        ? nextShare(packet.split, shape, remaining, this.randomInt)
        : fairShare({ id: packet.id, split: packet.split, ...shape }, seedBytes(packet.seed_hex), remaining);
    const claim: RoomClaim = {
      id: this.newClaimId(nowMs),
      packetId,
      userId,
      index: packet.shares - packet.remaining_shares,
      amountMinor,
      claimedAtMs: nowMs,
    };
    this.sql.exec(
      "INSERT INTO packet_claims (id, packet_id, user_id, claim_index, amount_minor, claimed_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
      claim.id,
      packetId,
      userId,
      claim.index,
      amountMinor,
      nowMs,
    );
    const exhausted = packet.remaining_shares === 1;
    this.sql.exec(
      `UPDATE packets SET remaining_minor = remaining_minor - ?, remaining_shares = remaining_shares - 1,
         status = ?, progress_dirty = ? WHERE id = ?`,
      amountMinor,
      exhausted ? "exhausted" : "open",
      exhausted ? 0 : 1,
      packetId,
    );
    return { kind: "claimed", claim, fresh: true, exhausted };
  }

  view(packetId: string, nowMs: number): PacketView | null {
    const p = this.row(packetId);
    return p ? this.toView(p, nowMs) : null;
  }

  private toView(p: PacketRow, nowMs: number): PacketView {
    const status: PacketStatus = p.status === "open" && nowMs >= p.expires_at_ms ? "expired" : p.status;
    return {
      id: p.id,
      senderId: p.sender_id,
      totalMinor: p.total_minor,
      shares: p.shares,
      remainingShares: p.remaining_shares,
      split: p.split,
      greeting: p.greeting,
      audience: p.audience,
      status,
      createdAtMs: p.created_at_ms,
      expiresAtMs: p.expires_at_ms,
      commitment: p.commitment_hex,
      seed: status === "open" ? null : p.seed_hex,
    };
  }

  /**
   * The seed once the packet is finished, else null. An expired packet admits no claim (the
   * admission checks the clock), so its seed may be shown from the moment it expires.
   */
  revealedSeed(packetId: string, nowMs: number): string | null {
    return this.view(packetId, nowMs)?.seed ?? null;
  }

  /** The packets still open, newest first (what a snapshot lists). */
  openPackets(nowMs: number): PacketView[] {
    return this.sql
      .exec<PacketRow>(
        "SELECT * FROM packets WHERE status = 'open' AND expires_at_ms > ? ORDER BY created_at_ms DESC LIMIT ?",
        nowMs,
        LIMITS.packetsOpenPerRoomMax,
      )
      .toArray()
      .map((p) => this.toView(p, nowMs));
  }

  /** Claims in claim order, a page at a time; `luckiest` once the packet is finished. */
  claims(
    packetId: string,
    afterIndex: number,
    limit: number,
  ): { claims: RoomClaim[]; luckiestIndex: number | null; finished: boolean } | null {
    const p = this.row(packetId);
    if (p === null) return null;
    const claims = this.sql
      .exec<ClaimRow>(
        "SELECT * FROM packet_claims WHERE packet_id = ? AND claim_index > ? ORDER BY claim_index LIMIT ?",
        packetId,
        afterIndex,
        limit,
      )
      .toArray()
      .map(toClaim);
    const finished = p.status !== "open";
    return { claims, luckiestIndex: finished ? (this.luckiestClaim(packetId)?.index ?? null) : null, finished };
  }

  /** 手气最佳: the largest claim, the earliest on a tie (one indexed row, not the whole packet). */
  luckiestClaim(packetId: string): { userId: string; amountMinor: number; index: number } | null {
    const row = this.sql
      .exec<ClaimRow>(
        "SELECT * FROM packet_claims WHERE packet_id = ? ORDER BY amount_minor DESC, claim_index LIMIT 1",
        packetId,
      )
      .toArray()[0];
    return row ? { userId: row.user_id, amountMinor: row.amount_minor, index: row.claim_index } : null;
  }

  /** Progress since the last call, for the merged window; clears the marks. */
  takeProgress(): { id: string; remainingShares: number; claimed: number }[] {
    const rows = this.sql
      .exec<{ id: string; remaining_shares: number; shares: number }>(
        "SELECT id, remaining_shares, shares FROM packets WHERE progress_dirty = 1",
      )
      .toArray();
    if (rows.length > 0) this.sql.exec("UPDATE packets SET progress_dirty = 0 WHERE progress_dirty = 1");
    return rows.map((r) => ({ id: r.id, remainingShares: r.remaining_shares, claimed: r.shares - r.remaining_shares }));
  }

  /** Closes every open packet past its expiry; call inside `transactionSync`. */
  expireDue(nowMs: number, only?: string): Expired[] {
    const due = this.sql
      .exec<PacketRow>(
        only === undefined
          ? "SELECT * FROM packets WHERE status = 'open' AND expires_at_ms <= ?"
          : "SELECT * FROM packets WHERE status = 'open' AND expires_at_ms <= ? AND id = ?",
        ...(only === undefined ? [nowMs] : [nowMs, only]),
      )
      .toArray();
    for (const p of due) this.sql.exec("UPDATE packets SET status = 'expired', progress_dirty = 0 WHERE id = ?", p.id);
    return due.map((p) => this.final(p));
  }

  private final(p: PacketRow): Expired {
    return {
      packetId: p.id,
      claimCount: p.shares - p.remaining_shares,
      claimedMinor: p.total_minor - p.remaining_minor,
      remainingMinor: p.remaining_minor,
    };
  }

  /** The final count of a packet no longer open (null while it is open). */
  finalOf(packetId: string): (Expired & { status: PacketStatus }) | null {
    const p = this.row(packetId);
    if (p === null || p.status === "open") return null;
    return { ...this.final(p), status: p.status };
  }

  hasProgress(): boolean {
    return (
      this.sql.exec<{ n: number }>("SELECT EXISTS (SELECT 1 FROM packets WHERE progress_dirty = 1) AS n").one().n === 1
    );
  }

  nextExpiryMs(): number | null {
    const row = this.sql
      .exec<{ at: number | null }>("SELECT MIN(expires_at_ms) AS at FROM packets WHERE status = 'open'")
      .one();
    return row.at;
  }

  /** Expired packets whose refund has not yet posted in the ledger. */
  unsettled(): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM packets WHERE status = 'expired' AND settled = 0 LIMIT 50")
      .toArray()
      .map((r) => r.id);
  }

  markSettled(packetId: string): void {
    this.sql.exec("UPDATE packets SET settled = 1 WHERE id = ?", packetId);
  }

  /** Counts a failed settlement; returns the attempts so far. */
  settleFailed(packetId: string): number {
    return this.sql
      .exec<{ settle_attempts: number }>(
        "UPDATE packets SET settle_attempts = settle_attempts + 1 WHERE id = ? RETURNING settle_attempts",
        packetId,
      )
      .one().settle_attempts;
  }

  /** The oldest claims whose credit is not yet on the ledger queue, as the queue's messages. */
  unsentCredits(limit: number): ClaimCreditMessage[] {
    return this.sql
      .exec<ClaimRow & { currency: Currency }>(
        `SELECT c.*, p.currency FROM packet_claims c JOIN packets p ON p.id = c.packet_id
         WHERE c.sent = 0 ORDER BY c.claimed_at_ms LIMIT ?`,
        limit,
      )
      .toArray()
      .map((r) => ({
        kind: "packet.claim" as const,
        claimId: r.id,
        packetId: r.packet_id,
        userId: r.user_id,
        claimIndex: r.claim_index,
        amountMinor: r.amount_minor,
        claimedAtMs: r.claimed_at_ms,
        currency: r.currency,
      }));
  }

  hasUnsentCredits(): boolean {
    return (
      this.sql.exec<{ n: number }>("SELECT EXISTS (SELECT 1 FROM packet_claims WHERE sent = 0) AS n").one().n === 1
    );
  }

  hasUnsettled(): boolean {
    return (
      this.sql
        .exec<{ n: number }>("SELECT EXISTS (SELECT 1 FROM packets WHERE status = 'expired' AND settled = 0) AS n")
        .one().n === 1
    );
  }

  markSent(claimIds: readonly string[]): void {
    for (let i = 0; i < claimIds.length; i += 90) {
      const chunk = claimIds.slice(i, i + 90);
      this.sql.exec(`UPDATE packet_claims SET sent = 1 WHERE id IN (${chunk.map(() => "?").join(", ")})`, ...chunk);
    }
  }

  /** Puts every claim of a packet back on the ledger queue (credits are idempotent by claim id). */
  resend(packetId: string): number {
    return this.sql.exec("UPDATE packet_claims SET sent = 0 WHERE packet_id = ? AND sent = 1", packetId).rowsWritten;
  }
}

/**
 * Claims admitted per packet and not yet answered. A packet admits at most ⌈1.5 × shares
 * left⌉ of them (`inFlightClaimsMax`); past that a claimer is told `packet_busy` at once
 * rather than queued behind a batch that cannot have a share for them.
 */
export class InFlightClaims {
  private readonly byPacket = new Map<string, number>();

  /**
   * Counts the claim in if the packet has room for it; false means "busy". `tightenedMax`, from a
   * `claims_tightened` switch, lowers the packet's admission below the usual rule.
   */
  admit(packetId: string, remainingShares: number, tightenedMax: number | null = null): boolean {
    const queued = this.byPacket.get(packetId) ?? 0;
    const max = inFlightClaimsMax(remainingShares);
    if (queued >= (tightenedMax === null ? max : Math.min(max, tightenedMax))) return false;
    this.byPacket.set(packetId, queued + 1);
    return true;
  }

  /** The claim was answered (or failed): it no longer counts. */
  release(packetId: string): void {
    const left = (this.byPacket.get(packetId) ?? 1) - 1;
    if (left <= 0) this.byPacket.delete(packetId);
    else this.byPacket.set(packetId, left);
  }
}
