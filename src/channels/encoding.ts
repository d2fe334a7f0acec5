/**
 * Byte helpers the channel adapters share. WebCrypto works on bytes; providers send
 * base64 (WeChat, Alipay) or hex (Stripe), and publish keys as PEM or bare base64 SPKI.
 */

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array<ArrayBuffer> {
  return utf8.encode(text) as Uint8Array<ArrayBuffer>;
}

/** `prefix ‖ body ‖ suffix` as one byte array: providers sign text framing around the raw body. */
export function framed(prefix: string, body: Uint8Array, suffix = ""): Uint8Array<ArrayBuffer> {
  const head = utf8Bytes(prefix);
  const tail = utf8Bytes(suffix);
  const out = new Uint8Array(head.length + body.length + tail.length);
  out.set(head, 0);
  out.set(body, head.length);
  out.set(tail, head.length + body.length);
  return out;
}

/** UTF-8 that throws on invalid bytes instead of replacing them (signed bodies are exact). */
export function strictUtf8(bytes: Uint8Array | ArrayBuffer): string {
  return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
}

/** Strict base64 (standard alphabet, padded); null for anything else. */
export function base64Bytes(text: string): Uint8Array<ArrayBuffer> | null {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Lower- or upper-case hex of even length; null for anything else. */
export function hexBytes(text: string): Uint8Array<ArrayBuffer> | null {
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(text)) return null;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function bytesHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * A public key as providers hand it out: a PEM `PUBLIC KEY` block or its bare base64 body
 * (Alipay's console shows the latter). X.509 certificates are not importable by WebCrypto;
 * operators export the certificate's public key (`openssl x509 -pubkey -noout`).
 */
export function spkiFromPem(text: string): Uint8Array<ArrayBuffer> | null {
  const trimmed = text.trim();
  if (trimmed.includes("BEGIN CERTIFICATE")) return null;
  const body = trimmed
    .replace(/-----BEGIN PUBLIC KEY-----/, "")
    .replace(/-----END PUBLIC KEY-----/, "")
    .replace(/\s+/g, "");
  return base64Bytes(body);
}

export function importRsaVerifyKey(spki: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("spki", spki, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
}

export function importHmacKey(secret: Uint8Array<ArrayBuffer>, usages: ("sign" | "verify")[]): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, usages);
}

/**
 * A private key for signing requests, as providers hand it out: a PKCS#8 `PRIVATE KEY` PEM
 * block (WeChat Pay's `apiclient_key.pem`, Alipay's "PKCS8" key) or its bare base64 body.
 * PKCS#1 (`BEGIN RSA PRIVATE KEY`, which Alipay's key tool offers "for non-Java") is not
 * importable by WebCrypto; operators convert it once with `openssl pkcs8 -topk8 -nocrypt`.
 */
export function pkcs8FromPem(text: string): Uint8Array<ArrayBuffer> | null {
  const trimmed = text.trim();
  if (trimmed.includes("BEGIN RSA PRIVATE KEY") || trimmed.includes("ENCRYPTED")) return null;
  const body = trimmed
    .replace(/-----BEGIN PRIVATE KEY-----/, "")
    .replace(/-----END PRIVATE KEY-----/, "")
    .replace(/\s+/g, "");
  return base64Bytes(body);
}

export function importRsaSignKey(pkcs8: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
}

/** SHA256withRSA (RSASSA-PKCS1-v1_5), base64: the signature both WeChat Pay v3 and Alipay RSA2 use. */
export async function rsaSignBase64(key: CryptoKey, message: Uint8Array<ArrayBuffer>): Promise<string> {
  return bytesBase64(new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, message)));
}

/**
 * China Standard Time, UTC+8 all year (China has had no daylight saving since 1991): the wall
 * clock WeChat Pay's and Alipay's APIs and statement files speak, whatever our business time
 * zone is. The one place the offset is written down.
 */
export const CHINA_STANDARD_TIME_OFFSET_MS = 8 * 3_600_000;
