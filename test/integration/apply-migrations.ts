import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { putOperator } from "../../dev/operators";
import { forgetBucketMap, shardBindings } from "../../src/db/shards";

// Storage is isolated per test file; migrations are idempotent, so every file starts
// from the same schema and catalog: the control database's, and each ledger shard's.
await applyD1Migrations(env.CONTROL, env.TEST_CONTROL_MIGRATIONS);
const shards = shardBindings(env);
if (shards.length !== env.TEST_SHARDS) throw new Error(`expected ${env.TEST_SHARDS} shards, bound ${shards.length}`);
for (const shard of shards) await applyD1Migrations(shard, env.TEST_LEDGER_MIGRATIONS);
// A fresh control database has no bucket map yet; the first request writes it.
forgetBucketMap();
// A standing admin, so a test may take admin from anyone (or disable them) without tripping the
// directory's last-admin trigger (migrations/control/0004); tests never touch this operator.
await putOperator(
  env.CONTROL,
  { id: "ops-standing-admin", displayName: "ops-standing-admin", roles: ["admin"] },
  "test",
  0,
);
