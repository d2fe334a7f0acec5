import { type SetupConfig, setupConfigOf } from "../../../../scripts/setup-deploy/config.ts";
import { parseWranglerToml } from "../../../../scripts/setup-deploy/wrangler-config.ts";

/** Two shards, one queue with a dead-letter queue and a second producer of the same queue. */
export const SMALL_CONFIG = `name = "giftwire"

[secrets]
required = ["JWT_SECRET", "PAYMENT_CHANNELS"]

[[d1_databases]]
binding = "CONTROL"
database_name = "giftwire-control"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations/control"

[[d1_databases]]
binding = "LEDGER_0"
database_name = "giftwire-ledger-0"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations/ledger"

[[d1_databases]]
binding = "LEDGER_1"
database_name = "giftwire-ledger-1"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations/ledger"

[[queues.producers]]
binding = "ROOM_EVENTS"
queue = "giftwire-room-events"

[[queues.producers]]
binding = "ROOM_EVENTS_AGAIN"
queue = "giftwire-room-events"

[[queues.consumers]]
queue = "giftwire-room-events"
max_retries = 10
dead_letter_queue = "giftwire-room-events-dlq"
`;

/** The set-up's reading of a config text, parsed by wrangler. */
export function configOf(text: string): SetupConfig {
  const read = setupConfigOf(parseWranglerToml(text));
  if (!read.ok) throw new Error(read.problem);
  return read.config;
}
