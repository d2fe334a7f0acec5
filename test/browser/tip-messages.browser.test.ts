import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

describe.skipIf(!hasBrowser)("tip messages on the viewer page in Chromium", () => {
  let server: DevServer;
  let browser: Browser;
  let seed: { roomId: string; users: { userId: string; token: string }[] };
  const tokenOf = (id: string) => seed.users.find((u) => u.userId === id)?.token as string;

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    server = await startDevServer();
    seed = await seedDemoServer<typeof seed>(server.url);
    for (const word of [
      { word: "idiot", level: "mask" },
      { word: "加微信", level: "hold" },
    ]) {
      const added = await api("POST", "/v1/admin/moderation/words", tokenOf("ops-mei"), word);
      expect(added.status).toBe(201);
    }
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows a tip's message (masked), and a held one only after an operator approves it", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(`${server.url}/room.html?room=${seed.roomId}&token=${tokenOf("viewer-chen")}`);
    await page.waitForSelector("#custom-tip");
    await page.waitForSelector('#live-status[data-state="live"]', { state: "attached" });

    // A message with a mask-level word: shown with the tip, the word masked.
    await page.fill("#tip-message", "主播加油 IDIOT!");
    await page.fill("#custom-amount", "1.00");
    await page.click("#custom-tip button[type=submit]");
    await page.waitForSelector("#message:has-text('Sent a ¥1.00 tip')");
    const shown = page.locator("#messages li", { hasText: "主播加油 *****!" });
    await shown.waitFor({ timeout: 15_000 });
    expect(await shown.textContent()).toBe("viewer-chen: 主播加油 *****!");
    await page.screenshot({ path: `${ARTIFACTS}/tip-message-masked.png` });

    // A held one: the tip posts, the page says the message waits, the room does not show it.
    const balanceBefore = await page.locator("#balance").textContent();
    await page.fill("#tip-message", "加 微 信 聊聊");
    await page.fill("#custom-amount", "2.00");
    await page.click("#custom-tip button[type=submit]");
    await page.waitForSelector("#message:has-text('waiting for review')");
    expect(await page.locator("#balance").textContent()).not.toBe(balanceBefore);
    const held = await api("GET", "/v1/admin/messages/held", tokenOf("ops-mei"));
    expect(held.status).toBe(200);
    const mine = held.body.messages.find((m: { text: string }) => m.text === "加 微 信 聊聊");
    expect(mine).toMatchObject({ viewerId: "viewer-chen", status: "held" });
    // Two merge windows (3 s each) pass: still not shown.
    await page.waitForTimeout(7_000);
    expect(await page.locator("#messages li", { hasText: "聊聊" }).count()).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}/tip-message-held.png` });

    // An operator approves it through the API: the room shows it at once.
    const approved = await api("POST", `/v1/admin/messages/${mine.tipId}/approve`, tokenOf("ops-mei"));
    expect(approved.status).toBe(200);
    const after = page.locator(`#messages li[data-tip-id="${mine.tipId}"]`);
    await after.waitFor({ timeout: 15_000 });
    expect(await after.textContent()).toBe("viewer-chen: 加 微 信 聊聊");
    await page.screenshot({ path: `${ARTIFACTS}/tip-message-approved.png` });
  }, 90_000);
});
