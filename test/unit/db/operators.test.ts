/**
 * The operator directory on a database of its own (test/support/sqlite-d1.ts): the last active
 * admin can be neither revoked nor disabled, in any order of changes, and a bootstrap from
 * `npm run operator:add` lands as the API would have put it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { putOperator } from "../../../dev/operators";
import { operatorAddSql } from "../../../scripts/operator-add";
import {
  addOperator,
  findOperator,
  listOperators,
  operatorById,
  setOperatorRoles,
  setOperatorStatus,
} from "../../../src/db/operators";
import { OPERATOR_ROLES, type OperatorRole } from "../../../src/domain/permissions";
import { sqliteD1 } from "../../support/sqlite-d1";

async function activeAdmins(db: D1Database): Promise<number> {
  const all = await listOperators(db, null, 100);
  return all.filter((o) => o.status === "active" && o.roles.includes("admin")).length;
}

describe("the operator directory", () => {
  it("never loses its last active admin, whatever sequence of role and status changes", async () => {
    const ids = ["a", "b", "c"] as const;
    const change = fc.oneof(
      fc.record({
        kind: fc.constant("roles" as const),
        id: fc.constantFrom(...ids),
        roles: fc.subarray([...OPERATOR_ROLES]),
      }),
      fc.record({
        kind: fc.constant("status" as const),
        id: fc.constantFrom(...ids),
        status: fc.constantFrom("active" as const, "disabled" as const),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(change, { maxLength: 25 }), async (changes) => {
        const db = sqliteD1("migrations/control");
        await putOperator(db, { id: "a", displayName: "A", roles: ["admin"] }, "test", 1);
        await putOperator(db, { id: "b", displayName: "B", roles: ["finance"] }, "test", 1);
        await putOperator(db, { id: "c", displayName: "C", roles: [] }, "test", 1);
        for (const c of changes) {
          const before = await operatorById(db, c.id);
          const result =
            c.kind === "roles"
              ? await setOperatorRoles(db, c.id, c.roles as OperatorRole[], "test", 2)
              : await setOperatorStatus(db, c.id, c.status, 2);
          expect(await activeAdmins(db)).toBeGreaterThanOrEqual(1);
          if (result.kind === "last_admin") {
            // Refused: nothing about the operator changed.
            expect(await operatorById(db, c.id)).toEqual(before);
          } else {
            expect(result.kind).toBe("set");
            if (c.kind === "roles")
              expect((await operatorById(db, c.id))?.roles).toEqual(OPERATOR_ROLES.filter((r) => c.roles.includes(r)));
            else expect((await operatorById(db, c.id))?.status).toBe(c.status);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it("refuses exactly the change that would remove the only admin", async () => {
    const db = sqliteD1("migrations/control");
    await putOperator(db, { id: "solo", displayName: "Solo", roles: ["admin", "finance"] }, "test", 1);
    expect((await setOperatorRoles(db, "solo", ["finance"], "test", 2)).kind).toBe("last_admin");
    expect((await setOperatorStatus(db, "solo", "disabled", 2)).kind).toBe("last_admin");
    await putOperator(db, { id: "second", displayName: "Second", roles: ["admin"] }, "test", 1);
    expect((await setOperatorRoles(db, "solo", ["finance"], "test", 2)).kind).toBe("set");
    expect((await setOperatorStatus(db, "second", "disabled", 2)).kind).toBe("last_admin");
  });

  it("adds idempotently and keeps identities unique", async () => {
    const db = sqliteD1("migrations/control");
    const alice = { id: "op-alice", displayName: "Alice", email: "alice@example.com", serviceClientId: null };
    expect((await addOperator(db, alice, "admin", 1)).kind).toBe("added");
    expect((await addOperator(db, alice, "admin", 2)).kind).toBe("exists");
    expect(await addOperator(db, { ...alice, id: "op-eve" }, "admin", 3)).toEqual({
      kind: "identity_taken",
      by: "op-alice",
    });
    expect(await operatorById(db, "op-eve")).toBeNull();
    expect((await findOperator(db, { kind: "person", email: "alice@example.com" }))?.id).toBe("op-alice");
  });

  it("bootstraps the first admin from operator:add's SQL, repeatably, refusing what is not an operator", async () => {
    const db = sqliteD1("migrations/control");
    const sql = operatorAddSql(
      { id: "op-root", name: "Root's", email: "Root@Example.com", serviceClientId: null, roles: ["admin", "auditor"] },
      5,
    );
    await db.exec(sql);
    await db.exec(sql);
    const root = await findOperator(db, { kind: "person", email: "root@example.com" });
    expect(root).toMatchObject({ id: "op-root", displayName: "Root's", status: "active", roles: ["admin", "auditor"] });
    for (const bad of [
      { id: "x'; DROP TABLE operators; --", name: "x", email: null, serviceClientId: null, roles: ["admin"] },
      { id: "ok", name: "x", email: null, serviceClientId: null, roles: ["superuser"] },
      { id: "ok", name: "x", email: null, serviceClientId: null, roles: [] },
    ]) {
      expect(() => operatorAddSql(bad as never, 5)).toThrow();
    }
  });
});
