/**
 * A tiny DER writer, for tests: enough to build real X.509 certificates (RFC 5280) around
 * keys generated with WebCrypto, signed SHA256withRSA, so the certificate reader and the
 * WeChat Pay certificate download are tested against the bytes a CA would produce. WebCrypto
 * only, so it runs in Node and in workerd alike.
 */
import { bytesBase64, hexBytes } from "../../src/channels/encoding";

export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const length =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + length.length + n);
  out[0] = tag;
  out.set(length, 1);
  out.set(content, 1 + length.length);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, concat(...items));
export const set = (...items: Uint8Array[]) => tlv(0x31, concat(...items));
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
export const nullValue = () => tlv(0x05, new Uint8Array(0));
export const utf8String = (text: string) => tlv(0x0c, new TextEncoder().encode(text));
export const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
export const bitString = (bytes: Uint8Array) => tlv(0x03, concat(new Uint8Array([0]), bytes));

/** A non-negative INTEGER from its big-endian magnitude, with DER's sign byte when needed. */
export function integer(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  return tlv(0x02, (bytes[0] ?? 0) & 0x80 ? concat(new Uint8Array([0]), bytes) : bytes);
}

export function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, new Uint8Array(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function x509Time(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // 2026-11-22T02:00:00.000Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = new Date(ms).getUTCFullYear();
  return year < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

const SHA256_WITH_RSA = () => sequence(oid("1.2.840.113549.1.1.11"), nullValue());
const name = (commonName: string) => sequence(set(sequence(oid("2.5.4.3"), utf8String(commonName))));

export interface CertificateSpec {
  /** Hex, as WeChat prints serial_no. */
  readonly serialHex: string;
  readonly subjectPublicKey: CryptoKey;
  /** The issuer's private key (RSASSA-PKCS1-v1_5, SHA-256); the subject's own for a self-signed one. */
  readonly issuerKey: CryptoKey;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly subject?: string;
  readonly issuer?: string;
  /** Test hooks: these DER elements instead of the well-formed serialNumber / validity. */
  readonly serialElement?: Uint8Array;
  readonly validityElement?: Uint8Array;
}

/** The TBSCertificate of a v3 certificate, with one extension (basicConstraints, cA false). */
export async function tbsCertificate(spec: CertificateSpec): Promise<Uint8Array> {
  const serial = hexBytes(spec.serialHex.length % 2 ? `0${spec.serialHex}` : spec.serialHex);
  if (!serial) throw new Error(`serial ${spec.serialHex} is not hex`);
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", spec.subjectPublicKey)) as ArrayBuffer);
  return sequence(
    explicit(0, integer(new Uint8Array([2]))),
    spec.serialElement ?? integer(serial),
    SHA256_WITH_RSA(),
    name(spec.issuer ?? "Tenpay.com Root CA"),
    spec.validityElement ?? sequence(x509Time(spec.notBeforeMs), x509Time(spec.notAfterMs)),
    name(spec.subject ?? "Tenpay.com sign"),
    spki,
    explicit(3, sequence(sequence(oid("2.5.29.19"), octetString(sequence())))),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, signed by the issuer key. */
export async function certificate(spec: CertificateSpec): Promise<Uint8Array> {
  const tbs = await tbsCertificate(spec);
  const signature = new Uint8Array(
    await crypto.subtle.sign("RSASSA-PKCS1-v1_5", spec.issuerKey, tbs as Uint8Array<ArrayBuffer>),
  );
  return sequence(tbs, SHA256_WITH_RSA(), bitString(signature));
}

export function certificatePem(der: Uint8Array): string {
  const body = bytesBase64(der).replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}
