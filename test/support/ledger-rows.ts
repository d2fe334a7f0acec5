/**
 * Writing ledger rows straight into a shard with SQL, for tests (and bench:archive) that need a
 * populated shard without the Worker: what an operation leaves behind once it has posted (its row, its
 * accounts, balanced transfers, the balances they move), without composeOperation's guards.
 * Callers keep to the ledger's rules themselves (balanced postings, one currency, protected
 * accounts never below zero); the invariant checker tells them when they do not.
 */

import { mayGoNegative, type Posting } from "../../src/domain/accounts";

export interface DirectOperation {
  readonly id: string;
  readonly kind: string;
  readonly postings: readonly Posting[];
  readonly atMs: number;
  readonly currency?: string;
  readonly metadata?: Record<string, unknown> | null;
  /** Who the operation names as its actor (default `test:seed`). */
  readonly actorId?: string;
}

export function operationRows(db: D1Database, op: DirectOperation): D1PreparedStatement[] {
  const currency = op.currency ?? "CNY";
  const net = new Map<string, number>();
  for (const p of op.postings) {
    net.set(p.from, (net.get(p.from) ?? 0) - p.amountMinor);
    net.set(p.to, (net.get(p.to) ?? 0) + p.amountMinor);
  }
  return [
    ...[...net.keys()].map((address) =>
      db
        .prepare(
          `INSERT INTO accounts (address, currency, balance_minor, may_go_negative, created_at_ms)
           VALUES (?, ?, 0, ?, ?) ON CONFLICT (address) DO NOTHING`,
        )
        .bind(address, currency, mayGoNegative(address) ? 1 : 0, op.atMs),
    ),
    db
      .prepare(
        `INSERT INTO operations (id, kind, currency, amount_minor, transfer_count, state, actor_id, reason, metadata,
           created_at_ms) VALUES (?, ?, ?, ?, ?, 'posted', ?, NULL, ?, ?)`,
      )
      .bind(
        op.id,
        op.kind,
        currency,
        op.postings.reduce((sum, p) => sum + p.amountMinor, 0),
        op.postings.length,
        op.actorId ?? "test:seed",
        op.metadata === undefined || op.metadata === null ? null : JSON.stringify(op.metadata),
        op.atMs,
      ),
    ...op.postings.map((p) =>
      db
        .prepare(
          `INSERT INTO transfers (operation_id, from_account, to_account, amount_minor, currency, created_at_ms)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .bind(op.id, p.from, p.to, p.amountMinor, currency, op.atMs),
    ),
    ...[...net]
      .filter(([, delta]) => delta !== 0)
      .map(([address, delta]) =>
        db.prepare("UPDATE accounts SET balance_minor = balance_minor + ? WHERE address = ?").bind(delta, address),
      ),
  ];
}

/** A step of a seeded history: when it happened and the statements that record it. */
export interface SeedStep {
  readonly atMs: number;
  readonly statements: (db: D1Database) => D1PreparedStatement[];
}

/**
 * Writes the steps in time order (transfer ids then grow with their timestamps, as in a
 * shard), several steps per batch.
 */
export async function writeSteps(db: D1Database, steps: readonly SeedStep[], stepsPerBatch = 40): Promise<void> {
  const ordered = [...steps].sort((a, b) => a.atMs - b.atMs);
  for (let i = 0; i < ordered.length; i += stepsPerBatch) {
    await db.batch(ordered.slice(i, i + stepsPerBatch).flatMap((step) => step.statements(db)));
  }
}
