/**
 * Payment PINs in the owner's ledger shard (schema: `payment_pins`; hashing: domain/pin.ts).
 *
 * A check is: claim a try, derive, settle. The claim is one conditional UPDATE — it counts the
 * try and, on the `LIMITS.pinTriesMax`-th, sets the lock — before any PBKDF2 work, so guesses
 * fired in parallel are serialized by SQLite: at most `pinTriesMax` of them are ever derived
 * per lock window, the rest answer `pin_locked` without touching the hash. A right PIN then
 * clears the count (and a lock its own claim set); a wrong one leaves its try counted. A
 * Worker that dies between claim and settle leaves the try counted: it fails closed.
 */

import { fail } from "../domain/errors";
import { LIMITS } from "../domain/limits";
import { hashPin, PIN_SALT_BYTES, type PinHash, verifyPin } from "../domain/pin";

export interface PinStatus {
  readonly set: boolean;
  /** Null unless locked now. */
  readonly lockedUntilMs: number | null;
  readonly triesLeft: number;
  readonly updatedAtMs: number | null;
}

interface PinRow {
  hash_hex: string;
  salt_hex: string;
  iterations: number;
  tries_used: number;
  locked_until_ms: number;
  updated_at_ms: number;
}

/** A refused check: which rule, and what the client may show (tries left, locked until). */
export interface PinRefusal {
  readonly ok: false;
  readonly code: "pin_not_set" | "pin_locked" | "pin_incorrect";
  readonly message: string;
  readonly triesLeft?: number;
  readonly lockedUntilMs?: number;
}

export type PinCheck = { readonly ok: true; readonly hashHex: string } | PinRefusal;

export async function pinStatus(db: D1Database, userId: string, nowMs: number): Promise<PinStatus> {
  const row = await db.prepare("SELECT * FROM payment_pins WHERE user_id = ?").bind(userId).first<PinRow>();
  if (row === null) return { set: false, lockedUntilMs: null, triesLeft: LIMITS.pinTriesMax, updatedAtMs: null };
  const locked = row.locked_until_ms > nowMs;
  const expired = row.locked_until_ms !== 0 && !locked;
  return {
    set: true,
    lockedUntilMs: locked ? row.locked_until_ms : null,
    triesLeft: locked ? 0 : expired ? LIMITS.pinTriesMax : Math.max(0, LIMITS.pinTriesMax - row.tries_used),
    updatedAtMs: row.updated_at_ms,
  };
}

/** A fresh random salt and the PIN's hash at the current iteration count. */
export function newPinHash(pin: string): Promise<PinHash> {
  return hashPin(pin, crypto.getRandomValues(new Uint8Array(PIN_SALT_BYTES)));
}

/** Sets a first PIN; false when the user has one already (a concurrent set won). */
export async function insertPin(db: D1Database, userId: string, hash: PinHash, nowMs: number): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO payment_pins (user_id, hash_hex, salt_hex, iterations, tries_used, locked_until_ms, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, 0, 0, ?, ?) ON CONFLICT (user_id) DO NOTHING`,
    )
    .bind(userId, hash.hashHex, hash.saltHex, hash.iterations, nowMs, nowMs)
    .run();
  return (result.meta.changes ?? 0) === 1;
}

/**
 * Replaces the PIN and clears its tries and lock (a change after the old PIN was checked, or
 * a reset after a fresh sign-in). `expectHashHex`: only if it is still that PIN (a change).
 */
export async function replacePin(
  db: D1Database,
  userId: string,
  hash: PinHash,
  nowMs: number,
  expectHashHex: string | null,
): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO payment_pins (user_id, hash_hex, salt_hex, iterations, tries_used, locked_until_ms, created_at_ms, updated_at_ms)
       VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?5)
       ON CONFLICT (user_id) DO UPDATE SET hash_hex = excluded.hash_hex, salt_hex = excluded.salt_hex,
         iterations = excluded.iterations, tries_used = 0, locked_until_ms = 0, updated_at_ms = excluded.updated_at_ms
       WHERE ?6 IS NULL OR payment_pins.hash_hex = ?6`,
    )
    .bind(userId, hash.hashHex, hash.saltHex, hash.iterations, nowMs, expectHashHex)
    .run();
  return (result.meta.changes ?? 0) === 1;
}

/**
 * Checks `pin` against the user's PIN, counting the try first (see the file comment). The
 * answer says only right or wrong, how many tries are left, or until when it is locked.
 */
export async function checkPin(db: D1Database, userId: string, pin: string, nowMs: number): Promise<PinCheck> {
  const max = LIMITS.pinTriesMax;
  // A lock that has run out (locked_until_ms set, in the past) starts a new count at this try.
  const [claimed, current] = await db.batch([
    db
      .prepare(
        `UPDATE payment_pins SET
           tries_used = CASE WHEN locked_until_ms <> 0 THEN 1 ELSE tries_used + 1 END,
           locked_until_ms = CASE WHEN (CASE WHEN locked_until_ms <> 0 THEN 1 ELSE tries_used + 1 END) >= ?2
             THEN ?3 + ?4 ELSE 0 END
         WHERE user_id = ?1 AND locked_until_ms <= ?3 AND (tries_used < ?2 OR locked_until_ms <> 0)
         RETURNING hash_hex, salt_hex, iterations, tries_used, locked_until_ms`,
      )
      .bind(userId, max, nowMs, LIMITS.pinLockMs),
    db.prepare("SELECT locked_until_ms FROM payment_pins WHERE user_id = ?").bind(userId),
  ]);
  const row = claimed?.results[0] as PinRow | undefined;
  if (row === undefined) {
    const existing = current?.results[0] as { locked_until_ms: number } | undefined;
    if (existing === undefined) return fail("pin_not_set");
    return locked(existing.locked_until_ms);
  }
  const right = await verifyPin(pin, { hashHex: row.hash_hex, saltHex: row.salt_hex, iterations: row.iterations });
  if (right) {
    // Only the PIN this try was checked against: a reset in between keeps its own state.
    await db
      .prepare("UPDATE payment_pins SET tries_used = 0, locked_until_ms = 0 WHERE user_id = ? AND hash_hex = ?")
      .bind(userId, row.hash_hex)
      .run();
    return { ok: true, hashHex: row.hash_hex };
  }
  if (row.locked_until_ms !== 0) return locked(row.locked_until_ms);
  const triesLeft = max - row.tries_used;
  return {
    ...fail("pin_incorrect", `The payment PIN is not correct; ${triesLeft} ${triesLeft === 1 ? "try" : "tries"} left.`),
    triesLeft,
  };
}

function locked(lockedUntilMs: number): PinRefusal {
  return { ...fail("pin_locked"), lockedUntilMs, triesLeft: 0 };
}
