import { bytesHex, importHmacKey, utf8Bytes } from "../../../src/channels/encoding";

/**
 * The simulator's callback signature, which giftwire's sandbox webhook verifies
 * (src/channels/sandbox/webhook.ts): `Sandbox-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of
 * "t.body">`, keyed with the simulator's SIGNING_SECRET. Tests sign with it to forge or to
 * replay callbacks.
 */
export async function signSandbox(secret: string, body: string, nowMs: number): Promise<string> {
  const t = Math.floor(nowMs / 1000);
  const key = await importHmacKey(utf8Bytes(secret), ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, utf8Bytes(`${t}.${body}`));
  return `t=${t},v1=${bytesHex(new Uint8Array(mac))}`;
}
