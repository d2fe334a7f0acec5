/**
 * A small, strict reader of zip archives (PKWARE APPNOTE 6.3.x, §4.3), enough for Alipay's
 * bill download: a handful of CSVs, stored (method 0) or deflated (method 8). No npm package:
 * the central directory is parsed here, deflate is the platform's
 * `DecompressionStream("deflate-raw")`, and every entry's CRC-32 and size are checked, so a
 * truncated or altered download is refused instead of being read in part.
 *
 * Not supported, and refused as malformed: zip64, encryption, multi-disk archives, methods
 * other than 0 and 8. Names are UTF-8 when general-purpose flag bit 11 says so, else the
 * archiver's code page (Alipay's Windows-style archives name their files in GBK).
 */

export interface ZipEntry {
  /** The name as stored, decoded (UTF-8 when flagged, else `legacyNames`). */
  readonly name: string;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

export type ZipResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string };

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_MIN = 22;
const CENTRAL_MIN = 46;
const LOCAL_MIN = 30;
/** The end record may be followed by a comment of up to 65,535 bytes. */
const EOCD_SEARCH_MAX = EOCD_MIN + 0xffff;

export interface ZipLimits {
  readonly entriesMax: number;
  /** Per entry, uncompressed: the declared size and what inflating actually yields. */
  readonly entryBytesMax: number;
  /** How non-UTF-8 names are decoded (default `gbk`). */
  readonly legacyNames?: string;
}

class ZipError extends Error {}

function fail(detail: string): never {
  throw new ZipError(detail);
}

/** The central directory's entries, checked against the archive's bounds. */
export function zipEntries(bytes: Uint8Array, limits: ZipLimits): ZipResult<ZipEntry[]> {
  try {
    return { ok: true, value: readDirectory(bytes, limits) };
  } catch (error) {
    if (error instanceof ZipError) return { ok: false, detail: error.message };
    throw error;
  }
}

function readDirectory(bytes: Uint8Array, limits: ZipLimits): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < EOCD_MIN) fail("not a zip: shorter than an end-of-central-directory record");
  let eocd = -1;
  const lowest = Math.max(0, bytes.length - EOCD_SEARCH_MAX);
  for (let i = bytes.length - EOCD_MIN; i >= lowest; i--) {
    // The record's comment must reach exactly to the end, which rules out a signature inside data.
    if (view.getUint32(i, true) === EOCD_SIGNATURE && i + EOCD_MIN + view.getUint16(i + 20, true) === bytes.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail("not a zip: no end-of-central-directory record");
  const disk = view.getUint16(eocd + 4, true);
  const cdDisk = view.getUint16(eocd + 6, true);
  const onDisk = view.getUint16(eocd + 8, true);
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) fail("zip64 archives are not read");
  if (disk !== 0 || cdDisk !== 0 || onDisk !== count) fail("multi-disk archives are not read");
  if (count > limits.entriesMax) fail(`${count} entries; at most ${limits.entriesMax} are read`);
  if (cdOffset + cdSize !== eocd) fail("the central directory does not end where the end record begins");
  const legacy = new TextDecoder(limits.legacyNames ?? "gbk", { fatal: true, ignoreBOM: false });
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let n = 0; n < count; n++) {
    if (at + CENTRAL_MIN > eocd) fail(`central entry ${n + 1} runs past the directory`);
    if (view.getUint32(at, true) !== CENTRAL_SIGNATURE) fail(`central entry ${n + 1} has no signature`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc32 = view.getUint32(at + 16, true);
    const compressedSize = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const localHeaderOffset = view.getUint32(at + 42, true);
    const end = at + CENTRAL_MIN + nameLength + extraLength + commentLength;
    if (end > eocd) fail(`central entry ${n + 1} runs past the directory`);
    if (flags & 0x0001) fail(`entry ${n + 1} is encrypted`);
    if (method !== 0 && method !== 8) fail(`entry ${n + 1} uses compression method ${method}`);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localHeaderOffset === 0xffffffff) {
      fail("zip64 entries are not read");
    }
    if (size > limits.entryBytesMax) fail(`entry ${n + 1} is ${size} bytes; at most ${limits.entryBytesMax}`);
    if (method === 0 && compressedSize !== size) fail(`stored entry ${n + 1} declares two sizes`);
    if (localHeaderOffset + LOCAL_MIN + compressedSize > cdOffset) fail(`entry ${n + 1} runs into the directory`);
    let name: string;
    try {
      const raw = bytes.subarray(at + CENTRAL_MIN, at + CENTRAL_MIN + nameLength);
      name = (flags & 0x0800 ? utf8 : legacy).decode(raw);
    } catch {
      fail(`entry ${n + 1}'s name is not in its declared encoding`);
    }
    entries.push({ name, method, crc32, compressedSize, size, localHeaderOffset });
    at = end;
  }
  if (at !== eocd) fail("the central directory holds more than its entries");
  return entries;
}

/** One entry's bytes, inflated if deflated, refused unless its size and CRC-32 match the directory. */
export async function zipEntryBytes(
  bytes: Uint8Array,
  entry: ZipEntry,
  limits: ZipLimits,
): Promise<ZipResult<Uint8Array>> {
  try {
    return { ok: true, value: await readEntry(bytes, entry, limits) };
  } catch (error) {
    if (error instanceof ZipError) return { ok: false, detail: error.message };
    throw error;
  }
}

async function readEntry(bytes: Uint8Array, entry: ZipEntry, limits: ZipLimits): Promise<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (at + LOCAL_MIN > bytes.length || view.getUint32(at, true) !== LOCAL_SIGNATURE) {
    fail(`${entry.name}: no local header where the directory points`);
  }
  if (view.getUint16(at + 8, true) !== entry.method) fail(`${entry.name}: the local header names another method`);
  const start = at + LOCAL_MIN + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) fail(`${entry.name}: the data runs past the archive`);
  const data = bytes.subarray(start, end);
  const out =
    entry.method === 0 ? data : await inflateRaw(data, Math.min(entry.size, limits.entryBytesMax), entry.name);
  if (out.length !== entry.size) fail(`${entry.name}: ${out.length} bytes, the directory says ${entry.size}`);
  const crc = crc32(out);
  if (crc !== entry.crc32) {
    fail(`${entry.name}: CRC-32 ${hex(crc)} does not match the directory's ${hex(entry.crc32)}`);
  }
  return out;
}

/** Raw deflate, stopped as soon as it yields more than `max` bytes (a zip bomb gets no further). */
async function inflateRaw(data: Uint8Array, max: number, name: string): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream("deflate-raw"));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) {
        await reader.cancel();
        fail(`${name}: inflates past its declared ${max} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ZipError) throw error;
    fail(`${name}: the deflate stream is corrupt`);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320), as zip stores it. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = (crcTable[(crc ^ b) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
