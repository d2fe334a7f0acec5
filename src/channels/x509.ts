/**
 * Just enough of X.509 (RFC 5280) to use a certificate's key in WebCrypto, which imports
 * SubjectPublicKeyInfo but not certificates: the SPKI bytes, the serial number and the
 * validity. A strict DER reader over a fixed path — Certificate → TBSCertificate →
 * [0] version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo — so
 * there is no recursion and every length is checked against its parent's. Anything that is
 * not exactly that shape is refused (null), never repaired.
 *
 * The certificate's own signature is not checked: nothing here chains to a CA. Callers say
 * what vouches for the certificate instead (for WeChat Pay, the APIv3-key AEAD it came in).
 */
import { base64Bytes, bytesHex } from "./encoding";

export interface CertificateFacts {
  /** Hex, upper-case, whole bytes, without DER's sign byte: as WeChat Pay prints `serial_no`. */
  readonly serial: string;
  /** The DER SubjectPublicKeyInfo, importable as "spki". */
  readonly spki: Uint8Array<ArrayBuffer>;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** Certificates are 1–2 KiB; a bound keeps a hostile input from costing anything. */
const CERTIFICATE_BYTES_MAX = 8_192;
/** RFC 5280 §4.1.2.2: serial numbers are positive and at most 20 octets. */
const SERIAL_BYTES_MAX = 20;

const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;
const TAG_VERSION = 0xa0; // [0] EXPLICIT, constructed
/** What may follow subjectPublicKeyInfo in a TBSCertificate, in order: issuerUniqueID, subjectUniqueID, extensions. */
const TBS_TRAILERS = [0x81, 0x82, 0xa3];

interface Element {
  readonly tag: number;
  /** Offsets into the input: the whole TLV is [start, end), its contents [contentStart, end). */
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/**
 * One DER TLV at `at`, which must end within `limit`. Low tag numbers only (X.509 needs no
 * others); definite, minimal lengths only (DER forbids the indefinite form and padding).
 */
function element(der: Uint8Array, at: number, limit: number): Element | null {
  if (at + 2 > limit) return null;
  const tag = der[at] as number;
  if ((tag & 0x1f) === 0x1f) return null;
  const first = der[at + 1] as number;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = at + 2;
  } else {
    const count = first & 0x7f;
    // 0x80 is the indefinite form; three length bytes already exceed any certificate we accept.
    if (count === 0 || count > 3 || at + 2 + count > limit) return null;
    if (der[at + 2] === 0) return null;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[at + 2 + i] as number);
    if (length < 0x80) return null;
    contentStart = at + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) return null;
  return { tag, start: at, contentStart, end };
}

/** The element at `at` with the given tag, or null. */
function expect(der: Uint8Array, at: number, limit: number, tag: number): Element | null {
  const e = element(der, at, limit);
  return e && e.tag === tag ? e : null;
}

/** A DER INTEGER's magnitude when it is positive and minimally encoded; null otherwise. */
function positiveInteger(der: Uint8Array, e: Element): Uint8Array | null {
  const bytes = der.subarray(e.contentStart, e.end);
  if (bytes.length === 0) return null;
  const b0 = bytes[0] as number;
  if (b0 & 0x80) return null; // negative
  if (b0 === 0) {
    if (bytes.length === 1) return null; // zero is not a serial (RFC 5280: positive)
    if (!((bytes[1] as number) & 0x80)) return null; // padding DER does not allow
    return bytes.subarray(1);
  }
  return bytes;
}

/** UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, as RFC 5280 §4.1.2.5 fixes them. */
function time(der: Uint8Array, e: Element): number | null {
  const text = String.fromCharCode(...der.subarray(e.contentStart, e.end));
  let match: RegExpExecArray | null;
  let year: number;
  if (e.tag === TAG_UTC_TIME) {
    match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!match) return null;
    const yy = Number(match[1]);
    // RFC 5280: YY ≥ 50 is 19YY, otherwise 20YY.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (e.tag === TAG_GENERALIZED_TIME) {
    match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!match) return null;
    year = Number(match[1]);
  } else {
    return null;
  }
  const [month, day, hour, minute, second] = match.slice(2).map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  // Date.UTC rolls 31 February over into March; a real date reads back the same.
  if (
    d.getUTCFullYear() !== year ||
    d.getUTCMonth() !== month - 1 ||
    d.getUTCDate() !== day ||
    d.getUTCHours() !== hour ||
    d.getUTCMinutes() !== minute ||
    d.getUTCSeconds() !== second
  ) {
    return null;
  }
  return ms;
}

/** The DER inside one PEM `CERTIFICATE` block (nothing else around it but whitespace). */
function certificateDer(pem: string): Uint8Array<ArrayBuffer> | null {
  const match = /^\s*-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----\s*$/.exec(pem);
  if (!match) return null;
  return base64Bytes((match[1] as string).replace(/\s+/g, ""));
}

/** Serial, SPKI and validity of one X.509 certificate (PEM or DER); null unless it is well-formed DER. */
export function readCertificate(input: string | Uint8Array): CertificateFacts | null {
  const der = typeof input === "string" ? certificateDer(input) : input;
  if (!der || der.length > CERTIFICATE_BYTES_MAX) return null;

  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }, and nothing after.
  const certificate = expect(der, 0, der.length, TAG_SEQUENCE);
  if (!certificate || certificate.end !== der.length) return null;
  const tbs = expect(der, certificate.contentStart, certificate.end, TAG_SEQUENCE);
  if (!tbs) return null;
  const signatureAlgorithm = expect(der, tbs.end, certificate.end, TAG_SEQUENCE);
  if (!signatureAlgorithm) return null;
  const signatureValue = expect(der, signatureAlgorithm.end, certificate.end, TAG_BIT_STRING);
  if (!signatureValue || signatureValue.end !== certificate.end) return null;

  let at = tbs.contentStart;
  const limit = tbs.end;
  const first = element(der, at, limit);
  if (!first) return null;
  if (first.tag === TAG_VERSION) {
    // version [0] EXPLICIT INTEGER { v1(0), v2(1), v3(2) }; DER omits it for v1 (the default).
    const version = expect(der, first.contentStart, first.end, TAG_INTEGER);
    if (!version || version.end !== first.end || version.end - version.contentStart !== 1) return null;
    const v = der[version.contentStart] as number;
    if (v !== 1 && v !== 2) return null;
    at = first.end;
  }
  const serialNumber = expect(der, at, limit, TAG_INTEGER);
  if (!serialNumber) return null;
  const serial = positiveInteger(der, serialNumber);
  if (!serial || serial.length > SERIAL_BYTES_MAX) return null;
  const signature = expect(der, serialNumber.end, limit, TAG_SEQUENCE);
  if (!signature) return null;
  const issuer = expect(der, signature.end, limit, TAG_SEQUENCE);
  if (!issuer) return null;
  const validity = expect(der, issuer.end, limit, TAG_SEQUENCE);
  if (!validity) return null;
  const notBefore = element(der, validity.contentStart, validity.end);
  const notAfter = notBefore && element(der, notBefore.end, validity.end);
  if (!notBefore || !notAfter || notAfter.end !== validity.end) return null;
  const notBeforeMs = time(der, notBefore);
  const notAfterMs = time(der, notAfter);
  if (notBeforeMs === null || notAfterMs === null || notAfterMs < notBeforeMs) return null;
  const subject = expect(der, validity.end, limit, TAG_SEQUENCE);
  if (!subject) return null;
  const spki = expect(der, subject.end, limit, TAG_SEQUENCE);
  if (!spki) return null;
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }.
  const algorithm = expect(der, spki.contentStart, spki.end, TAG_SEQUENCE);
  const publicKey = algorithm && expect(der, algorithm.end, spki.end, TAG_BIT_STRING);
  if (!publicKey || publicKey.end !== spki.end) return null;

  // What may follow is well-formed, in its order, and fills the TBSCertificate exactly.
  let next = spki.end;
  let allowed = 0;
  while (next < limit) {
    const trailer = element(der, next, limit);
    if (!trailer) return null;
    const index = TBS_TRAILERS.indexOf(trailer.tag, allowed);
    if (index < 0) return null;
    allowed = index + 1;
    next = trailer.end;
  }

  return {
    serial: bytesHex(serial).toUpperCase(),
    spki: der.slice(spki.start, spki.end) as Uint8Array<ArrayBuffer>,
    notBeforeMs,
    notAfterMs,
  };
}
