/**
 * `npm run operator:add -- --id op-alice --email alice@example.com --roles admin [--name "Alice"] (--remote | --local)`
 *
 * Puts an operator in the control database directly, through `wrangler d1 execute`: how a
 * fresh deployment gets its first admin, who then manages everyone else through
 * /v1/admin/operators (where grants are audited and four-eyed). Identify the operator the way
 * they sign in: `--email` for a person behind Cloudflare Access, `--service-client-id` for an
 * Access service token; locally the bearer token's subject is the `--id`. Safe to repeat: an
 * existing operator keeps their row and gains the roles named (none are taken away).
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { z } from "zod";
import { USER_ID_PATTERN } from "../src/domain/accounts";
import { LIMITS } from "../src/domain/limits";
import { OPERATOR_ROLES } from "../src/domain/permissions";

export const OperatorAddInput = z.object({
  id: z.string().regex(USER_ID_PATTERN),
  name: z.string().min(1).max(LIMITS.nameMaxLength),
  email: z.email().max(LIMITS.emailMaxLength).nullable(),
  serviceClientId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/)
    .nullable(),
  roles: z.array(z.enum(OPERATOR_ROLES)).min(1),
});

export type OperatorAdd = z.infer<typeof OperatorAddInput>;

/** SQL text literal: the input is validated first, and quotes are doubled all the same. */
const text = (value: string | null) => (value === null ? "NULL" : `'${value.replaceAll("'", "''")}'`);

/** The statements `wrangler d1 execute --command` runs, idempotent. */
export function operatorAddSql(input: OperatorAdd, nowMs: number): string {
  const { id, name, email, serviceClientId, roles } = OperatorAddInput.parse(input);
  const actor = text("system:operator-add");
  return [
    `INSERT INTO operators (id, display_name, email, service_client_id, status, created_by, created_at_ms, updated_at_ms)
     VALUES (${text(id)}, ${text(name)}, ${text(email?.toLowerCase() ?? null)}, ${text(serviceClientId)}, 'active', ${actor}, ${nowMs}, ${nowMs})
     ON CONFLICT (id) DO NOTHING;`,
    ...roles.map(
      (role) =>
        `INSERT INTO operator_roles (operator_id, role, granted_by, granted_at_ms) VALUES (${text(id)}, ${text(role)}, ${actor}, ${nowMs}) ON CONFLICT DO NOTHING;`,
    ),
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      id: { type: "string" },
      name: { type: "string" },
      email: { type: "string" },
      "service-client-id": { type: "string" },
      roles: { type: "string" },
      remote: { type: "boolean", default: false },
      local: { type: "boolean", default: false },
      config: { type: "string", default: "wrangler.toml" },
    },
  });
  if (values.remote === values.local) {
    console.error("Say where: --remote (the deployed control database) or --local (npm start's).");
    process.exit(2);
  }
  const parsed = OperatorAddInput.safeParse({
    id: values.id,
    name: values.name ?? values.id,
    email: values.email ?? null,
    serviceClientId: values["service-client-id"] ?? null,
    roles: (values.roles ?? "").split(",").filter((r) => r !== ""),
  });
  if (!parsed.success) {
    console.error(`Bad arguments: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    console.error(`Roles: ${OPERATOR_ROLES.join(", ")}.`);
    process.exit(2);
  }
  const sql = operatorAddSql(parsed.data, Date.now());
  console.log(
    `Adding operator ${parsed.data.id} (${parsed.data.roles.join(", ")}) to CONTROL ${values.remote ? "(remote)" : "(local)"}…`,
  );
  execFileSync(
    "npx",
    [
      "wrangler",
      "d1",
      "execute",
      "CONTROL",
      values.remote ? "--remote" : "--local",
      "--config",
      values.config,
      "--command",
      sql,
    ],
    { stdio: "inherit" },
  );
  console.log("Done. They can now sign in; manage roles through /v1/admin/operators.");
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
