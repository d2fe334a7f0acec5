import { readFile } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

/**
 * The operator console's platform dashboard in Chromium, against what `npm start` runs: the
 * demo's 14 days of tips, rolled up by the seed, drawn as charts for the demo operator ops-mei.
 */
describe.skipIf(!hasBrowser)("the platform dashboard in Chromium", () => {
  let server: DevServer;
  let browser: Browser;
  let opsToken: string;

  beforeAll(async () => {
    server = await startDevServer();
    const seed = await seedDemoServer(server.url);
    opsToken = seed.users.find((u) => u.userId === "ops-mei")?.token as string;
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Pixels drawn on a canvas (not transparent): a chart that drew nothing has none. */
  function inkOf(page: Page, id: string): Promise<number> {
    return page.evaluate((canvasId) => {
      const canvas = (globalThis as any).document.getElementById(canvasId);
      const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    }, id);
  }

  function plotted(page: Page, id: string): Promise<{ labels: string[]; data: number[][] }> {
    return page.evaluate((canvasId) => {
      const w = globalThis as any;
      const chart = w.Chart.getChart(w.document.getElementById(canvasId));
      return { labels: chart.data.labels, data: chart.data.datasets.map((d: { data: number[] }) => d.data) };
    }, id);
  }

  it("draws the demo's GMV, tips, payers, packets and tops; switches grain; downloads the CSV", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.url}/console/dashboard.html?token=${opsToken}`);
    await page.waitForSelector('body[data-loaded^="day:"]', { state: "attached" });
    expect(errors).toEqual([]);
    expect(await page.locator("#message").textContent()).toBe("");
    expect(await page.locator("#who").textContent()).toBe("ops-mei");

    // The GMV chart holds the API's series for the same query, and it drew on its canvas.
    const query = new URL(page.url()).search;
    const api = (await (
      await fetch(`${server.url}/v1/admin/dashboard${query}`, { headers: { authorization: `Bearer ${opsToken}` } })
    ).json()) as any;
    const gmv = await plotted(page, "gmv-chart");
    expect(gmv.labels).toHaveLength(30);
    expect(gmv.data[0]).toEqual(api.series.map((p: { gmvMinor: number }) => p.gmvMinor / 100));
    // The demo's past tips (dev/seed-earnings.ts) are on the chart.
    expect(gmv.data[0]?.filter((v) => v > 0).length).toBeGreaterThanOrEqual(10);
    for (const id of [
      "gmv-chart",
      "tips-chart",
      "payers-chart",
      "packets-chart",
      "top-creators",
      "top-rooms",
      "top-gifts",
    ]) {
      expect(await inkOf(page, id), id).toBeGreaterThan(500);
    }
    // Paid unlocks: the demo's one (fan-xiao, the 6.00 guitar notes, seeded today: dev/seed-content.ts)
    // is a series in the tips chart beside the tips, and on its card.
    const tips = await plotted(page, "tips-chart");
    expect(tips.data).toHaveLength(2);
    expect(tips.data[1]).toEqual(api.series.map((p: { unlockCount: number }) => p.unlockCount));
    expect(tips.data[1]?.filter((n) => n > 0)).toEqual([1]);
    expect(api.series.filter((p: { unlockCount: number }) => p.unlockCount > 0)).toEqual([
      expect.objectContaining({ unlockCount: 1, unlockMinor: 600 }),
    ]);
    const unlockMinor = api.series.reduce((s: number, p: { unlockMinor: number }) => s + p.unlockMinor, 0);
    expect(unlockMinor).toBe(600);
    expect(await page.locator("#kpi-unlocks").textContent()).toBe("¥6.00");
    expect(await page.locator("#kpi-unlocks-note").textContent()).toBe("1 unlock, gross");
    // GMV holds it: the card is the series' sum of tips, unlocks and wallet packets.
    const gmvMinor = api.series.reduce(
      (s: number, p: { tipMinor: number; unlockMinor: number; packetPaidMinor: number }) =>
        s + p.tipMinor + p.unlockMinor + p.packetPaidMinor,
      0,
    );
    expect(await page.locator("#kpi-gmv").textContent()).toBe(
      `¥${Math.floor(gmvMinor / 100)}.${String(gmvMinor % 100).padStart(2, "0")}`,
    );
    const creators = await plotted(page, "top-creators");
    expect(creators.labels.length).toBeGreaterThanOrEqual(1);
    expect(creators.labels).toContain("Lin");
    await page.screenshot({ path: `${ARTIFACTS}/console-dashboard-1280.png`, fullPage: true });

    // Grain: weeks.
    await page.click('[data-grain="week"]');
    await page.waitForSelector('body[data-loaded^="week:"]', { state: "attached" });
    const weeks = await plotted(page, "gmv-chart");
    expect(weeks.labels.length).toBeGreaterThanOrEqual(5);
    expect(weeks.labels.every((l) => /^\d{4}-W\d{2}$/.test(l))).toBe(true);
    expect(weeks.data[0]?.reduce((a, b) => a + b, 0)).toBeCloseTo(gmv.data[0]?.reduce((a, b) => a + b, 0) ?? 0, 2);
    expect(await page.getAttribute('[data-grain="week"]', "aria-pressed")).toBe("true");

    // CSV: one line per week after the header.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv-link")]);
    expect(download.suggestedFilename()).toMatch(/^giftwire-dashboard-week-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = await readFile((await download.path()) as string, "utf8");
    const lines = csv.trimEnd().split("\r\n");
    expect(lines[0]).toMatch(/^period,gmv,.*,tips,unlocks_amount,unlocks,/);
    expect(lines).toHaveLength(1 + weeks.labels.length);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("fits a tablet: the nav on top, panels stacked, nothing wider than the screen", async () => {
    const context = await browser.newContext({ viewport: { width: 820, height: 1180 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/console/dashboard.html?token=${opsToken}&grain=month`);
    await page.waitForSelector('body[data-loaded^="month:"]', { state: "attached" });
    const overflow = await page.evaluate(() => {
      const d = (globalThis as any).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });
    expect(overflow).toBe(0);
    expect(await inkOf(page, "gmv-chart")).toBeGreaterThan(500);
    await page.screenshot({ path: `${ARTIFACTS}/console-dashboard-tablet.png`, fullPage: true });
    await context.close();
  });
});
