/**
 * `npm run ledger:move-bucket -- --bucket B --to S`: moves one bucket of owners to ledger
 * shard S on the local databases (the ones `npm start` uses), one phase at a time, printing
 * each step (src/db/bucket-move.ts). Safe to run again after a crash or Ctrl-C: it resumes
 * the move where the control database says it is. Without `--to` it resumes a move under way.
 * Between the switch and "verified" it waits out the isolates' cached bucket maps. A bucket
 * that cannot move yet (open withdrawals, live red packets, unspent subsidies, unfinished
 * refunds) is refused with its code (`bucket_has_open_withdrawals`, …) and exit code 3:
 * retry later.
 */
import { parseArgs } from "node:util";
import { getPlatformProxy } from "wrangler";
import { startBucketMove, stepBucketMove } from "../src/db/bucket-move";
import { shardBindings } from "../src/db/shards";
import { LEDGER_BUCKETS } from "../src/domain/shards";

const { values } = parseArgs({ options: { bucket: { type: "string" }, to: { type: "string" } } });
const bucket = Number(values.bucket);
if (!Number.isInteger(bucket) || bucket < 0 || bucket >= LEDGER_BUCKETS) {
  console.error(`--bucket must be a whole number from 0 to ${LEDGER_BUCKETS - 1}`);
  process.exit(2);
}

const proxy = await getPlatformProxy<Env>({ configPath: "wrangler.toml", persist: true });
try {
  const dbs = { control: proxy.env.CONTROL, shards: shardBindings(proxy.env) };
  if (values.to !== undefined) {
    const to = Number(values.to);
    if (!Number.isInteger(to) || to < 0 || to >= dbs.shards.length) {
      throw new Error(`--to must name one of the ${dbs.shards.length} bound shards`);
    }
    const started = await startBucketMove(dbs, bucket, to, Date.now());
    if (started.kind === "refused") {
      // Nothing was written: the bucket holds something that cannot move yet.
      console.log(`\x1b[33m✗ refused [${started.blockers.join(", ")}]\x1b[0m: ${started.reason}`);
      process.exitCode = 3;
    } else console.log(started.kind === "advanced" ? `▶ copying: ${started.did.join("; ")}` : `· ${started.reason}`);
  }
  for (let steps = 0; steps < 100 && process.exitCode === undefined; steps++) {
    const step = await stepBucketMove(dbs, bucket, Date.now());
    if (step.kind === "idle") {
      console.log(`· ${step.reason}`);
      break;
    }
    if (step.kind === "called_off" || step.kind === "refused") {
      console.log(`\x1b[33m✗ called off [${(step.blockers ?? []).join(", ")}]\x1b[0m: ${step.reason}`);
      process.exitCode = 1;
      break;
    }
    if (step.kind === "waiting" && (step.blockers ?? []).length > 0) {
      // An open withdrawal, a live packet…: hours to days, not seconds. The move stays in
      // \`copying\` (writes still go to the old shard); run this again later to resume it.
      console.log(`… ${step.phase} [${step.blockers?.join(", ")}]: ${step.reason}; run again later to resume`);
      process.exitCode = 3;
      break;
    }
    if (step.kind === "waiting") {
      console.log(`… ${step.phase}: ${step.reason}`);
      await new Promise((r) => setTimeout(r, 2_000));
      continue;
    }
    console.log(`\x1b[32m✓ ${step.phase}\x1b[0m`);
    for (const line of step.did) console.log(`    ${line}`);
    if (step.phase === "done") break;
  }
} finally {
  await proxy.dispose();
}
