import { isOperatorRole, OPERATOR_ROLES, type OperatorRole } from "../domain/permissions";

/**
 * The operator directory (issue 15): who may use the operator API and with which roles. The
 * Worker reads it on every operator request (one indexed read), so a disabled operator or a
 * revoked role takes effect on the next request.
 */

/** How a caller is identified: Access (a person's email, a service token's client id) or, locally, the bearer subject. */
export type OperatorIdentity =
  | { readonly kind: "subject"; readonly id: string }
  | { readonly kind: "person"; readonly email: string }
  | { readonly kind: "service"; readonly clientId: string };

export interface Operator {
  readonly id: string;
  readonly displayName: string;
  readonly email: string | null;
  readonly serviceClientId: string | null;
  readonly status: "active" | "disabled";
  readonly roles: readonly OperatorRole[];
  readonly createdBy: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

interface OperatorRow {
  id: string;
  display_name: string;
  email: string | null;
  service_client_id: string | null;
  status: "active" | "disabled";
  roles: string | null;
  created_by: string;
  created_at_ms: number;
  updated_at_ms: number;
}

const SELECT = `SELECT o.id, o.display_name, o.email, o.service_client_id, o.status, o.created_by,
         o.created_at_ms, o.updated_at_ms,
         (SELECT group_concat(r.role) FROM operator_roles r WHERE r.operator_id = o.id) AS roles
    FROM operators o`;

function operatorOf(row: OperatorRow): Operator {
  const roles = (row.roles ?? "").split(",").filter(isOperatorRole);
  return {
    id: row.id,
    displayName: row.display_name,
    email: row.email,
    serviceClientId: row.service_client_id,
    status: row.status,
    roles: OPERATOR_ROLES.filter((r) => roles.includes(r)),
    createdBy: row.created_by,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
  };
}

const COLUMN: Record<OperatorIdentity["kind"], string> = {
  subject: "o.id",
  person: "o.email",
  service: "o.service_client_id",
};

function identityValue(identity: OperatorIdentity): string {
  switch (identity.kind) {
    case "subject":
      return identity.id;
    case "person":
      return identity.email;
    case "service":
      return identity.clientId;
  }
}

/** The operator an identity names, active or not; null when it names none. */
export async function findOperator(db: D1Database, identity: OperatorIdentity): Promise<Operator | null> {
  const row = await db
    .prepare(`${SELECT} WHERE ${COLUMN[identity.kind]} = ?`)
    .bind(identityValue(identity))
    .first<OperatorRow>();
  return row ? operatorOf(row) : null;
}

export async function operatorById(db: D1Database, id: string): Promise<Operator | null> {
  return findOperator(db, { kind: "subject", id });
}

/** The directory in id order, after `after` (a cursor), at most `limit`. */
export async function listOperators(db: D1Database, after: string | null, limit: number): Promise<Operator[]> {
  const { results } = await db
    .prepare(`${SELECT} WHERE o.id > ? ORDER BY o.id LIMIT ?`)
    .bind(after ?? "", limit)
    .all<OperatorRow>();
  return results.map(operatorOf);
}

export interface NewOperator {
  readonly id: string;
  readonly displayName: string;
  readonly email: string | null;
  readonly serviceClientId: string | null;
}

export type AddOperatorResult =
  | { readonly kind: "added"; readonly operator: Operator }
  | { readonly kind: "exists"; readonly operator: Operator }
  | { readonly kind: "identity_taken"; readonly by: string };

/**
 * Adds an operator with no roles: roles are granted separately (a grant is a four-eyes
 * proposal). Idempotent: the same id with the same identity again is `exists`; an email or
 * client id another operator holds is `identity_taken`.
 */
export async function addOperator(
  db: D1Database,
  input: NewOperator,
  actor: string,
  nowMs: number,
): Promise<AddOperatorResult> {
  const insert = await db
    .prepare(
      `INSERT INTO operators (id, display_name, email, service_client_id, status, created_by, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, 'active', ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    )
    .bind(input.id, input.displayName, input.email, input.serviceClientId, actor, nowMs, nowMs)
    .run();
  const same = await operatorById(db, input.id);
  if (insert.meta.changes === 1 && same) return { kind: "added", operator: same };
  if (same && same.email === input.email && same.serviceClientId === input.serviceClientId) {
    return { kind: "exists", operator: same };
  }
  const holder =
    (input.email && (await findOperator(db, { kind: "person", email: input.email }))) ||
    (input.serviceClientId && (await findOperator(db, { kind: "service", clientId: input.serviceClientId }))) ||
    same;
  return { kind: "identity_taken", by: holder ? holder.id : input.id };
}

export type SetRolesResult =
  | {
      readonly kind: "set";
      readonly operator: Operator;
      readonly granted: OperatorRole[];
      readonly revoked: OperatorRole[];
    }
  | { readonly kind: "not_found" }
  | { readonly kind: "last_admin" };

/**
 * Replaces an operator's roles with `roles`, in one batch. Refuses (`last_admin`) to leave the
 * directory without an active admin: the database's trigger aborts the batch, so two
 * concurrent revocations cannot both pass.
 */
export async function setOperatorRoles(
  db: D1Database,
  id: string,
  roles: readonly OperatorRole[],
  actor: string,
  nowMs: number,
): Promise<SetRolesResult> {
  const before = await operatorById(db, id);
  if (!before) return { kind: "not_found" };
  const wanted = OPERATOR_ROLES.filter((r) => roles.includes(r));
  const granted = wanted.filter((r) => !before.roles.includes(r));
  const revoked = before.roles.filter((r) => !wanted.includes(r));
  const statements: D1PreparedStatement[] = [];
  for (const role of revoked) {
    statements.push(db.prepare("DELETE FROM operator_roles WHERE operator_id = ? AND role = ?").bind(id, role));
  }
  for (const role of granted) {
    statements.push(
      db
        .prepare(
          "INSERT INTO operator_roles (operator_id, role, granted_by, granted_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(id, role, actor, nowMs),
    );
  }
  statements.push(db.prepare("UPDATE operators SET updated_at_ms = ? WHERE id = ?").bind(nowMs, id));
  try {
    await db.batch(statements);
  } catch (error) {
    if (String(error).includes(LAST_ADMIN)) return { kind: "last_admin" };
    throw error;
  }
  const after = await operatorById(db, id);
  if (!after) return { kind: "not_found" };
  return { kind: "set", operator: after, granted, revoked };
}

export type SetStatusResult =
  | { readonly kind: "set"; readonly operator: Operator }
  | { readonly kind: "not_found" }
  | { readonly kind: "last_admin" };

/** Disables (or re-enables) an operator: effective on their next request. Never the last active admin. */
export async function setOperatorStatus(
  db: D1Database,
  id: string,
  status: "active" | "disabled",
  nowMs: number,
): Promise<SetStatusResult> {
  try {
    const update = await db
      .prepare("UPDATE operators SET status = ?, updated_at_ms = ? WHERE id = ?")
      .bind(status, nowMs, id)
      .run();
    if (update?.meta.changes !== 1) return { kind: "not_found" };
  } catch (error) {
    if (String(error).includes(LAST_ADMIN)) return { kind: "last_admin" };
    throw error;
  }
  const after = await operatorById(db, id);
  return after ? { kind: "set", operator: after } : { kind: "not_found" };
}

/**
 * The marker the database's triggers abort with (migrations/control/0004): revoking admin from,
 * disabling or deleting the last active admin fails in SQL, so no path can lock everyone out.
 */
const LAST_ADMIN = "last_admin";
