/**
 * Partners and their API keys (control database; issue 18). Keys are stored only as their
 * SHA-256 (domain/partner-keys.ts); the gate (worker/middleware/partner-auth.ts) reads a key by
 * that hash, with its partner's status, and writes its last-used time at most once a minute.
 */

import { isPartnerScope, type PartnerKeyMode, type PartnerScope } from "../domain/partner-keys";

export interface PartnerRow {
  id: string;
  name: string;
  contact_email: string;
  status: "active" | "disabled";
  created_by: string;
  created_at_ms: number;
}

export interface PartnerKeyRow {
  id: string;
  partner_id: string;
  mode: PartnerKeyMode;
  display_prefix: string;
  scopes: string;
  name: string;
  created_by: string;
  created_at_ms: number;
  expires_at_ms: number | null;
  revoked_at_ms: number | null;
  last_used_at_ms: number | null;
}

/** A key as the gate sees it: the row and whether its partner is active. */
export interface KeyForGate extends PartnerKeyRow {
  partner_status: "active" | "disabled";
}

export function scopesOf(row: Pick<PartnerKeyRow, "scopes">): PartnerScope[] {
  const parsed = JSON.parse(row.scopes) as unknown;
  return Array.isArray(parsed)
    ? parsed.filter((s): s is PartnerScope => typeof s === "string" && isPartnerScope(s))
    : [];
}

const KEY_COLUMNS = `k.id, k.partner_id, k.mode, k.display_prefix, k.scopes, k.name, k.created_by, k.created_at_ms,
  k.expires_at_ms, k.revoked_at_ms, k.last_used_at_ms`;

export function findKeyByHash(db: D1Database, hash: string): Promise<KeyForGate | null> {
  return db
    .prepare(
      `SELECT ${KEY_COLUMNS}, p.status AS partner_status FROM partner_api_keys k
       JOIN partners p ON p.id = k.partner_id WHERE k.key_hash = ?`,
    )
    .bind(hash)
    .first<KeyForGate>();
}

/** Writes the last-used time unless another request wrote one within the interval (one write a minute). */
export async function touchKey(db: D1Database, keyId: string, nowMs: number, intervalMs: number): Promise<void> {
  await db
    .prepare(
      "UPDATE partner_api_keys SET last_used_at_ms = ? WHERE id = ? AND (last_used_at_ms IS NULL OR last_used_at_ms <= ?)",
    )
    .bind(nowMs, keyId, nowMs - intervalMs)
    .run();
}

export function findPartner(db: D1Database, id: string): Promise<PartnerRow | null> {
  return db.prepare("SELECT * FROM partners WHERE id = ?").bind(id).first<PartnerRow>();
}

export async function listPartners(db: D1Database, limit: number): Promise<PartnerRow[]> {
  const { results } = await db.prepare("SELECT * FROM partners ORDER BY id LIMIT ?").bind(limit).all<PartnerRow>();
  return results;
}

export async function listKeys(db: D1Database, partnerId: string): Promise<PartnerKeyRow[]> {
  const { results } = await db
    .prepare(`SELECT ${KEY_COLUMNS} FROM partner_api_keys k WHERE k.partner_id = ? ORDER BY k.id`)
    .bind(partnerId)
    .all<PartnerKeyRow>();
  return results;
}

export function findKey(db: D1Database, partnerId: string, keyId: string): Promise<PartnerKeyRow | null> {
  return db
    .prepare(`SELECT ${KEY_COLUMNS} FROM partner_api_keys k WHERE k.partner_id = ? AND k.id = ?`)
    .bind(partnerId, keyId)
    .first<PartnerKeyRow>();
}

export async function partnerCreatorIds(db: D1Database, partnerId: string): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT creator_id FROM partner_creators WHERE partner_id = ? ORDER BY creator_id")
    .bind(partnerId)
    .all<{ creator_id: string }>();
  return results.map((r) => r.creator_id);
}

/** The partners owning a creator (whose rooms' events they hear about). */
export async function partnersOfCreator(db: D1Database, creatorId: string): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT pc.partner_id FROM partner_creators pc JOIN partners p ON p.id = pc.partner_id
       WHERE pc.creator_id = ? AND p.status = 'active' ORDER BY pc.partner_id`,
    )
    .bind(creatorId)
    .all<{ partner_id: string }>();
  return results.map((r) => r.partner_id);
}

/** The room, when it belongs to one of the partner's creators; null otherwise (the caller answers 404). */
export function partnerRoom(
  db: D1Database,
  partnerId: string,
  roomId: string,
): Promise<{ id: string; creator_id: string; title: string; status: string; current_stream_id: string | null } | null> {
  return db
    .prepare(
      `SELECT r.id, r.creator_id, r.title, r.status, r.current_stream_id FROM rooms r
       JOIN partner_creators pc ON pc.creator_id = r.creator_id AND pc.partner_id = ? WHERE r.id = ?`,
    )
    .bind(partnerId, roomId)
    .first();
}
