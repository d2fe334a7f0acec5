import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, hasBrowser, launchChromium } from "./chromium";
import { type DevServer, seedDemoServer, startDevServer } from "./dev-server";

describe.skipIf(!hasBrowser)("the sandbox payer page in Chromium", () => {
  let server: DevServer;
  let browser: Browser;
  let ana: string;

  beforeAll(async () => {
    server = await startDevServer();
    const seed = await seedDemoServer(server.url);
    ana = seed.users.find((u) => u.userId === "viewer-ana")?.token as string;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const api = async (method: string, path: string, body?: unknown, key?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${ana}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (key) headers["idempotency-key"] = key;
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it("a payer tops up with the sandbox: the sheet shows the order, approving credits the wallet once", async () => {
    const before = (await api("GET", "/v1/users/viewer-ana/wallet")).body.balanceMinor as number;
    const created = await api(
      "POST",
      "/v1/payments/orders",
      { kind: "topup", method: "sandbox", amount: "52.00" },
      `browser-topup-${Date.now()}`,
    );
    expect(created.status).toBe(201);
    expect(created.body.payment.kind).toBe("sandbox_approval");
    // The payer link leads to the sandbox provider's own Worker, not to giftwire.
    const payUrl = created.body.payment.url as string;
    expect(payUrl).toMatch(new RegExp(`^${server.sandboxUrl}/pay\\?order=${created.body.order.id}&code=[0-9a-f]{32}$`));

    const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await page.goto(payUrl);
    await page.locator("#payment").waitFor();
    expect(await page.locator("#amount-yuan").textContent()).toBe("52");
    expect(await page.locator("#amount-fen").textContent()).toBe(".00");
    expect(await page.locator("#order-no").textContent()).toBe(created.body.order.id);
    // The pay code, the payment's capability, does not stay in the address bar.
    expect(page.url()).toBe(`${server.sandboxUrl}/pay?order=${created.body.order.id}`);
    await page.screenshot({ path: `${ARTIFACTS}/sandbox-pay-open.png` });

    await page.click("#approve");
    await page.locator('#outcome[data-state="succeeded"]').waitFor({ timeout: 15_000 });
    await page.locator('#callback[data-state="delivered"]').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: `${ARTIFACTS}/sandbox-pay-approved.png` });

    let order = created.body.order;
    for (let i = 0; i < 100 && order.state !== "succeeded"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      order = (await api("GET", `/v1/payments/orders/${order.id}`)).body.order;
    }
    expect(order.state).toBe("succeeded");
    expect((await api("GET", "/v1/users/viewer-ana/wallet")).body.balanceMinor).toBe(before + 5200);
    // Approving again changes nothing: the decision is already made, the money arrived once.
    await page.reload();
    await page.locator('#outcome[data-state="succeeded"]').waitFor();
    expect(await page.locator("#actions").isHidden()).toBe(true);
    expect((await api("GET", "/v1/users/viewer-ana/wallet")).body.balanceMinor).toBe(before + 5200);
  });
});
