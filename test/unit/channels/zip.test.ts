import { deflateRawSync, crc32 as nodeCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { alipayBillCsv } from "../../../src/channels/alipay/api";
import { crc32, type ZipLimits, zipEntries, zipEntryBytes } from "../../../src/channels/zip";
import { buildZip, gbkEncode } from "../../support/zip-writer";

const LIMITS: ZipLimits = { entriesMax: 16, entryBytesMax: 1_000_000 };

// Written by Python's zipfile (an independent implementation): a stored entry, a deflated one
// in a folder, and a deflated one whose name is UTF-8 (flag bit 11).
const PYTHON_ZIP =
  "UEsDBBQAAAAAAAAAIQBjqxWPDgAAAA4AAAAKAAAAc3RvcmVkLnR4dGhlbGxvLCBzdG9yZWQKUEsDBBQAAAAIAAAAIQD344GuCwAAAMwAAAAQAAAAZGlyL2RlZmxhdGVkLmNzdkvUSeIy1DEaFhgAUEsDBBQAAAgIAAAAIQBBuKJQCAAAAAYAAAAKAAAA5ZCN5a2XLnR4dHuyd8HTpXsBUEsBAhQDFAAAAAAAAAAhAGOrFY8OAAAADgAAAAoAAAAAAAAAAAAAAIABAAAAAHN0b3JlZC50eHRQSwECFAMUAAAACAAAACEA9+OBrgsAAADMAAAAEAAAAAAAAAAAAAAAgAE2AAAAZGlyL2RlZmxhdGVkLmNzdlBLAQIUAxQAAAgIAAAAIQBBuKJQCAAAAAYAAAAKAAAAAAAAAAAAAACAAW8AAADlkI3lrZcudHh0UEsFBgAAAAADAAMArgAAAJ8AAAAAAA==";

const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function readAll(zip: Uint8Array): Promise<Record<string, string>> {
  const entries = zipEntries(zip, LIMITS);
  if (!entries.ok) throw new Error(entries.detail);
  const out: Record<string, string> = {};
  for (const e of entries.value) {
    const bytes = await zipEntryBytes(zip, e, LIMITS);
    if (!bytes.ok) throw new Error(bytes.detail);
    out[e.name] = text(bytes.value);
  }
  return out;
}

async function refusal(zip: Uint8Array, limits = LIMITS): Promise<string> {
  const entries = zipEntries(zip, limits);
  if (!entries.ok) return entries.detail;
  for (const e of entries.value) {
    const bytes = await zipEntryBytes(zip, e, limits);
    if (!bytes.ok) return bytes.detail;
  }
  return "read";
}

/** A one-entry zip built by hand around Node's zlib deflate and CRC-32 (not ours). */
function nodeZip(data: Uint8Array, crc = nodeCrc32(data)): Uint8Array {
  const body = deflateRawSync(data);
  const name = Buffer.from("node.csv");
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x0800, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = local.length + name.length + body.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return new Uint8Array(Buffer.concat([local, name, body, central, name, end]));
}

describe("zip reader", () => {
  it("computes the zip CRC-32 (the check value of 123456789 is CBF43926, as Node's zlib says)", () => {
    const check = new TextEncoder().encode("123456789");
    expect(crc32(check)).toBe(0xcbf43926);
    const random = crypto.getRandomValues(new Uint8Array(4096));
    expect(crc32(random)).toBe(nodeCrc32(random));
  });

  it("reads a zip written by Python's zipfile: stored, deflated and UTF-8-named entries", async () => {
    expect(await readAll(bytesOf(PYTHON_ZIP))).toEqual({
      "stored.txt": "hello, stored\n",
      "dir/deflated.csv": `a,b\n${"1,2\n".repeat(50)}`,
      "名字.txt": "你好",
    });
  });

  it("reads an entry deflated by Node's zlib, and refuses it when its CRC-32 is off by one bit", async () => {
    const data = new TextEncoder().encode("created_utc,gross\n2026-11-21 04:00:00,18.80\n".repeat(20));
    expect(await readAll(nodeZip(data))).toEqual({ "node.csv": text(data) });
    expect(await refusal(nodeZip(data, (nodeCrc32(data) ^ 0x10) >>> 0))).toMatch(
      /^node\.csv: CRC-32 .* does not match/,
    );
  });

  it("decodes GBK names (no UTF-8 flag), as Windows archivers and Alipay write them", async () => {
    const zip = await buildZip([
      { name: "2088_20261121_业务明细.csv", data: gbkEncode("#支付宝业务明细查询"), method: 8 },
      { name: "2088_20261121_业务明细(汇总).csv", data: gbkEncode("合计"), method: 0 },
    ]);
    const entries = zipEntries(zip, LIMITS);
    expect(entries.ok && entries.value.map((e) => [e.name, e.method])).toEqual([
      ["2088_20261121_业务明细.csv", 8],
      ["2088_20261121_业务明细(汇总).csv", 0],
    ]);
    expect(await alipayBillCsv(zip)).toEqual({ ok: true, text: "#支付宝业务明细查询" });
  });

  it("refuses a truncated archive, trailing junk, encryption, other methods and too many entries", async () => {
    const good = nodeZip(new TextEncoder().encode("a,b\n1,2\n"));
    expect(await refusal(good.subarray(0, good.length - 1))).toBe("not a zip: no end-of-central-directory record");
    expect(await refusal(good.subarray(0, 10))).toBe("not a zip: shorter than an end-of-central-directory record");
    const junk = new Uint8Array(good.length + 3);
    junk.set(good);
    expect(await refusal(junk)).toBe("not a zip: no end-of-central-directory record");
    const encrypted = good.slice();
    const cd = encrypted.length - 22 - 46 - 8;
    new DataView(encrypted.buffer).setUint16(cd + 8, 0x0801, true);
    expect(await refusal(encrypted)).toBe("entry 1 is encrypted");
    const lzma = good.slice();
    new DataView(lzma.buffer).setUint16(cd + 10, 14, true);
    expect(await refusal(lzma)).toBe("entry 1 uses compression method 14");
    expect(await refusal(good, { ...LIMITS, entriesMax: 0 })).toBe("1 entries; at most 0 are read");
    expect(await refusal(bytesOf(PYTHON_ZIP))).toBe("read");
  });

  it("refuses a deflate stream that is corrupt, or that inflates past its declared size", async () => {
    const data = new TextEncoder().encode("x".repeat(10_000));
    const zip = nodeZip(data);
    const corrupt = zip.slice();
    corrupt[30 + "node.csv".length] = 0xff; // the first deflate byte: an invalid block type
    expect(await refusal(corrupt)).toMatch(/^node\.csv: (the deflate stream is corrupt|CRC-32|\d+ bytes)/);
    expect(await refusal(zip, { ...LIMITS, entryBytesMax: 5_000 })).toBe("entry 1 is 10000 bytes; at most 5000");
    // The directory says 100 bytes, the stream holds 10,000: reading stops past 100.
    const bomb = zip.slice();
    const cd = bomb.length - 22 - 46 - "node.csv".length;
    new DataView(bomb.buffer).setUint32(cd + 24, 100, true);
    expect(await refusal(bomb)).toBe("node.csv: inflates past its declared 100 bytes");
  });

  it("picks exactly one 业务明细 file out of a bill zip, not its 汇总 companion", async () => {
    const only = await buildZip([{ name: "x_业务明细(汇总).csv", data: gbkEncode("a"), method: 0 }]);
    expect(await alipayBillCsv(only)).toEqual({ ok: false, detail: "the zip holds 0 业务明细 files, not one" });
    const badCrc = await buildZip([{ name: "x_业务明细.csv", data: gbkEncode("a"), method: 8, crcOverride: 1 }]);
    expect(await alipayBillCsv(badCrc)).toMatchObject({ ok: false, detail: expect.stringContaining("CRC-32") });
  });
});
