import type { OperatorRole } from "../src/domain/permissions";

/**
 * Puts an operator with exactly `roles`, active, outside the API's checks: for the demo seed,
 * the development entry, the benches and the tests, which stand in for an admin's grants (a
 * deployment's first admin comes from `npm run operator:add`). Idempotent.
 */
export async function putOperator(
  db: D1Database,
  operator: { readonly id: string; readonly displayName: string; readonly roles: readonly OperatorRole[] },
  actor: string,
  nowMs: number,
): Promise<void> {
  await db.batch([
    db
      .prepare(
        `INSERT INTO operators (id, display_name, email, service_client_id, status, created_by, created_at_ms, updated_at_ms)
         VALUES (?, ?, NULL, NULL, 'active', ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = 'active', display_name = excluded.display_name, updated_at_ms = excluded.updated_at_ms
           WHERE operators.status <> 'active' OR operators.display_name <> excluded.display_name`,
      )
      .bind(operator.id, operator.displayName, actor, nowMs, nowMs),
    // Grants first, then revocations of what is not asked for: re-putting the only admin keeps them one.
    ...operator.roles.map((role) =>
      db
        .prepare(
          "INSERT INTO operator_roles (operator_id, role, granted_by, granted_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(operator.id, role, actor, nowMs),
    ),
    db
      .prepare("DELETE FROM operator_roles WHERE operator_id = ? AND role NOT IN (SELECT value FROM json_each(?))")
      .bind(operator.id, JSON.stringify(operator.roles)),
  ]);
}
