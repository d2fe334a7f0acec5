/**
 * `npm run ledger:verify`: checks the ledger invariants over the local databases (the ones
 * `npm start` uses: the control database and every ledger shard), per shard and across
 * shards, with the same code the operator endpoint runs. Exit code 1 when any invariant is
 * violated, with every violation printed. For a deployed ledger, call
 * GET /v1/admin/ledger/invariants with an admin or finance token.
 */
import { getPlatformProxy } from "wrangler";
import { checkShardedInvariants } from "../src/db/sharded-invariants";
import { openLedger } from "../src/db/shards";

console.log("Checking ledger invariants on the local D1 databases…");
const proxy = await getPlatformProxy<Env>({ configPath: "wrangler.toml", persist: true });
try {
  const ledger = await openLedger(proxy.env);
  const report = await checkShardedInvariants(ledger, Date.now());
  console.log(
    `shards ${report.shards} · accounts ${report.counts.accounts} · operations ${report.counts.operations} · ` +
      `transfers ${report.counts.transfers} · cross-shard credits in flight ${report.counts.transitInFlight}`,
  );
  if (report.ok) {
    console.log(
      "\x1b[32m✓ all invariants hold\x1b[0m (each shard balanced, no protected account negative, balances = Σ transfers, " +
        "operations balanced; transit pairs = in flight, no delivery lost or doubled, operation ids unique)",
    );
  } else {
    console.log(`\x1b[31m✗ ${report.violationCount} violation(s)\x1b[0m`);
    for (const v of report.violations) console.log(`  ${JSON.stringify(v)}`);
    process.exitCode = 1;
  }
} finally {
  await proxy.dispose();
}
