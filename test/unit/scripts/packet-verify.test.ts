import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPacket } from "../../../scripts/packet-verify/verify";
import {
  commitmentOf,
  type FairPacket,
  luckiestIndexOf,
  recomputeShares,
  seedBytes,
} from "../../../src/domain/fair-packet";

const SEED = "5eed".repeat(16);
const PACKET: FairPacket = {
  id: "packet_01JVERIFY000000000000000000",
  totalMinor: 88_888,
  shares: 150,
  split: "lucky",
};
const ROOM = "room_01JVERIFY000000000000000000";

interface FakeApi {
  status?: "open" | "exhausted" | "expired";
  seed?: string | null;
  commitment?: string | null;
  /** Changes the published claims (tampering). */
  claims?: (claims: { index: number; amountMinor: number; userId: string }[]) => typeof claims;
  luckiestIndex?: number | null;
}

/** The API's two answers for a packet, paged as the real route pages (after, limit, nextAfter). */
function fakeApi(api: FakeApi = {}) {
  const amounts = recomputeShares(PACKET, seedBytes(SEED), PACKET.shares);
  const published = (api.claims ?? ((c) => c))(
    amounts.map((amountMinor, index) => ({ index, amountMinor, userId: `grabber-${index}` })),
  );
  const status = api.status ?? "exhausted";
  const seed = api.seed === undefined ? SEED : api.seed;
  const calls: string[] = [];
  const fetcher = async (url: string, init: RequestInit): Promise<Response> => {
    calls.push(url);
    expect(new Headers(init.headers).get("authorization")).toBe("Bearer t0ken");
    const u = new URL(url);
    const base = `/v1/rooms/${ROOM}/red-packets/${PACKET.id}`;
    if (u.pathname === base) {
      return Response.json({
        packet: {
          ...PACKET,
          commitment: api.commitment === undefined ? commitmentOf(SEED) : api.commitment,
          seed: null, // the ledger has not closed it yet: the room's view reveals it
        },
        live: { status, seed: status === "open" ? null : seed },
      });
    }
    if (u.pathname === `${base}/claims`) {
      const after = Number(u.searchParams.get("after"));
      const limit = Number(u.searchParams.get("limit"));
      const page = published.filter((c) => c.index > after).slice(0, limit);
      return Response.json({
        claims: page,
        luckiestIndex: api.luckiestIndex === undefined ? luckiestIndexOf(amounts) : api.luckiestIndex,
        nextAfter: page.length === limit ? (page.at(-1)?.index ?? null) : null,
      });
    }
    return new Response("not found", { status: 404 });
  };
  return { fetcher, calls, amounts };
}

const args = { packetId: PACKET.id, roomId: ROOM, baseUrl: "http://api.test/", token: "t0ken", commitment: null };

describe("packet:verify", () => {
  it("fetches the packet and every page of claims, and calls an honest packet fair", async () => {
    const { fetcher, calls } = fakeApi();
    const outcome = await verifyPacket(args, fetcher);
    expect(outcome.kind).toBe("verified");
    if (outcome.kind !== "verified") return;
    expect(outcome.verdict.ok).toBe(true);
    expect(outcome.verdict.shares).toHaveLength(150);
    expect(calls).toEqual([
      `http://api.test/v1/rooms/${ROOM}/red-packets/${PACKET.id}`,
      `http://api.test/v1/rooms/${ROOM}/red-packets/${PACKET.id}/claims?after=-1&limit=100`,
      `http://api.test/v1/rooms/${ROOM}/red-packets/${PACKET.id}/claims?after=99&limit=100`,
    ]);
    expect(outcome.lines.at(-1)).toBe(
      "✓ FAIR: all 150 claimed shares (Σ 888.88) and the luckiest are what the committed seed gives",
    );
  });

  it("names a share that was changed, and says NOT VERIFIED", async () => {
    const { fetcher, amounts } = fakeApi({
      claims: (claims) => claims.map((c) => (c.index === 42 ? { ...c, amountMinor: c.amountMinor + 1 } : c)),
    });
    const outcome = await verifyPacket(args, fetcher);
    if (outcome.kind !== "verified") throw new Error("expected a verdict");
    expect(outcome.verdict.ok).toBe(false);
    expect(outcome.verdict.shares.filter((s) => !s.ok).map((s) => s.index)).toEqual([42]);
    const expected = ((amounts[42] ?? 0) / 100).toFixed(2);
    expect(outcome.lines.find((l) => l.includes("#42"))).toContain(`✗ the seed gives ${expected}`);
    expect(outcome.lines.at(-1)).toContain("✗ NOT VERIFIED");
  });

  it("catches a seed that does not match the commitment, and a luckiest claim misnamed", async () => {
    const wrongSeed = await verifyPacket(args, fakeApi({ seed: "0".repeat(64) }).fetcher);
    if (wrongSeed.kind !== "verified") throw new Error("expected a verdict");
    expect(wrongSeed.verdict).toMatchObject({ ok: false, commitmentOk: false });
    expect(wrongSeed.lines.find((l) => l.startsWith("commitment"))).toContain("✗ is not SHA-256(seed)");
    const wrongLuckiest = await verifyPacket(args, fakeApi({ luckiestIndex: 0 }).fetcher);
    if (wrongLuckiest.kind !== "verified") throw new Error("expected a verdict");
    expect(wrongLuckiest.verdict).toMatchObject({ ok: false, luckiestOk: false });
  });

  it("checks the commitment the caller saw at send against the API's", async () => {
    const outcome = await verifyPacket({ ...args, commitment: "ab".repeat(32) }, fakeApi().fetcher);
    if (outcome.kind !== "verified") throw new Error("expected a verdict");
    expect(outcome.verdict.ok).toBe(false);
    expect(outcome.lines).toContain(`✗ the commitment you saw at send was ${"ab".repeat(32)}`);
  });

  it("says an open packet or one sent before the scheme cannot be proven yet, without reading claims", async () => {
    const open = fakeApi({ status: "open" });
    expect((await verifyPacket(args, open.fetcher)).kind).toBe("unprovable");
    expect(open.calls).toHaveLength(1);
    const legacy = await verifyPacket(args, fakeApi({ commitment: null, seed: null }).fetcher);
    expect(legacy.kind).toBe("unprovable");
    expect(legacy.lines.at(-1)).toContain("sent before provably fair shares");
  });

  it("fails loudly when the API refuses", async () => {
    const refusing = async () => new Response('{"error":{"code":"packet_not_found"}}', { status: 404 });
    await expect(verifyPacket(args, refusing)).rejects.toThrow(/answered 404/);
  });
});

describe("the packet:verify command", () => {
  let server: Server;
  let baseUrl: string;
  let tampered = false;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const api = tampered
        ? fakeApi({ claims: (claims) => claims.map((c) => (c.index === 7 ? { ...c, amountMinor: 1 } : c)) })
        : fakeApi();
      const answer = await api.fetcher(`http://local${req.url}`, {
        headers: { authorization: req.headers.authorization ?? "" },
      });
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(await answer.text());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const run = async () => {
    try {
      const { stdout } = await promisify(execFile)(
        "node_modules/.bin/tsx",
        ["scripts/packet-verify.ts", PACKET.id, "--room", ROOM, "--base-url", baseUrl],
        { env: { ...process.env, GIFTWIRE_TOKEN: "t0ken" } },
      );
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  };

  it("exits 0 with a FAIR verdict, and 1 when a share was tampered with", async () => {
    const fair = await run();
    expect(fair.code).toBe(0);
    expect(fair.stdout).toContain("✓ FAIR");
    tampered = true;
    const unfair = await run();
    expect(unfair.code).toBe(1);
    expect(unfair.stdout).toContain("✗ NOT VERIFIED");
  }, 60_000);
});
