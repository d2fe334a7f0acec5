import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  may,
  OPERATOR_ROLES,
  PERMISSION_NAMES,
  PERMISSIONS,
  permissionsOf,
  ROLE_PERMISSIONS,
  rolesWith,
} from "../../../src/domain/permissions";

describe("the permission matrix", () => {
  it("gives admin every permission and the auditor only reads", () => {
    expect([...permissionsOf(["admin"])].sort()).toEqual([...PERMISSION_NAMES].sort());
    for (const p of permissionsOf(["auditor"])) expect(p, p).toMatch(/\.read$/);
  });

  it("names only known permissions, each held by some role besides admin or by admin alone on purpose", () => {
    for (const role of OPERATOR_ROLES) for (const p of ROLE_PERMISSIONS[role]) expect(PERMISSIONS).toHaveProperty(p);
    const adminOnly = PERMISSION_NAMES.filter((p) => rolesWith(p).join() === "admin");
    expect(adminOnly.sort()).toEqual(["operator.manage", "pii.reseal"]);
  });

  it("decides a role set by any of its roles", () => {
    for (const p of PERMISSION_NAMES) {
      for (let mask = 0; mask < 1 << OPERATOR_ROLES.length; mask++) {
        const roles = OPERATOR_ROLES.filter((_, i) => (mask >> i) & 1);
        expect(may(roles, p), `${roles.join("+")} ${p}`).toBe(roles.some((r) => ROLE_PERMISSIONS[r].includes(p)));
        expect(permissionsOf(roles).has(p)).toBe(may(roles, p));
      }
    }
  });

  it("is the table docs/PERMISSIONS.md shows, row for row", () => {
    const doc = readFileSync("docs/PERMISSIONS.md", "utf8");
    const rows = doc
      .split("\n")
      .filter((line) => /^\| `[a-z-]+\.[a-z]+`\s+\|/.test(line))
      .map((line) => line.split("|").map((cell) => cell.trim()));
    const header = doc
      .split("\n")
      .find((line) => /^\| Permission\s+\|/.test(line))
      ?.split("|")
      .map((cell) => cell.trim());
    expect(header?.slice(3, 3 + OPERATOR_ROLES.length)).toEqual([...OPERATOR_ROLES]);
    expect(rows.map((r) => r[1]?.replaceAll("`", ""))).toEqual(PERMISSION_NAMES);
    for (const row of rows) {
      const permission = row[1]?.replaceAll("`", "") as keyof typeof PERMISSIONS;
      expect(row[2], permission).toBe(PERMISSIONS[permission]);
      const marks = row.slice(3, 3 + OPERATOR_ROLES.length);
      expect(marks, permission).toEqual(
        OPERATOR_ROLES.map((r) => (ROLE_PERMISSIONS[r].includes(permission) ? "✓" : "")),
      );
    }
  });
});
