/**
 * Test-only: zip archives as Alipay's bill download serves them (stored or deflated entries,
 * names in GBK unless flagged UTF-8), and a GBK encoder for the test data. Web APIs only
 * (CompressionStream, TextDecoder), so the doubles build them in Node and workerd alike.
 */
import { crc32 } from "../../src/channels/zip";

export interface ZipInput {
  readonly name: string;
  readonly data: Uint8Array;
  /** 0 stored, 8 deflated. */
  readonly method: 0 | 8;
  /** Flag bit 11 and a UTF-8 name; else the name is GBK, as Windows archivers write it. */
  readonly utf8Name?: boolean;
  /** A CRC-32 to write instead of the right one (a corrupt download). */
  readonly crcOverride?: number;
}

let gbkTable: Map<string, number[]> | null = null;

/**
 * GBK bytes of `text`: ASCII as is, every other character found by decoding the whole
 * double-byte range once (lead 0x81–0xFE, trail 0x40–0xFE but 0x7F) and inverting it.
 */
export function gbkEncode(text: string): Uint8Array {
  if (!gbkTable) {
    gbkTable = new Map();
    const decoder = new TextDecoder("gbk");
    for (let lead = 0x81; lead <= 0xfe; lead++) {
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        if (trail === 0x7f) continue;
        const ch = decoder.decode(new Uint8Array([lead, trail]));
        if (ch.length === 1 && ch !== "\uFFFD" && !gbkTable.has(ch)) gbkTable.set(ch, [lead, trail]);
      }
    }
  }
  const out: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (code < 0x80) {
      out.push(code);
      continue;
    }
    const bytes = gbkTable.get(ch);
    if (!bytes) throw new Error(`no GBK encoding for ${ch}`);
    out.push(...bytes);
  }
  return new Uint8Array(out);
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A zip of `entries`, local headers then the central directory then the end record. */
export async function buildZip(entries: readonly ZipInput[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = e.utf8Name ? new TextEncoder().encode(e.name) : gbkEncode(e.name);
    const body = e.method === 8 ? await deflateRaw(e.data) : e.data;
    const crc = e.crcOverride ?? crc32(e.data);
    const flags = e.utf8Name ? 0x0800 : 0;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, flags, true);
    lv.setUint16(8, e.method, true);
    lv.setUint16(10, 0, true); // time
    lv.setUint16(12, 0x5b81, true); // date: 2025-12-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, e.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 0, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, flags, true);
    cv.setUint16(10, e.method, true);
    cv.setUint16(12, 0, true);
    cv.setUint16(14, 0x5b81, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, end];
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
