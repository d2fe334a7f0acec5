/**
 * The payment PIN (支付密码): six digits that confirm a tip above the payer's password-free
 * (小额免密) limits and every withdrawal. Stored as PBKDF2-HMAC-SHA-256 over a per-user random
 * salt, with the iteration count kept beside the hash so the count can change without
 * invalidating stored PINs. Compared without an early exit.
 *
 * Six digits are a million candidates: no hash makes a stolen row safe against an offline
 * search, so the protection that matters is online — `LIMITS.pinTriesMax` wrong tries lock the
 * PIN (db/payment-pins.ts). The hash keeps the PIN out of plain sight (logs, backups, a
 * support engineer's query) and makes a stolen table cost ~10^6 × 100,000 HMACs per user.
 */
import { fail, ok, type Result } from "./errors";

/**
 * PBKDF2 iterations for a new PIN: Cloudflare Workers refuse PBKDF2 above 100,000 iterations
 * ("iteration counts above 100000 are not supported", cloudflare/workerd#1346: a derivation
 * cannot be interrupted by the CPU limiter, so the runtime caps it). Local workerd does not
 * enforce the cap, so a higher count would pass every test here and throw in production.
 */
export const PIN_PBKDF2_ITERATIONS = 100_000;
/** The runtime's cap: a stored count above it is refused before any work (a corrupt or forged row). */
export const PIN_PBKDF2_ITERATIONS_MAX = 100_000;
export const PIN_SALT_BYTES = 16;
const PIN_HASH_BITS = 256;

export const PIN_PATTERN = /^[0-9]{6}$/;

/** What is stored for a PIN: never the PIN itself. */
export interface PinHash {
  readonly hashHex: string;
  readonly saltHex: string;
  readonly iterations: number;
}

/**
 * Trivial PINs are refused when set: one digit repeated (000000…999999) and a run of
 * consecutive digits up or down (012345, 123456 … 987654, 654321 …), the first guesses of anyone.
 */
export function checkPinStrength(pin: string): Result<string, "pin_too_simple" | "malformed_request"> {
  if (!PIN_PATTERN.test(pin)) return fail("malformed_request", "A payment PIN is exactly 6 digits.");
  const digits = [...pin].map(Number);
  const steps = new Set(digits.slice(1).map((d, i) => d - (digits[i] as number)));
  if (steps.size === 1 && [0, 1, -1].includes([...steps][0] as number)) {
    return fail("pin_too_simple");
  }
  return ok(pin);
}

export async function hashPin(
  pin: string,
  salt: Uint8Array,
  iterations: number = PIN_PBKDF2_ITERATIONS,
): Promise<PinHash> {
  return { hashHex: toHex(await derive(pin, salt, iterations)), saltHex: toHex(salt), iterations };
}

/** Whether `pin` is the one `stored` was made from; the digests are compared in constant time. */
export async function verifyPin(pin: string, stored: PinHash): Promise<boolean> {
  if (!PIN_PATTERN.test(pin)) return false;
  if (
    !Number.isSafeInteger(stored.iterations) ||
    stored.iterations < 1 ||
    stored.iterations > PIN_PBKDF2_ITERATIONS_MAX
  )
    throw new Error(`a stored PIN hash has an iteration count out of range (${stored.iterations})`);
  const candidate = await derive(pin, fromHex(stored.saltHex), stored.iterations);
  return constantTimeEqual(candidate, fromHex(stored.hashHex));
}

/**
 * Byte-wise equality without an early exit: the time depends on the lengths only, never on
 * where the first difference is. (workerd also has crypto.subtle.timingSafeEqual; this one
 * runs in Node too, where the domain is tested.)
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

async function derive(pin: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(pin), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    material,
    PIN_HASH_BITS,
  );
  return new Uint8Array(bits);
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
