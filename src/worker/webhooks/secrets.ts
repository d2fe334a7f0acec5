import { z } from "zod";
import type { EndpointRow } from "../../db/webhooks";
import { seal, unseal } from "../../platform/sealing";

/**
 * An endpoint's signing secrets, sealed at rest under PII_KEYS (platform/sealing.ts): the
 * current one, and during a rotation the previous one until `previousUntilMs` — both sign, so
 * a receiver that has not switched yet keeps verifying.
 */
export const EndpointSecrets = z.strictObject({
  current: z.string(),
  previous: z.string().nullable(),
  previousUntilMs: z.number().int().nullable(),
});
export type EndpointSecrets = z.infer<typeof EndpointSecrets>;

export const endpointContext = (id: string) => `webhook_endpoint:${id}`;

export function sealEndpointSecrets(env: Env, endpointId: string, secrets: EndpointSecrets) {
  return seal(env.PII_KEYS, endpointContext(endpointId), JSON.stringify(secrets));
}

export async function openEndpointSecrets(
  env: Env,
  endpoint: Pick<EndpointRow, "id" | "sealed_secrets" | "key_id">,
): Promise<EndpointSecrets> {
  const text = await unseal(env.PII_KEYS, endpointContext(endpoint.id), {
    sealed: endpoint.sealed_secrets,
    keyId: endpoint.key_id,
  });
  return EndpointSecrets.parse(JSON.parse(text));
}

/** The secrets that sign now: the current one, and the previous one while its overlap lasts. */
export async function endpointSecrets(
  env: Env,
  endpoint: Pick<EndpointRow, "id" | "sealed_secrets" | "key_id">,
  nowMs: number,
): Promise<[string, ...string[]]> {
  const s = await openEndpointSecrets(env, endpoint);
  return s.previous !== null && s.previousUntilMs !== null && s.previousUntilMs > nowMs
    ? [s.current, s.previous]
    : [s.current];
}
