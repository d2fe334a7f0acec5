import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

describe.skipIf(!hasBrowser)("the payment PIN on the viewer page in Chromium", () => {
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

  async function api(token: string, method: string, path: string, body?: unknown, idempotencyKey?: string) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it("a viewer sets a PIN; a big tip asks for it in the dialog, a wrong one shows the tries left, the right one sends", async () => {
    // A new viewer with 300.00 and no PIN yet.
    const userId = `viewer-pin-${Date.now()}`;
    const minted = await fetch(`${server.url}/v1/dev/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId, roles: ["viewer"] }),
    });
    const token = ((await minted.json()) as { token: string }).token;
    const funded = await api(
      tokenOf("ops-mei"),
      "POST",
      `/v1/users/${userId}/wallet/adjustments`,
      { direction: "credit", amount: "300.00", reason: "browser test" },
      `pin-fund-${userId}`,
    );
    expect(funded.status).toBe(201);

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const tipBodies: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith("/tips")) tipBodies.push(r.postData() ?? "");
    });
    await page.goto(`${server.url}/room.html?room=${seed.roomId}&token=${token}`);
    await page.waitForSelector('#live-status[data-state="live"]', { state: "attached" });

    // Set the PIN: a trivial one is refused in the dialog, then a good one is saved.
    await page.click("#pin-settings");
    await page.waitForSelector("#pin-dialog[open]");
    expect(await page.locator("#pin-title").textContent()).toBe("Set a payment PIN");
    expect(await page.locator("#pin-old").isVisible()).toBe(false);
    await page.fill("#pin-input", "123456");
    await page.click("#pin-ok");
    await expect.poll(() => page.locator("#pin-error").textContent()).toContain("Too easy to guess");
    await page.fill("#pin-input", "246810");
    await page.screenshot({ path: `${ARTIFACTS}/pin-set-dialog.png` });
    await page.click("#pin-ok");
    await page.waitForSelector("#message:has-text('Payment PIN saved.')");
    expect((await api(token, "GET", "/v1/me/pin")).body).toMatchObject({ set: true, triesLeft: 5 });

    // 250.00 is above the default password-free limit (200.00): the page asks for the PIN.
    await page.fill("#custom-amount", "250.00");
    await page.click("#custom-tip button[type=submit]");
    await page.waitForSelector("#pin-dialog[open]");
    expect(await page.locator("#pin-title").textContent()).toContain("¥250.00");
    expect(await page.locator("#pin-old").isVisible()).toBe(false);
    await page.screenshot({ path: `${ARTIFACTS}/pin-asked.png` });
    await page.fill("#pin-input", "135790");
    await page.click("#pin-ok");
    await expect
      .poll(() => page.locator("#pin-error").textContent(), { timeout: 10_000 })
      .toBe("Wrong PIN — 4 tries left.");
    expect(await page.locator("#pin-dialog[open]").count()).toBe(1);
    await page.screenshot({ path: `${ARTIFACTS}/pin-wrong.png` });
    await page.fill("#pin-input", "246810");
    await page.click("#pin-ok");
    await page.waitForSelector("#message:has-text('Sent a ¥250.00 tip')");
    expect(await page.locator("#pin-dialog[open]").count()).toBe(0);
    expect(await page.locator("#balance").textContent()).toBe("50.00");
    await page.screenshot({ path: `${ARTIFACTS}/pin-sent.png` });

    // Three requests for one tip: without the PIN, the wrong one, the right one — one key.
    expect(tipBodies.map((b) => JSON.parse(b).pin ?? null)).toEqual([null, "135790", "246810"]);
    expect((await api(token, "GET", `/v1/users/${userId}/wallet`)).body.balanceMinor).toBe(5_000);
    await context.close();
  }, 120_000);
});
