import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_PIN } from "../../dev/seed";
import { businessDayOf } from "../../src/domain/business-day";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

/**
 * The creator console in Chromium, against what `npm start` runs: the demo creator (verified,
 * a sandbox payout account past its cooling period, earnings from past days already settled)
 * withdraws from the page, and the page follows the withdrawal from request to paid through
 * the sandbox provider's payout and its signed callback.
 */
describe.skipIf(!hasBrowser)("the creator console in Chromium", () => {
  let server: DevServer;
  let browser: Browser;
  let creatorToken: string;

  beforeAll(async () => {
    server = await startDevServer();
    const seed = await seedDemoServer(server.url);
    creatorToken = seed.users.find((u) => u.userId === "creator-lin")?.token as string;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function api(method: string, path: string) {
    const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${creatorToken}` } });
    return { status: res.status, body: (await res.json()) as any };
  }

  it("shows the demo creator's earnings, trend and settlements, and walks a withdrawal from request to paid", async () => {
    const before = (await api("GET", "/v1/creators/me/earnings")).body;
    expect(before.availableMinor).toBeGreaterThan(10_00);
    const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.url}/creator.html?token=${creatorToken}`);
    await page.waitForSelector('body[data-ready="true"]', { state: "attached" });
    expect(await page.locator("#message").textContent()).toBe("");
    expect(errors).toEqual([]);

    // The cards are the API's balances, in yuan.
    const yuan = (minor: number) => `¥${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
    expect(await page.locator("#available").textContent()).toBe(yuan(before.availableMinor));
    expect(await page.locator("#pending").textContent()).toBe(yuan(before.pendingMinor));
    expect(await page.locator("#settle-days").textContent()).toBe(String(before.settleAfterDays));

    // The 30-day trend is a Chart.js chart holding the API's daily figures.
    const insights = (await api("GET", "/v1/creators/me/insights?days=30")).body;
    const plotted = await page.evaluate(() => {
      const w = globalThis as any;
      const chart = w.Chart.getChart(w.document.getElementById("trend-chart"));
      return { labels: chart.data.labels.length, gross: chart.data.datasets[0].data as number[] };
    });
    expect(plotted.labels).toBe(30);
    expect(plotted.gross).toEqual(insights.daily.map((d: { grossMinor: number }) => d.grossMinor / 100));
    expect(plotted.gross.filter((g) => g > 0).length).toBeGreaterThan(3);
    // Settled days are listed; verification shows verified, the payout account masked.
    const settlements = (await api("GET", "/v1/creators/me/settlements?limit=30")).body.items;
    expect(settlements.length).toBeGreaterThan(0);
    expect(await page.locator("#settlements tr").count()).toBe(settlements.length);
    expect(await page.locator("#verification-state").textContent()).toBe("verified");
    expect(await page.locator("#accounts li").first().textContent()).toContain("sandbox");
    await page.screenshot({ path: `${ARTIFACTS}/creator-console.png`, fullPage: true });

    // Withdraw 12.34: below the auto-approval threshold, so it goes out at once.
    await page.fill("#withdraw-amount", "12.34");
    await page.fill("#withdraw-pin", "135790"); // wrong first: the tries left, nothing held
    await page.click("#withdraw-form button[type=submit]");
    await page.waitForSelector("text=Wrong payment PIN — 4 tries left.");
    await page.fill("#withdraw-pin", DEMO_PIN);
    await page.click("#withdraw-form button[type=submit]");
    // The newest row once it is there (the demo's withdrawal in review, dev/seed-queues.ts, is listed before).
    const row = page.locator("#withdrawals tr", { hasText: "¥12.34" }).first();
    await row.waitFor();
    expect(await page.locator("#withdrawals tr").first().textContent()).toBe(await row.textContent());
    expect(await row.locator("td").nth(1).textContent()).toBe("¥12.34");
    await page.screenshot({ path: `${ARTIFACTS}/creator-console-withdrawing.png` });
    // The page follows it: approved → paying → paid, as the sandbox pays and calls back.
    await row.locator('.state[data-state="paid"]').waitFor({ timeout: 60_000 });
    const after = (await api("GET", "/v1/creators/me/earnings")).body;
    expect(after.availableMinor).toBe(before.availableMinor - 1234);
    // The demo's withdrawal in review (dev/seed-queues.ts) stays held; this one is paid.
    expect(after.withdrawingMinor).toBe(before.withdrawingMinor);
    await page.waitForFunction(
      (text) => (globalThis as any).document.getElementById("available")?.textContent === text,
      yuan(after.availableMinor),
    );
    await page.locator("#withdraw-panel").screenshot({ path: `${ARTIFACTS}/creator-console-paid.png` });

    // The inbox heard it: the unread badge, then the paid notice in the list (the notices go
    // through their queue, so the page may have to look again).
    await page.locator("#unread:not([hidden])").waitFor({ timeout: 30_000 });
    const paidNotice = async () => {
      await page.click("#inbox-button");
      await page.locator("#inbox-list li").first().waitFor();
      const texts = await page.locator("#inbox-list li").allTextContents();
      return texts.some((t) => t.includes("¥12.34") && t.includes("is paid"));
    };
    let seen = await paidNotice();
    for (let i = 0; i < 20 && !seen; i++) {
      await page.click("#close-inbox");
      await page.waitForTimeout(500);
      seen = await paidNotice();
    }
    expect(seen).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/creator-console-inbox.png` });
    const withdrawals = (await api("GET", "/v1/creators/me/withdrawals")).body.withdrawals;
    expect(withdrawals[0]).toMatchObject({ amountMinor: 1234, state: "paid" });
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("lists a day's income lines, tips and paid unlocks apart, and a settlement row opens its day's lines", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.url}/creator.html?token=${creatorToken}`);
    await page.waitForSelector('body[data-ready="true"]', { state: "attached" });
    expect(await page.locator("#message").textContent()).toBe("");

    // The seed's fan unlocked and tipped the guitar notes today (business day, wrangler.toml's zone).
    const today = businessDayOf(Date.now(), "Asia/Shanghai");
    await page.fill("#income-day", today);
    await page.dispatchEvent("#income-day", "change");
    const lines = async (day: string) => {
      const items: any[] = [];
      let cursor: string | null = null;
      do {
        const q: string = `kind=income&from=${day}&to=${day}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const page = (await api("GET", `/v1/creators/me/statement?${q}`)).body;
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return items;
    };
    const todays = await lines(today);
    const unlock = todays.find((i) => i.kind === "unlock");
    expect(unlock).toMatchObject({ kind: "unlock", viewerId: "fan-xiao", contentId: expect.any(String) });
    const unlockRow = page.locator(`#income tr[data-id="${unlock.unlockId}"]`);
    await unlockRow.waitFor();
    // Every line of the day, in the API's order (at most a page of 50 before "More").
    const shown = Math.min(todays.length, 50);
    expect(await page.locator("#income tr").evaluateAll((rows) => rows.map((r) => (r as any).dataset.id))).toEqual(
      todays.slice(0, shown).map((i) => i.unlockId ?? i.tipId),
    );
    const cells = await unlockRow.locator("td").allTextContents();
    expect(cells.slice(1, 5)).toEqual(["unlock", `content ${unlock.contentId}`, "fan-xiao", `¥${unlock.gross}`]);
    expect(cells[6]).toBe(`¥${unlock.net}`);
    expect(cells[7]).toBe(unlock.reversed ? "refunded" : "received");
    const contentTip = todays.find((i) => i.kind === "tip" && i.contentId === unlock.contentId);
    expect(contentTip).toBeDefined();
    expect((await page.locator(`#income tr[data-id="${contentTip.tipId}"] td`).allTextContents())[2]).toBe(
      `content ${unlock.contentId}`,
    );
    await page.locator("#income-panel").screenshot({ path: `${ARTIFACTS}/creator-console-income.png` });

    // A settled day's row opens that day's lines (the seed's past tips).
    const settled = (await api("GET", "/v1/creators/me/settlements?limit=30")).body.items[0];
    await page.locator("#settlements tr").first().click();
    const past = await lines(settled.day);
    expect(past.length).toBeGreaterThan(0);
    await page.waitForFunction(
      (id) => (globalThis as any).document.querySelector("#income tr")?.dataset.id === id,
      past[0].unlockId ?? past[0].tipId,
    );
    expect(await page.locator("#income-day").inputValue()).toBe(settled.day);
    expect(await page.locator("#income tr").count()).toBe(Math.min(past.length, 50));
    expect(await page.locator("#income-more").isHidden()).toBe(past.length <= 50);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});
