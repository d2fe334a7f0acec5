/**
 * `npm run ledger:verify`: checks the ledger invariants over the local D1 database (the one
 * `npm start` uses), with the same code the operator endpoint runs. Exit code 1 when any
 * invariant is violated, with every violation printed. For a deployed ledger, call
 * GET /v1/admin/ledger/invariants with an admin or finance token.
 */
import { getPlatformProxy } from "wrangler";
import { checkLedgerInvariants } from "../src/db/invariants";

console.log("Checking ledger invariants on the local D1 database…");
const proxy = await getPlatformProxy<Env>({ configPath: "wrangler.toml", persist: true });
try {
  const report = await checkLedgerInvariants(proxy.env.DB, Date.now());
  console.log(
    `accounts ${report.counts.accounts} · operations ${report.counts.operations} · transfers ${report.counts.transfers}`,
  );
  if (report.ok) {
    console.log(
      "\x1b[32m✓ all invariants hold\x1b[0m (Σ balances = 0, no protected account negative, balances = Σ transfers, operations balanced)",
    );
  } else {
    console.log(`\x1b[31m✗ ${report.violationCount} violation(s)\x1b[0m`);
    for (const v of report.violations) console.log(`  ${JSON.stringify(v)}`);
    process.exitCode = 1;
  }
} finally {
  await proxy.dispose();
}
