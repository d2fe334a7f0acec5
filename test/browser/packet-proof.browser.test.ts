import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

describe.skipIf(!hasBrowser)("the fairness proof on the viewer page in Chromium", () => {
  let server: DevServer;
  let browser: Browser;
  let seed: { roomId: string; users: { userId: string; token: string }[] };
  const tokenOf = (id: string) => seed.users.find((u) => u.userId === id)?.token as string;

  beforeAll(async () => {
    server = await startDevServer();
    seed = await seedDemoServer<typeof seed>(server.url);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function api(token: string, method: string, path: string, body?: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["idempotency-key"] = `proof-${Date.now()}-${Math.random()}`;
    }
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  async function devToken(userId: string): Promise<string> {
    const res = await fetch(`${server.url}/v1/dev/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId, roles: ["viewer"] }),
    });
    return ((await res.json()) as { token: string }).token;
  }

  it("a finished packet recomputes in the browser share by share, and a tampered claim list shows ✗", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/room.html?room=${seed.roomId}&token=${tokenOf("viewer-chen")}`);
    await page.waitForSelector('#live-status[data-state="live"]', { state: "attached" });

    const sent = await api(tokenOf("viewer-ana"), "POST", `/v1/rooms/${seed.roomId}/red-packets`, {
      total: "8.88",
      shares: 6,
      greeting: "公平红包",
    });
    expect(sent.status).toBe(201);
    const packetId: string = sent.body.packet.id;
    expect(sent.body.packet.commitment).toMatch(/^[0-9a-f]{64}$/);
    const card = page.locator(`.packet[data-packet-id="${packetId}"]`);
    await card.waitFor();
    // Open: the commitment is shown, nothing to verify yet (the seed is secret).
    expect(await card.locator(".verify").isHidden()).toBe(true);
    expect(await card.locator(".commitment").textContent()).toBe(
      `fair · commitment ${sent.body.packet.commitment.slice(0, 12)}…`,
    );
    await card.screenshot({ path: `${ARTIFACTS}/packet-proof-open.png` });

    const amounts: number[] = [];
    for (let i = 0; i < 6; i++) {
      const claim = await api(
        await devToken(`proof-grabber-${i}`),
        "POST",
        `/v1/rooms/${seed.roomId}/red-packets/${packetId}/claims`,
      );
      expect(claim.status).toBe(201);
      amounts.push(claim.body.claim.amountMinor);
    }
    await page.waitForSelector(`.packet[data-packet-id="${packetId}"][data-status="exhausted"]`);
    await card.locator(".verify").click();
    await card.locator('.proof[data-verdict="fair"]').waitFor({ timeout: 15_000 });
    expect(await card.locator(".proof .verdict").textContent()).toBe(
      "✓ Fair: all 6 shares and the luckiest are what the committed seed gives.",
    );
    expect(await card.locator('.proof tbody tr[data-ok="true"]').count()).toBe(6);
    expect(await card.locator('.proof tbody tr[data-ok="false"]').count()).toBe(0);
    expect(await card.locator(".proof-facts").first().textContent()).toContain("same as announced ✓");
    const shown = await card.locator(".proof tbody tr td:nth-child(3)").allTextContents();
    expect(shown).toEqual(amounts.map((a) => (a / 100).toFixed(2)));
    await card.screenshot({ path: `${ARTIFACTS}/packet-proof-fair.png` });

    // The command-line verifier, against the same server, agrees (node:crypto, its own fetches).
    const { stdout } = await promisify(execFile)(
      "node_modules/.bin/tsx",
      ["scripts/packet-verify.ts", packetId, "--room", seed.roomId, "--base-url", server.url],
      { env: { ...process.env, GIFTWIRE_TOKEN: tokenOf("viewer-bo") } },
    );
    expect(stdout).toContain("✓ FAIR: all 6 claimed shares (Σ 8.88)");

    // The same page, fed a claim list in which share #2 was raised by one fen.
    await page.route(`**/red-packets/${packetId}/claims?**`, async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      body.claims = body.claims.map((c: { index: number; amountMinor: number }) =>
        c.index === 2 ? { ...c, amountMinor: c.amountMinor + 1 } : c,
      );
      await route.fulfill({ response, json: body });
    });
    await card.locator(".verify").click();
    await card.locator('.proof[data-verdict="unfair"]').waitFor({ timeout: 15_000 });
    const bad = card.locator('.proof tbody tr[data-ok="false"]');
    expect(await bad.count()).toBe(1);
    expect(await bad.locator("td").first().textContent()).toBe("2");
    expect(await bad.locator("td").last().textContent()).toBe(`✗ seed gives ${((amounts[2] ?? 0) / 100).toFixed(2)}`);
    await card.screenshot({ path: `${ARTIFACTS}/packet-proof-tampered.png` });
    await context.close();
  }, 120_000);
});
