/**
 * `npm run ledger:restore -- --manifest <key> [--into <binding>]`: reads one archive of a
 * ledger shard (src/db/archive, docs/SCALING.md, Archival) from the local R2 bucket back into
 * a spare local D1 database with `importArchive`, which proves the copy by rendering every
 * file again from the imported rows and comparing digests with the manifest. Without
 * `--manifest`, lists the archives in the bucket. Exit code 1 when the import fails.
 *
 * wrangler.toml binds no spare database, and getPlatformProxy reads its bindings from a
 * config file only, so this script writes one (.wrangler/ledger-restore/wrangler.json) that
 * binds the bucket and the spare: `LEDGER_RESTORE`, or `--into LEDGER_RESTORE_<name>` for
 * another, each a local database of its own next to the others in .wrangler/state, migrated
 * with `wrangler d1 migrations apply`. A working shard (LEDGER_n) is refused: a copy's
 * accounts carry no balance, so its rows would break the shard's invariants. Several archives
 * may be loaded into one spare, each once; loading one again only checks it again.
 * For a deployed ledger, the same steps with a D1 database created for the purpose (SCALING.md).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { getPlatformProxy, unstable_readConfig } from "wrangler";
import { importArchive } from "../src/db/archive/reimport";
import { readManifest } from "../src/db/archive/verify";

const SPARE = "LEDGER_RESTORE";
const USAGE =
  "usage: npm run ledger:restore -- --manifest ledger/shard-<n>/<archive id>/manifest.json [--into LEDGER_RESTORE[_<name>]]";

const { values } = parseArgs({
  options: { manifest: { type: "string" }, into: { type: "string", default: SPARE }, help: { type: "boolean" } },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const into = values.into;
if (!/^LEDGER_RESTORE(_[A-Z0-9_]{1,32})?$/.test(into)) {
  console.error(`--into names a spare database, ${SPARE} or ${SPARE}_<name>; never a working shard\n${USAGE}`);
  process.exit(2);
}

// A local database is found by its id: one id per spare, derived from its name.
const hex = createHash("sha256").update(into).digest("hex");
const databaseId = hex.slice(0, 32).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
const config = unstable_readConfig({ config: "wrangler.toml" });
const dir = resolve(".wrangler/ledger-restore");
const configPath = `${dir}/wrangler.json`;
mkdirSync(dir, { recursive: true });
writeFileSync(
  configPath,
  JSON.stringify({
    name: "giftwire-ledger-restore",
    compatibility_date: config.compatibility_date,
    d1_databases: [
      {
        binding: into,
        database_name: `giftwire-${into.toLowerCase().replaceAll("_", "-")}`,
        database_id: databaseId,
        migrations_dir: resolve("migrations/ledger"),
      },
    ],
    r2_buckets: config.r2_buckets,
  }),
);
console.log(`Applying migrations/ledger to the spare database ${into}…`);
execFileSync(
  "wrangler",
  ["d1", "migrations", "apply", into, "--local", "--config", configPath, "--persist-to", resolve(".wrangler/state")],
  { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, CI: "1" } },
);

const proxy = await getPlatformProxy<Record<string, D1Database> & { LEDGER_ARCHIVE: R2Bucket }>({
  configPath,
  persist: { path: resolve(".wrangler/state/v3") },
});
try {
  const bucket = proxy.env.LEDGER_ARCHIVE;
  const db = proxy.env[into];
  if (db === undefined) throw new Error(`no binding ${into}`);
  if (values.manifest === undefined) {
    const listed = await bucket.list({ prefix: "ledger/", limit: 1000 });
    const manifests = listed.objects.map((o) => o.key).filter((k) => k.endsWith("/manifest.json"));
    console.log(manifests.length === 0 ? "No archives in the bucket." : `Archives:\n  ${manifests.join("\n  ")}`);
    console.log(USAGE);
  } else {
    const read = await readManifest(bucket, values.manifest);
    if (!read.ok) throw new Error(`manifest unreadable: ${read.code}: ${read.detail}`);
    const { manifest } = read;
    console.log(
      `${manifest.archiveId}: shard ${manifest.shard}, transfers ${manifest.exported.firstTransferId}–` +
        `${manifest.exported.lastTransferId} created ${new Date(manifest.exported.minCreatedAtMs ?? 0).toISOString()} ` +
        `to ${new Date(manifest.exported.maxCreatedAtMs ?? 0).toISOString()}; ${manifest.files.length} data and ` +
        `${manifest.checkpointFiles.length} checkpoint file(s)`,
    );
    // Rows that are not an imported archive's would mean a working shard: never load into one.
    const foreign = await db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM ledger_archives WHERE state NOT IN ('importing', 'imported'))
              + (SELECT COUNT(*) FROM transfers t WHERE NOT EXISTS (
                   SELECT 1 FROM ledger_archive_ranges r JOIN ledger_archives a ON a.id = r.archive_id
                   WHERE a.state IN ('importing', 'imported') AND t.id BETWEEN r.from_transfer_id AND r.to_transfer_id))
           AS n`,
      )
      .first<number>("n");
    if (foreign !== 0) {
      throw new Error(`${into} holds rows that are not an imported archive's (${foreign}): use another --into`);
    }
    const startedMs = Date.now();
    console.log(`Importing into ${into} and re-rendering every file to compare digests…`);
    const result = await importArchive(db, bucket, values.manifest, Date.now());
    const seconds = ((Date.now() - startedMs) / 1000).toFixed(1);
    if (result.ok) {
      const rows = Object.entries(result.rows).map(([table, n]) => `${table} ${n}`);
      console.log(`\x1b[32m✓ ${result.archiveId} imported and verified\x1b[0m in ${seconds} s: ${rows.join(" · ")}`);
    } else {
      console.log(`\x1b[31m✗ ${result.code}\x1b[0m at ${result.key}: ${result.detail}`);
      process.exitCode = 1;
    }
  }
} catch (error) {
  console.error(`\x1b[31m✗\x1b[0m ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await proxy.dispose();
}
