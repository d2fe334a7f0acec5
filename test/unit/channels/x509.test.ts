import { createPublicKey, X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { bytesHex, importRsaVerifyKey } from "../../../src/channels/encoding";
import { readCertificate } from "../../../src/channels/x509";
import { certificate, certificatePem, concat, integer, sequence, tlv, x509Time } from "../../support/der";

const NOT_BEFORE = Date.UTC(2026, 0, 1, 0, 0, 0);
const NOT_AFTER = Date.UTC(2031, 0, 1, 0, 0, 0);
const SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

async function rsaKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
}

describe("X.509 certificate reader", () => {
  let subject: CryptoKeyPair;
  let issuer: CryptoKeyPair;
  let der: Uint8Array;
  let spki: Uint8Array;
  const spec = () => ({
    serialHex: SERIAL,
    subjectPublicKey: subject.publicKey,
    issuerKey: issuer.privateKey,
    notBeforeMs: NOT_BEFORE,
    notAfterMs: NOT_AFTER,
  });

  beforeAll(async () => {
    [subject, issuer] = await Promise.all([rsaKeys(), rsaKeys()]);
    der = await certificate(spec());
    spki = new Uint8Array((await crypto.subtle.exportKey("spki", subject.publicKey)) as ArrayBuffer);
  });

  it("reads serial, validity and the exact SubjectPublicKeyInfo, as an independent X.509 parser does", async () => {
    const facts = readCertificate(der);
    expect(facts).not.toBeNull();
    if (!facts) return;
    const node = new X509Certificate(der);
    expect(facts.serial).toBe(SERIAL);
    expect(facts.serial).toBe(node.serialNumber.toUpperCase());
    expect(facts.notBeforeMs).toBe(NOT_BEFORE);
    expect(facts.notAfterMs).toBe(NOT_AFTER);
    expect(facts.notBeforeMs).toBe(Date.parse(node.validFrom));
    expect(bytesHex(facts.spki)).toBe(bytesHex(spki));
    // The test certificate is a real one: the issuer's key verifies its signature.
    const issuerSpki = new Uint8Array((await crypto.subtle.exportKey("spki", issuer.publicKey)) as ArrayBuffer);
    expect(node.verify(createPublicKey({ key: Buffer.from(issuerSpki), format: "der", type: "spki" }))).toBe(true);
  });

  it("reads the same certificate from PEM, and its key verifies what the subject signed", async () => {
    const facts = readCertificate(certificatePem(der));
    expect(facts?.serial).toBe(SERIAL);
    if (!facts) return;
    const message = new TextEncoder().encode("1790000000\nnonce\n{}\n");
    const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", subject.privateKey, message);
    expect(
      await crypto.subtle.verify("RSASSA-PKCS1-v1_5", await importRsaVerifyKey(facts.spki), signature, message),
    ).toBe(true);
  });

  it("prints a serial whose high bit is set without DER's sign byte, and keeps whole bytes", async () => {
    for (const serialHex of ["80FF01", "0ABC", "01"]) {
      expect(readCertificate(await certificate({ ...spec(), serialHex }))?.serial).toBe(serialHex);
    }
  });

  it("reads GeneralizedTime validity from 2050 on", async () => {
    const notAfterMs = Date.UTC(2051, 5, 30, 23, 59, 59);
    expect(readCertificate(await certificate({ ...spec(), notAfterMs }))?.notAfterMs).toBe(notAfterMs);
  });

  it("refuses every truncation of a certificate", () => {
    for (let length = 0; length < der.length; length++) {
      expect(readCertificate(der.subarray(0, length)), `first ${length} bytes`).toBeNull();
    }
  });

  it("refuses trailing bytes after the certificate", () => {
    expect(readCertificate(concat(der, new Uint8Array([0])))).toBeNull();
  });

  it("refuses a wrong tag at each step of the path to the key", () => {
    // Outer SEQUENCE, TBSCertificate SEQUENCE: both at fixed offsets of a 2-byte-length certificate.
    for (const at of [0, 4]) {
      const bent = der.slice();
      bent[at] = 0x31;
      expect(readCertificate(bent), `byte ${at}`).toBeNull();
    }
    // The serial INTEGER follows the 5-byte [0] version inside the TBS.
    const serialAt = 8 + 5;
    expect(der[serialAt]).toBe(0x02);
    const spkiAt = indexOf(der, spki);
    const validityAt = indexOf(der, sequence(x509Time(NOT_BEFORE), x509Time(NOT_AFTER)));
    for (const at of [serialAt, validityAt, spkiAt, spkiAt + 4]) {
      const bent = der.slice();
      bent[at] = (bent[at] as number) ^ 0x01;
      expect(readCertificate(bent), `byte ${at}`).toBeNull();
    }
  });

  it("refuses lengths DER forbids: indefinite, padded long form, long form for a short length", () => {
    const inner = sequence(integer(new Uint8Array([1])));
    const indefinite = concat(new Uint8Array([0x30, 0x80]), inner, new Uint8Array([0, 0]));
    const padded = concat(new Uint8Array([0x30, 0x82, 0x00, inner.length]), inner);
    const longForShort = concat(new Uint8Array([0x30, 0x81, inner.length]), inner);
    for (const input of [indefinite, padded, longForShort]) expect(readCertificate(input)).toBeNull();
  });

  it("refuses a negative, zero or padded serial number", async () => {
    const withSerial = (serial: number[]) =>
      certificate({ ...spec(), serialElement: tlv(0x02, new Uint8Array(serial)) }).then(readCertificate);
    expect((await withSerial([0x7f]))?.serial).toBe("7F");
    for (const bad of [[0x80], [0x00], [0x00, 0x7f], [0xff, 0x01], []]) {
      expect(await withSerial(bad), bad.join(",")).toBeNull();
    }
    const tooLong = [0x01, ...new Array(20).fill(0xab)];
    expect(await withSerial(tooLong)).toBeNull();
  });

  it("refuses an impossible date, a malformed time and a validity that ends before it starts", async () => {
    const withValidity = (validity: Uint8Array) =>
      certificate({ ...spec(), validityElement: validity }).then(readCertificate);
    const utc = (text: string) => tlv(0x17, new TextEncoder().encode(text));
    expect(await withValidity(sequence(utc("260101000000Z"), utc("310101000000Z")))).not.toBeNull();
    expect(await withValidity(sequence(utc("260231000000Z"), utc("310101000000Z")))).toBeNull();
    expect(await withValidity(sequence(utc("2601010000Z"), utc("310101000000Z")))).toBeNull();
    expect(await withValidity(sequence(utc("260101000000+0800"), utc("310101000000Z")))).toBeNull();
    expect(await withValidity(sequence(x509Time(NOT_AFTER), x509Time(NOT_BEFORE)))).toBeNull();
    expect(await withValidity(sequence(x509Time(NOT_BEFORE)))).toBeNull();
    expect(await withValidity(sequence(x509Time(NOT_BEFORE), integer(new Uint8Array([1]))))).toBeNull();
  });

  it("refuses PEM that is not exactly one CERTIFICATE block", () => {
    const pem = certificatePem(der);
    expect(readCertificate(pem.replaceAll("CERTIFICATE", "PUBLIC KEY"))).toBeNull();
    expect(readCertificate(`junk\n${pem}`)).toBeNull();
    expect(readCertificate(`${pem}${pem}`)).toBeNull();
    // A character outside base64 inside the block (the first one, which is never padding).
    const broken = pem.replace(/(-----BEGIN CERTIFICATE-----\s*)[A-Za-z0-9+/]/, "$1!");
    expect(broken).not.toBe(pem);
    expect(readCertificate(broken)).toBeNull();
  });
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("needle not found");
}
