import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_PIN } from "../../dev/seed";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

describe.skipIf(!hasBrowser)("the viewer page and the OBS overlay in Chromium", () => {
  let server: DevServer;
  let browser: Browser;
  let seed: { roomId: string; users: { userId: string; token: string }[] };
  let overlayUrl: string;
  const tokenOf = (id: string) => seed.users.find((u) => u.userId === id)?.token as string;

  beforeAll(async () => {
    server = await startDevServer();
    seed = await seedDemoServer<typeof seed>(server.url);
    const key = await fetch(`${server.url}/v1/rooms/${seed.roomId}/overlay-key`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenOf("creator-lin")}` },
    });
    overlayUrl = `${((await key.json()) as { overlayUrl: string }).overlayUrl}&alertMs=1500`;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function shownAlerts(page: Page): Promise<string[]> {
    return page.locator("#shown li").allTextContents();
  }

  it("a viewer sends a big gift and the overlay shows it; after a reconnect the overlay shows what it missed, once", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const overlay = await context.newPage();
    await overlay.goto(overlayUrl);
    await overlay.waitForSelector('#status[data-state="live"]', { state: "attached" });

    const viewer = await context.newPage();
    await viewer.goto(`${server.url}/room.html?room=${seed.roomId}&token=${tokenOf("viewer-chen")}`);
    await viewer.waitForSelector('[data-gift-id="sports-car"]');
    // A sports car (520.00) is above the default password-free limit: the page asks for the
    // payment PIN (the demo's, from the seed) in its dialog.
    await viewer.click('[data-gift-id="sports-car"]');
    await viewer.waitForSelector("#pin-dialog[open]");
    expect(await viewer.locator("#pin-prompt").textContent()).toContain("above your password-free limit");
    await viewer.fill("#pin-input", DEMO_PIN);
    await viewer.click("#pin-ok");
    await viewer.waitForSelector("#message:has-text('Sent Sports Car')");

    // The overlay shows it at once, with the viewer's name.
    const alert = overlay.locator(".alert");
    await expect
      .poll(async () => (await alert.count()) > 0 && (await alert.first().textContent()), { timeout: 10_000 })
      .toContain("Sports Car");
    expect(await alert.first().textContent()).toContain("viewer-chen");
    await overlay.screenshot({ path: `${ARTIFACTS}/overlay-sports-car.png` });
    await expect.poll(() => shownAlerts(overlay), { timeout: 10_000 }).toHaveLength(1);
    // The viewer page played the effect and shows the gift in its feed and leaderboard.
    await viewer.waitForSelector(".feed li.big:has-text('Sports Car')");
    await viewer.waitForSelector(".board li:has-text('viewer-chen')");
    await viewer.screenshot({ path: `${ARTIFACTS}/viewer-room.png` });

    // Let the alert finish, then take the overlay away (an OBS scene switch, a crash…).
    await overlay.locator(".alert").waitFor({ state: "detached", timeout: 10_000 });
    await overlay.close();
    const rocket = await fetch(`${server.url}/v1/rooms/${seed.roomId}/tips`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${tokenOf("viewer-chen")}`,
        "content-type": "application/json",
        "idempotency-key": `browser-rocket-${Date.now()}`,
      },
      body: JSON.stringify({ kind: "gift", giftId: "rocket", quantity: 1, pin: DEMO_PIN }),
    });
    expect(rocket.status).toBe(201);

    // Back: it shows the rocket it missed, and not the sports car again.
    const back = await context.newPage();
    await back.goto(overlayUrl);
    await expect.poll(() => shownAlerts(back), { timeout: 10_000 }).toHaveLength(1);
    expect((await back.locator(".alert").first().textContent()) ?? "").toContain("Rocket");
    await back.waitForTimeout(2_500);
    expect(await shownAlerts(back)).toHaveLength(1);
    await back.locator(".alert").waitFor({ state: "detached", timeout: 10_000 });

    // A brand-new browser profile (no local state) resumes after what was acknowledged: nothing twice.
    const fresh = await browser.newContext();
    const freshOverlay = await fresh.newPage();
    await freshOverlay.goto(overlayUrl);
    await freshOverlay.waitForSelector('#status[data-state="live"]', { state: "attached" });
    await freshOverlay.waitForTimeout(2_000);
    expect(await shownAlerts(freshOverlay)).toEqual([]);
    await fresh.close();
    await context.close();
  }, 120_000);

  it("a viewer sends a red packet from the page; two others see it appear, grab it over their sockets, and the shares make the total", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // The pages claim over their room sockets: no claim request goes over HTTP.
    const httpClaims: string[] = [];
    const claimFrames: string[] = [];
    const open = async (userId: string) => {
      const page = await context.newPage();
      page.on("request", (r) => {
        if (r.method() === "POST" && r.url().endsWith("/claims")) httpClaims.push(r.url());
      });
      page.on("websocket", (ws) =>
        ws.on("framesent", (f) => {
          if (String(f.payload).includes('"packet.claim"')) claimFrames.push(String(f.payload));
        }),
      );
      await page.goto(`${server.url}/room.html?room=${seed.roomId}&token=${tokenOf(userId)}`);
      await page.waitForSelector('#live-status[data-state="live"]');
      return page;
    };
    const sender = await open("viewer-chen");
    const ana = await open("viewer-ana");
    const bo = await open("viewer-bo");

    await sender.click("#send-packet-panel summary");
    await sender.fill("#packet-total", "8.88");
    await sender.fill("#packet-shares", "2");
    await sender.fill("#packet-greeting", "browser hongbao");
    await sender.click("#send-packet button[type=submit]");
    await sender.waitForSelector("#message:has-text('Sent a red packet of ¥8.88')");

    // It appears at once on the other pages (the room announces it).
    const card = (page: Page) => page.locator(".packet:has-text('browser hongbao')");
    await card(ana).waitFor({ timeout: 10_000 });
    await card(bo).waitFor({ timeout: 10_000 });
    await card(ana).locator(".grab").click();
    await card(bo).locator(".grab").click();
    const amountOf = async (page: Page) => {
      const result = card(page).locator(".result");
      await expect.poll(async () => (await result.textContent()) ?? "", { timeout: 10_000 }).toMatch(/You got ¥/);
      return Math.round(Number(/¥([0-9.]+)/.exec((await result.textContent()) ?? "")?.[1]) * 100);
    };
    const [a, b] = [await amountOf(ana), await amountOf(bo)];
    // Each page shows exactly the share the room recorded for that viewer, and the shares make the total.
    const packetId = await card(ana).getAttribute("data-packet-id");
    const claims = await fetch(`${server.url}/v1/rooms/${seed.roomId}/red-packets/${packetId}/claims`, {
      headers: { authorization: `Bearer ${tokenOf("viewer-chen")}` },
    });
    const recorded = ((await claims.json()) as { claims: { userId: string; amountMinor: number }[] }).claims;
    expect(Object.fromEntries(recorded.map((c) => [c.userId, c.amountMinor]))).toEqual({
      "viewer-ana": a,
      "viewer-bo": b,
    });
    expect(a + b).toBe(888);
    expect(httpClaims).toEqual([]);
    expect(claimFrames.map((f) => JSON.parse(f).packetId)).toEqual([packetId, packetId]);
    expect(await card(ana).getAttribute("data-claimed-via")).toBe("socket");

    // Every page learns at once that it is all claimed.
    await sender.waitForSelector(".packet[data-status=\"exhausted\"]:has-text('browser hongbao')", { timeout: 10_000 });
    await ana.screenshot({ path: `${ARTIFACTS}/viewer-red-packet.png` });
    await context.close();
  }, 120_000);
});
