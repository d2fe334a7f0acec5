/**
 * Re-sealing personal data after a key rotation (platform/sealing.ts): every verification and
 * payout account whose `key_id` is not the ring's current key is opened with its own key and
 * sealed again under the current one. Bounded (at most `rowsMax` rows per run, in chunks, one
 * batch of updates per chunk), idempotent (a row under the current key is never selected), and
 * safe against a creator writing the row at the same time (each update is a compare-and-set
 * on the old sealed value). When `remaining` is 0 the old key can leave `PII_KEYS`.
 *
 * A row that does not open (tampered, moved from another row, its key gone) is not changed; it
 * is reported in `unopenable` and left for an operator, and the run goes on past it.
 */

import type { AuditAction } from "../domain/audit-chain";
import { LIMITS } from "../domain/limits";
import { keyRing, reseal, SealingError } from "../platform/sealing";
import { batchWithAuditEntry } from "./audit";
import { payoutAccountContext } from "./reads/payout-accounts";
import { verificationContext } from "./verifications";

interface SealedTable {
  readonly name: "creator_verifications" | "payout_accounts";
  readonly key: "creator_id" | "id";
  readonly context: (rowKey: string) => string;
}

const TABLES: readonly SealedTable[] = [
  { name: "creator_verifications", key: "creator_id", context: verificationContext },
  { name: "payout_accounts", key: "id", context: payoutAccountContext },
];

const CHUNK = 50;

export interface ResealReport {
  readonly currentKeyId: string;
  readonly resealed: { readonly verifications: number; readonly payoutAccounts: number };
  readonly unopenable: readonly { table: SealedTable["name"]; id: string; code: string }[];
  /** Rows still not under the current key after this run (unopenable ones included). */
  readonly remaining: number;
}

export async function resealPersonalData(
  control: D1Database,
  piiKeys: string | undefined,
  rowsMax: number = LIMITS.piiResealRowsPerRunMax,
  audit?: Pick<AuditAction, "actor" | "requestId">,
): Promise<ResealReport> {
  const { currentId } = await keyRing(piiKeys);
  const resealed: Record<SealedTable["name"], number> = { creator_verifications: 0, payout_accounts: 0 };
  const unopenable: { table: SealedTable["name"]; id: string; code: string }[] = [];
  let budget = rowsMax;
  for (const table of TABLES) {
    let after = "";
    while (budget > 0) {
      const { results } = await control
        .prepare(
          `SELECT ${table.key} AS k, sealed, key_id FROM ${table.name}
           WHERE key_id != ? AND ${table.key} > ? ORDER BY ${table.key} LIMIT ?`,
        )
        .bind(currentId, after, Math.min(CHUNK, budget))
        .all<{ k: string; sealed: string; key_id: string }>();
      const updates: D1PreparedStatement[] = [];
      for (const row of results) {
        try {
          const next = await reseal(piiKeys, table.context(row.k), { sealed: row.sealed, keyId: row.key_id });
          updates.push(
            control
              .prepare(
                `UPDATE ${table.name} SET sealed = ?, key_id = ? WHERE ${table.key} = ? AND key_id = ? AND sealed = ?`,
              )
              .bind(next.sealed, next.keyId, row.k, row.key_id, row.sealed),
          );
        } catch (error) {
          if (!(error instanceof SealingError)) throw error;
          unopenable.push({ table: table.name, id: row.k, code: error.code });
        }
      }
      if (updates.length > 0) {
        // Each batch of re-sealed rows carries its audit entry (which rows, under which key;
        // never their contents).
        const action: AuditAction | undefined =
          audit === undefined
            ? undefined
            : {
                ...audit,
                action: "pii.reseal",
                target: table.name,
                before: null,
                after: {
                  keyId: currentId,
                  rows: results.length,
                  fromKey: results[0]?.k ?? "",
                  toKey: results.at(-1)?.k ?? "",
                },
              };
        const batched =
          action === undefined
            ? await control.batch(updates)
            : await batchWithAuditEntry(control, action, updates, { sql: "1", params: [] });
        for (const r of batched) resealed[table.name] += r.meta.changes;
      }
      budget -= results.length;
      const last = results[results.length - 1];
      if (!last || results.length < CHUNK) break;
      after = last.k;
    }
  }
  let remaining = 0;
  for (const table of TABLES) {
    const row = await control
      .prepare(`SELECT COUNT(*) AS n FROM ${table.name} WHERE key_id != ?`)
      .bind(currentId)
      .first<{ n: number }>();
    remaining += row?.n ?? 0;
  }
  return {
    currentKeyId: currentId,
    resealed: { verifications: resealed.creator_verifications, payoutAccounts: resealed.payout_accounts },
    unopenable,
    remaining,
  };
}
