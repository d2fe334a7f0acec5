import { newWebhookSecret, WEBHOOK_EVENT_TYPES } from "../src/domain/webhooks";
import { sealEndpointSecrets } from "../src/worker/webhooks/secrets";

/**
 * The demo partner (issue 18): "Demo Partner App" owning the demo creator, with one webhook
 * endpoint subscribed to every event type and pointing at the dev entry's receiver page
 * (/v1/dev/webhook-receiver, which lists what it received and whether each signature verified).
 * Only where loopback endpoints are allowed (`npm start`: WEBHOOK_ALLOW_LOOPBACK = "true").
 * Idempotent: fixed ids; the endpoint's URL follows the address the demo runs at.
 */
export const DEMO_PARTNER_ID = "ptn_01DEMP00000000000000000000";
export const DEMO_ENDPOINT_ID = "whe_01DEMW00000000000000000000";

export async function seedDemoPartner(env: Env, creatorId: string, receiverUrl: string, nowMs: number): Promise<void> {
  const db = env.CONTROL;
  const exists = await db.prepare("SELECT id FROM webhook_endpoints WHERE id = ?").bind(DEMO_ENDPOINT_ID).first();
  const statements = [
    db
      .prepare(
        `INSERT INTO partners (id, name, contact_email, status, created_by, created_at_ms)
         VALUES (?, 'Demo Partner App', 'dev@partner.example', 'active', 'system:demo-seed', ?) ON CONFLICT (id) DO NOTHING`,
      )
      .bind(DEMO_PARTNER_ID, nowMs),
    db
      .prepare(
        "INSERT INTO partner_creators (partner_id, creator_id, added_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      )
      .bind(DEMO_PARTNER_ID, creatorId, nowMs),
  ];
  if (exists) {
    statements.push(
      db
        .prepare(
          "UPDATE webhook_endpoints SET url = ?, status = 'active', disabled_reason = NULL, updated_at_ms = ? WHERE id = ?",
        )
        .bind(receiverUrl, nowMs, DEMO_ENDPOINT_ID),
    );
  } else {
    const secret = newWebhookSecret((n) => crypto.getRandomValues(new Uint8Array(n)));
    const sealed = await sealEndpointSecrets(env, DEMO_ENDPOINT_ID, {
      current: secret,
      previous: null,
      previousUntilMs: null,
    });
    statements.push(
      db
        .prepare(
          `INSERT INTO webhook_endpoints (id, partner_id, url, event_types, sealed_secrets, key_id, status, created_at_ms, updated_at_ms)
           VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
        )
        .bind(
          DEMO_ENDPOINT_ID,
          DEMO_PARTNER_ID,
          receiverUrl,
          JSON.stringify(WEBHOOK_EVENT_TYPES),
          sealed.sealed,
          sealed.keyId,
          nowMs,
          nowMs,
        ),
    );
  }
  await db.batch(statements);
}
