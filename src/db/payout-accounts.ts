/**
 * Binding, listing, switching and removing payout accounts (control `payout_accounts`). The
 * account is sealed under `payoutAccountContext(id)` (reads/payout-accounts.ts); only its masked
 * text is ever read back here.
 *
 * One default per creator is the partial unique index `payout_accounts_one_default`; every
 * change of default is one batch (one transaction) that first clears the old default and then
 * sets the new one, so concurrent switches serialise and the last one wins whole.
 */

import type { Failure } from "../domain/errors";
import { fail } from "../domain/errors";
import { LIMITS } from "../domain/limits";
import type { PayoutAccount } from "../domain/payout-account";
import { coolingUntilMs, maskedText, payoutChannelOf } from "../domain/payout-account-binding";
import { seal } from "../platform/sealing";
import { type PayoutAccountRow, payoutAccountContext } from "./reads/payout-accounts";

/** Columns safe to read outside the payout path: everything but the sealed account. */
const VISIBLE =
  "id, creator_id, channel, key_id, masked, is_default, cooling_until_ms, created_at_ms, updated_at_ms, removed_at_ms";
export type VisiblePayoutAccount = Omit<PayoutAccountRow, "sealed">;

/** The creator's bound (not removed) accounts, oldest first. */
export async function listPayoutAccounts(control: D1Database, creatorId: string): Promise<VisiblePayoutAccount[]> {
  const { results } = await control
    .prepare(
      `SELECT ${VISIBLE} FROM payout_accounts WHERE creator_id = ? AND removed_at_ms IS NULL
       ORDER BY created_at_ms, id LIMIT ?`,
    )
    .bind(creatorId, LIMITS.payoutAccountsPerCreatorMax)
    .all<VisiblePayoutAccount>();
  return results;
}

/**
 * Binds a validated account. It becomes the default when asked to, or when the creator has no
 * default yet (their first account). A new account always starts cooling.
 */
export async function bindPayoutAccount(
  control: D1Database,
  piiKeys: string | undefined,
  binding: { id: string; creatorId: string; account: PayoutAccount; makeDefault: boolean; nowMs: number },
): Promise<VisiblePayoutAccount | Failure<"payout_accounts_limit">> {
  const { id, creatorId, account, makeDefault, nowMs } = binding;
  const sealed = await seal(piiKeys, payoutAccountContext(id), JSON.stringify(account));
  const underLimit = "(SELECT COUNT(*) FROM payout_accounts WHERE creator_id = ?1 AND removed_at_ms IS NULL) < ?2";
  const statements = [
    control
      .prepare(
        `INSERT INTO payout_accounts
           (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
            created_at_ms, updated_at_ms, removed_at_ms)
         SELECT ?3, ?1, ?4, ?5, ?6, ?7,
                CASE WHEN ?8 = 1 OR NOT EXISTS (SELECT 1 FROM payout_accounts
                       WHERE creator_id = ?1 AND is_default = 1 AND removed_at_ms IS NULL) THEN 1 ELSE 0 END,
                ?9, ?10, ?10, NULL
         WHERE ${underLimit}
         RETURNING ${VISIBLE}`,
      )
      .bind(
        creatorId,
        LIMITS.payoutAccountsPerCreatorMax,
        id,
        payoutChannelOf(account),
        sealed.sealed,
        sealed.keyId,
        maskedText(account),
        makeDefault ? 1 : 0,
        coolingUntilMs(nowMs),
        nowMs,
      ),
  ];
  if (makeDefault) {
    // Runs first, in the same transaction, and only when the insert will happen.
    statements.unshift(
      control
        .prepare(
          `UPDATE payout_accounts SET is_default = 0, updated_at_ms = ?3
           WHERE creator_id = ?1 AND is_default = 1 AND removed_at_ms IS NULL AND ${underLimit}`,
        )
        .bind(creatorId, LIMITS.payoutAccountsPerCreatorMax, nowMs),
    );
  }
  const results = await control.batch<VisiblePayoutAccount>(statements);
  const row = results[results.length - 1]?.results[0];
  return row ?? fail("payout_accounts_limit");
}

export interface DefaultSwitch {
  readonly row: VisiblePayoutAccount;
  /** false when the account already was the default (nothing changed, cooling untouched). */
  readonly changed: boolean;
}

/** Makes one of the creator's accounts the default; a switch starts that account's cooling. */
export async function makeDefaultPayoutAccount(
  control: D1Database,
  creatorId: string,
  accountId: string,
  nowMs: number,
): Promise<DefaultSwitch | Failure<"payout_account_not_found">> {
  const target = "id = ?2 AND creator_id = ?1 AND removed_at_ms IS NULL";
  const [, switched] = await control.batch<VisiblePayoutAccount>([
    control
      .prepare(
        `UPDATE payout_accounts SET is_default = 0, updated_at_ms = ?3
         WHERE creator_id = ?1 AND is_default = 1 AND removed_at_ms IS NULL AND id != ?2
           AND EXISTS (SELECT 1 FROM payout_accounts WHERE ${target})`,
      )
      .bind(creatorId, accountId, nowMs),
    control
      .prepare(
        `UPDATE payout_accounts SET is_default = 1, cooling_until_ms = MAX(cooling_until_ms, ?4), updated_at_ms = ?3
         WHERE ${target} AND is_default = 0
         RETURNING ${VISIBLE}`,
      )
      .bind(creatorId, accountId, nowMs, coolingUntilMs(nowMs)),
  ]);
  const row = switched?.results[0];
  if (row) return { row, changed: true };
  const current = await control
    .prepare(`SELECT ${VISIBLE} FROM payout_accounts WHERE ${target}`)
    .bind(creatorId, accountId)
    .first<VisiblePayoutAccount>();
  return current ? { row: current, changed: false } : fail("payout_account_not_found");
}

/**
 * Removes an account (soft: `removed_at_ms`, so withdrawals already addressed to it can still
 * be paid and audited). Removing the default leaves the creator without one until they choose
 * another, which starts that account's cooling. Removing a removed account is a no-op.
 */
export async function removePayoutAccount(
  control: D1Database,
  creatorId: string,
  accountId: string,
  nowMs: number,
): Promise<{ removed: boolean } | Failure<"payout_account_not_found">> {
  const result = await control
    .prepare(
      `UPDATE payout_accounts SET removed_at_ms = ?3, is_default = 0, updated_at_ms = ?3
       WHERE id = ?2 AND creator_id = ?1 AND removed_at_ms IS NULL`,
    )
    .bind(creatorId, accountId, nowMs)
    .run();
  if (result.meta.changes === 1) return { removed: true };
  const existed = await control
    .prepare("SELECT 1 AS one FROM payout_accounts WHERE id = ? AND creator_id = ?")
    .bind(accountId, creatorId)
    .first();
  return existed ? { removed: false } : fail("payout_account_not_found");
}
