/**
 * `npm run audit:verify`: walks every audit chain of the local databases (the ones `npm start`
 * uses: the control database and every ledger shard), recomputing each entry's hash, and
 * compares them with the daily anchors in the local R2 bucket — the same code as
 * GET /v1/admin/audit/verify, which is the way to check a deployment. Exit code 1 when any
 * chain is broken, with the first broken entry of each.
 */
import { getPlatformProxy } from "wrangler";
import { auditChains, verifyStoredChain } from "../src/db/audit";
import { readAnchors } from "../src/db/audit-anchors";
import { openLedger } from "../src/db/shards";

console.log("Verifying the audit chains on the local D1 databases…");
const proxy = await getPlatformProxy<Env>({ configPath: "wrangler.toml", persist: true });
try {
  const ledger = await openLedger(proxy.env);
  let broken = 0;
  for (const chain of auditChains(ledger)) {
    const report = await verifyStoredChain(chain, await readAnchors(proxy.env.AUDIT_ANCHORS, chain.name));
    const summary = `${report.chain}: ${report.length} entries, head ${report.headSeq} ${report.headHash.slice(0, 16)}…, ${report.anchorsChecked} anchor(s)`;
    if (report.ok) {
      console.log(`\x1b[32m✓\x1b[0m ${summary}`);
    } else {
      broken += 1;
      console.log(
        `\x1b[31m✗\x1b[0m ${summary}: first broken at index ${report.broken?.index} (${report.broken?.kind}, sequence ${report.broken?.expectedSeq} expected, ${report.broken?.foundSeq} found)`,
      );
    }
  }
  if (broken > 0) process.exitCode = 1;
} finally {
  await proxy.dispose();
}
