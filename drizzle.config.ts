import { defineConfig } from "drizzle-kit";

/**
 * `npm run db:generate` writes the SQL migrations that wrangler and the tests apply: one
 * history for the control database and one that every ledger shard shares. DRIZZLE_DB picks
 * which (`control` or `ledger`); the npm script runs both.
 */
const database = process.env.DRIZZLE_DB === "ledger" ? "ledger" : "control";

export default defineConfig({
  dialect: "sqlite",
  schema: [`./src/db/schema/${database}.ts`, "./src/db/schema/shared.ts"],
  out: `./migrations/${database}`,
});
