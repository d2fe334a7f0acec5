/**
 * Sealing of personal data at rest (real names, ID numbers, payout accounts): AES-256-GCM under a
 * key ring from the `PII_KEYS` secret, `{"current":"k2","keys":{"k1":"<base64 32 bytes>","k2":…}}`.
 *
 * A sealed value is base64(iv ‖ ciphertext ‖ tag) with a fresh 96-bit iv, stored beside the id
 * of the key that sealed it. The additional data binds it to its row and field (`context`, e.g.
 * `payout_account:pa_123`), so a ciphertext copied into another row does not open. Rotation: add
 * a key and make it current; new values are sealed with it, old ones still open with theirs, and
 * `reseal` moves a value to the current key (a job re-seals rows whose key id is not current,
 * after which the old key can be removed).
 */
import { z } from "zod";

const KeyRingSchema = z.strictObject({
  current: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  keys: z.record(
    z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
    z.string().refine((k) => base64Bytes(k)?.length === 32, "a key is 32 bytes, base64"),
  ),
});

export interface Sealed {
  readonly sealed: string;
  readonly keyId: string;
}

export type SealingFailure = "pii_keys_missing" | "pii_keys_malformed" | "pii_key_unknown" | "sealed_value_corrupt";

export class SealingError extends Error {
  constructor(
    readonly code: SealingFailure,
    message: string,
  ) {
    super(message);
    this.name = "SealingError";
  }
}

interface KeyRing {
  readonly currentId: string;
  readonly keys: ReadonlyMap<string, CryptoKey>;
}

const rings = new Map<string, Promise<KeyRing>>();

function base64Bytes(value: string): Uint8Array | null {
  try {
    const binary = atob(value);
    return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The key ring of a `PII_KEYS` value, imported once per isolate and value. */
export function keyRing(secret: string | undefined): Promise<KeyRing> {
  if (!secret) return Promise.reject(new SealingError("pii_keys_missing", "The PII_KEYS secret is not set."));
  let ring = rings.get(secret);
  if (!ring) {
    ring = importRing(secret);
    rings.set(secret, ring);
    ring.catch(() => rings.delete(secret));
  }
  return ring;
}

async function importRing(secret: string): Promise<KeyRing> {
  let parsed: z.infer<typeof KeyRingSchema>;
  try {
    parsed = KeyRingSchema.parse(JSON.parse(secret));
  } catch {
    throw new SealingError("pii_keys_malformed", 'PII_KEYS is {"current":id,"keys":{id:base64 32 bytes}}.');
  }
  if (!Object.hasOwn(parsed.keys, parsed.current)) {
    throw new SealingError("pii_keys_malformed", "PII_KEYS names a current key it does not hold.");
  }
  const keys = new Map<string, CryptoKey>();
  for (const [id, raw] of Object.entries(parsed.keys)) {
    const bytes = base64Bytes(raw);
    if (!bytes) throw new SealingError("pii_keys_malformed", `PII_KEYS key ${id} is not base64.`);
    keys.set(id, await crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]));
  }
  return { currentId: parsed.current, keys };
}

const encoder = new TextEncoder();

/** Seals `plaintext` with the current key, bound to `context`. */
export async function seal(secret: string | undefined, context: string, plaintext: string): Promise<Sealed> {
  const ring = await keyRing(secret);
  const key = ring.keys.get(ring.currentId);
  if (!key) throw new SealingError("pii_key_unknown", "The current key is missing.");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const cipher = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
      key,
      encoder.encode(plaintext),
    ),
  );
  const out = new Uint8Array(iv.length + cipher.length);
  out.set(iv);
  out.set(cipher, iv.length);
  return { sealed: toBase64(out), keyId: ring.currentId };
}

/** Opens a sealed value; refuses (SealingError) an unknown key, another row's value or a tampered one. */
export async function unseal(secret: string | undefined, context: string, value: Sealed): Promise<string> {
  const ring = await keyRing(secret);
  const key = ring.keys.get(value.keyId);
  if (!key) throw new SealingError("pii_key_unknown", `No key ${value.keyId} in PII_KEYS.`);
  const bytes = base64Bytes(value.sealed);
  if (!bytes || bytes.length < 12 + 16) throw new SealingError("sealed_value_corrupt", "A sealed value is corrupt.");
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: encoder.encode(context) },
      key,
      bytes.subarray(12),
    );
    return new TextDecoder().decode(plain);
  } catch {
    throw new SealingError("sealed_value_corrupt", "A sealed value does not open under its key and context.");
  }
}

/** The same value under the current key (unchanged when it already is). */
export async function reseal(secret: string | undefined, context: string, value: Sealed): Promise<Sealed> {
  const ring = await keyRing(secret);
  if (value.keyId === ring.currentId) return value;
  return seal(secret, context, await unseal(secret, context, value));
}
