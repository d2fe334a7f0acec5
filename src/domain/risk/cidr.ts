/**
 * IP addresses and CIDR blocks for the risk lists, IPv4 and IPv6, as bit strings held in a
 * bigint (32 or 128 bits), so a block test is one mask and compare. Parsing is strict (no
 * zone ids, no leading zeros in IPv4 octets, at most one `::`): a list entry either parses or is
 * refused at the admin route, and a request's address that does not parse matches nothing.
 */

export interface IpAddress {
  readonly version: 4 | 6;
  /** The address's bits, most significant first (32 or 128 of them). */
  readonly bits: bigint;
}

export interface Cidr {
  readonly version: 4 | 6;
  /** The network's bits: the address with every bit past `prefix` cleared. */
  readonly network: bigint;
  readonly prefix: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let bits = 0n;
  for (const part of parts) {
    if (!OCTET.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    bits = (bits << 8n) | BigInt(n);
  }
  return bits;
}

function parseIpv6(text: string): bigint | null {
  if (text.length > 45) return null;
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two hextets.
  let tail: bigint | null = null;
  let head = text;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (tail === null) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0] ?? "");
  const right = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  let bits = 0n;
  for (const group of all) {
    if (!HEXTET.test(group)) return null;
    bits = (bits << 16n) | BigInt(Number.parseInt(group, 16));
  }
  if (tail !== null) bits = (bits & ~0xffffffffn) | tail;
  return bits;
}

export function parseIp(text: string): IpAddress | null {
  if (text.includes(":")) {
    const bits = parseIpv6(text);
    return bits === null ? null : { version: 6, bits };
  }
  const bits = parseIpv4(text);
  return bits === null ? null : { version: 4, bits };
}

function width(version: 4 | 6): number {
  return version === 4 ? 32 : 128;
}

function maskOf(version: 4 | 6, prefix: number): bigint {
  const w = width(version);
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(w - prefix);
}

/** `1.2.3.0/24`, `2001:db8::/32`; a bare address is its own /32 or /128. Host bits must be zero. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const w = width(ip.version);
  let prefix = w;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > w) return null;
  }
  const network = ip.bits & maskOf(ip.version, prefix);
  if (network !== ip.bits) return null;
  return { version: ip.version, network, prefix };
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.version === ip.version && (ip.bits & maskOf(ip.version, cidr.prefix)) === cidr.network;
}

export function formatIp(ip: IpAddress): string {
  if (ip.version === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((ip.bits >> s) & 0xffn)).join(".");
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((ip.bits >> s) & 0xffffn).toString(16));
  return groups.join(":");
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ version: cidr.version, bits: cidr.network })}/${cidr.prefix}`;
}

/**
 * The address's neighbourhood for `ip24` velocity: its /24 for IPv4, its /64 for IPv6 (one
 * IPv6 subscriber usually holds a whole /64, so a /24-like grouping of v6 is its /64).
 */
export function neighbourhoodOf(ip: IpAddress): string {
  return formatCidr({
    version: ip.version,
    network: ip.bits & maskOf(ip.version, ip.version === 4 ? 24 : 64),
    prefix: ip.version === 4 ? 24 : 64,
  });
}
