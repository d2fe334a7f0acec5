/**
 * What `npm run setup:deploy` reads from wrangler.toml, and the layout it sets up.
 *
 * The file is parsed by wrangler's own TOML reader (wrangler-config.ts), so what is read here
 * is exactly what `wrangler deploy` will see; zod keeps only the parts the set-up needs.
 */
import { z } from "zod";

export const CONTROL_BINDING = "CONTROL";
export const CONTROL_DATABASE = "giftwire-control";
export const CONTROL_MIGRATIONS_DIR = "migrations/control";
export const LEDGER_MIGRATIONS_DIR = "migrations/ledger";
export const ARCHIVE_BINDING = "LEDGER_ARCHIVE";
export const ARCHIVE_BUCKET = "giftwire-ledger-archive";

/**
 * Shards a deployment may have: LEDGER_SHARDS_MAX in src/domain/shards.ts. Node runs this
 * script as is and cannot load src/ (extensionless imports), so a unit test holds the two equal.
 */
export const SHARDS_MAX = 64;

const LEDGER_BINDING = /^LEDGER_(\d+)$/;

export const ledgerBinding = (shard: number): string => `LEDGER_${shard}`;
export const ledgerDatabase = (shard: number): string => `giftwire-ledger-${shard}`;

export const isLedgerBinding = (binding: string): boolean => LEDGER_BINDING.test(binding);

/** The D1 bindings the set-up owns: CONTROL and the shards. Any other D1 binding is left alone. */
export function isManagedBinding(binding: string): boolean {
  return binding === CONTROL_BINDING || LEDGER_BINDING.test(binding);
}

const rawConfigSchema = z.object({
  name: z.string().optional(),
  d1_databases: z
    .array(
      z.object({
        binding: z.string(),
        database_name: z.string().optional(),
        database_id: z.string().optional(),
        migrations_dir: z.string().optional(),
      }),
    )
    .default([]),
  queues: z
    .object({
      producers: z.array(z.object({ queue: z.string() })).default([]),
      consumers: z.array(z.object({ queue: z.string(), dead_letter_queue: z.string().optional() })).default([]),
    })
    .default({ producers: [], consumers: [] }),
  r2_buckets: z.array(z.object({ binding: z.string(), bucket_name: z.string().optional() })).default([]),
  secrets: z.object({ required: z.array(z.string()).default([]) }).default({ required: [] }),
});

export interface SetupConfig {
  /** The D1 bindings the file has now, in file order. */
  readonly d1Bindings: readonly string[];
  /** Every queue the file names, once each: the producers', then each consumer's and its dead-letter queue. */
  readonly queues: readonly string[];
  /** The archive bucket: its name from the file when the binding is there, else the default. */
  readonly bucket: { readonly binding: string; readonly name: string; readonly inConfig: boolean };
  readonly requiredSecrets: readonly string[];
}

/** The set-up's view of a parsed wrangler.toml, or a sentence saying what in it is not usable. */
export function setupConfigOf(raw: unknown): { ok: true; config: SetupConfig } | { ok: false; problem: string } {
  const parsed = rawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problem: `unexpected shape: ${z.prettifyError(parsed.error)}` };
  }
  const file = parsed.data;
  const queues = new Set<string>();
  for (const producer of file.queues.producers) queues.add(producer.queue);
  for (const consumer of file.queues.consumers) {
    queues.add(consumer.queue);
    if (consumer.dead_letter_queue !== undefined) queues.add(consumer.dead_letter_queue);
  }
  const archive = file.r2_buckets.find((bucket) => bucket.binding === ARCHIVE_BINDING);
  return {
    ok: true,
    config: {
      d1Bindings: file.d1_databases.map((db) => db.binding),
      queues: [...queues],
      bucket: {
        binding: ARCHIVE_BINDING,
        name: archive?.bucket_name ?? ARCHIVE_BUCKET,
        inConfig: archive !== undefined,
      },
      requiredSecrets: file.secrets.required,
    },
  };
}
