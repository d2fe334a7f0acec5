import { describe, expect, it } from "vitest";
import { ARTIFACTS, hasBrowser } from "./chromium";
import { useConsole } from "./console-fixture";

/**
 * The operator console's proposals queue and audit log in Chromium, against what `npm start`
 * runs: ops-mei proposes a wallet credit above FOUR_EYES_ADJUSTMENT_MINOR (1,000.00 by default),
 * ops-kai approves it on the proposals page, ops-mei cannot approve her own, and the audit page
 * shows the adjustment's entry with every chain verified.
 */
describe.skipIf(!hasBrowser)("the console's proposals and audit pages in Chromium", () => {
  const { call, open } = useConsole();

  async function propose(amount: string): Promise<string> {
    const reason = `Goodwill credit ${crypto.randomUUID().slice(0, 8)}`;
    const res = await call("POST", "/v1/users/viewer-bo/wallet/adjustments", "ops-mei", {
      direction: "credit",
      amount,
      reason,
    });
    expect(res.status).toBe(202);
    return res.data.proposal.id as string;
  }

  async function pendingCount(): Promise<number> {
    return (await call("GET", "/v1/admin/proposals?state=pending&limit=100", "ops-kai")).data.items.length;
  }

  let adjustmentId = "";
  let shard = "";

  it("a second operator sees the pending proposal (badged) and approves it: executed, with its answer", async () => {
    const first = await propose("2000.00");
    const second = await propose("1500.00");
    const pending = await pendingCount();
    expect(pending).toBeGreaterThanOrEqual(2);

    const { page, errors } = await open("ops-kai", "/console/proposals.html");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    await page.waitForSelector("body[data-pending]", { state: "attached" });
    expect(await page.locator("#who").textContent()).toBe("ops-kai");
    expect(await page.locator("#proposals-badge").textContent()).toBe(String(pending));
    expect(await page.locator("#proposals-badge").isVisible()).toBe(true);
    expect(await page.locator('.console-nav a[aria-current="page"]').textContent()).toMatch(/^Proposals/);

    const card = page.locator(`.proposal[data-id="${first}"]`);
    expect(await card.locator(".summary").textContent()).toMatch(/^Credit 2000\.00 to viewer-bo's wallet: Goodwill/);
    expect(await card.locator(".proposer").textContent()).toBe("ops-mei");
    expect(await card.locator(".meta").textContent()).toMatch(
      /needs wallet\.adjust · proposed just now · expires in 24 h/,
    );
    expect(await card.locator(".request").textContent()).toBe("POST /v1/users/viewer-bo/wallet/adjustments");
    const body = JSON.parse((await card.locator(".request-body").textContent()) as string);
    expect(body).toMatchObject({ direction: "credit", amount: "2000.00" });
    expect(await card.locator(".request-body").textContent()).toContain('\n  "direction": "credit"');
    await page.screenshot({ path: `${ARTIFACTS}/console-proposals-1280.png`, fullPage: true });

    await card.locator("input").fill("Ticket checked");
    await card.locator("button.approve").click();
    await page.waitForSelector(`.proposal[data-id="${first}"][data-state="executed"]`);
    expect(await card.locator(".state").textContent()).toBe("executed");
    expect(await card.locator("button.approve").isVisible()).toBe(false);
    expect(await card.locator(".outcome").textContent()).toContain("executed by ops-kai: “Ticket checked”");
    expect(await card.locator(".result-status").textContent()).toBe("Its request answered 201");
    const result = JSON.parse((await card.locator(".result-body").textContent()) as string);
    expect(result.adjustment).toMatchObject({ userId: "viewer-bo", amountMinor: 200_000, actorId: "ops-mei" });
    adjustmentId = result.adjustment.id;
    await page.waitForFunction((n) => (globalThis as any).document.body.dataset.pending === String(n), pending - 1);
    expect(await page.locator("#proposals-badge").textContent()).toBe(String(pending - 1));
    await page.screenshot({ path: `${ARTIFACTS}/console-proposals-approved-1280.png`, fullPage: true });

    // The proposal is decided on the server too; the other stays pending.
    const decided = await call("GET", `/v1/admin/proposals/${first}`, "ops-kai");
    expect(decided.data).toMatchObject({ state: "executed", deciderId: "ops-kai" });
    expect((await call("GET", `/v1/admin/proposals/${second}`, "ops-kai")).data.state).toBe("pending");
    expect(errors).toEqual([]);
  });

  it("the proposer's own approval is refused on the page with proposal_own; she may withdraw it", async () => {
    const own = await propose("1200.00");
    const { page, errors } = await open("ops-mei", "/console/proposals.html");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    const card = page.locator(`.proposal[data-id="${own}"]`);
    expect(await card.locator(".meta").textContent()).toContain("ops-mei (you)");
    await card.locator("button.approve").click();
    await page.waitForSelector(`.proposal[data-id="${own}"][data-error="proposal_own"]`);
    expect(await card.locator(".decision-error").textContent()).toBe(
      "A proposal needs a second operator: you cannot approve or reject your own. (proposal_own)",
    );
    expect(await card.getAttribute("data-state")).toBe("pending");
    expect((await call("GET", `/v1/admin/proposals/${own}`, "ops-mei")).data.state).toBe("pending");
    await page.screenshot({ path: `${ARTIFACTS}/console-proposals-own-1280.png`, fullPage: true });

    await card.locator("button.reject").click();
    await page.waitForSelector(`.proposal[data-id="${own}"][data-state="withdrawn"]`);
    expect((await call("GET", `/v1/admin/proposals/${own}`, "ops-mei")).data.state).toBe("withdrawn");
    expect(errors).toEqual([]);
  });

  it("the audit page shows every chain verified and the adjustment's entry under action wallet.adjust", async () => {
    expect(adjustmentId).not.toBe("");
    const report = (await call("GET", "/v1/admin/audit/verify", "ops-mei")).data;
    expect(report.ok).toBe(true);
    // The adjustment's entry is in viewer-bo's ledger shard's chain.
    for (const c of report.chains) {
      const page = (await call("GET", `/v1/admin/audit?chain=${c.chain}&action=wallet.adjust`, "ops-mei")).data;
      if (page.items.some((e: any) => e.detail?.after?.adjustmentId === adjustmentId)) shard = c.chain;
    }
    expect(shard).toMatch(/^ledger-\d+$/);

    const { page, errors } = await open("ops-mei", "/console/audit.html");
    await page.waitForSelector('body[data-verified="ok"]', { state: "attached" });
    const chains = page.locator(".verify li");
    expect(await chains.count()).toBe(report.chains.length);
    expect(await page.locator(".verify li.ok").count()).toBe(report.chains.length);
    const head = report.chains.find((c: any) => c.chain === shard);
    expect(await page.locator(`.verify li[data-chain="${shard}"]`).textContent()).toBe(
      `${shard}verified: ${head.length} ${head.length === 1 ? "entry" : "entries"}head hash ${head.headHash.slice(0, 12)}…`,
    );
    const green = await page
      .locator(".verify li.ok")
      .first()
      .evaluate((n) => (globalThis as any).getComputedStyle(n).color);
    expect(green).toBe("rgb(95, 240, 198)");

    await page.selectOption("#chain", shard);
    await page.waitForSelector(`body[data-loaded^="${shard}:"]`, { state: "attached" });
    await page.fill("#action", "wallet.adjust");
    await page.fill("#target", "viewer-bo");
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector(`body[data-query="chain=${shard}&action=wallet.adjust&target=viewer-bo"]`, {
      state: "attached",
    });
    const actions = await page
      .locator("#entries tbody tr")
      .evaluateAll((rows) => rows.map((r: any) => r.dataset.action));
    expect(actions.length).toBeGreaterThanOrEqual(1);
    expect(actions.every((a) => a === "wallet.adjust")).toBe(true);
    const row = page.locator("#entries tbody tr", { hasText: adjustmentId });
    expect(await row.count()).toBe(1);
    const cells = await row.locator("td").allTextContents();
    expect(cells[2]).toBe("ops-mei");
    expect(cells[3]).toBe("wallet.adjust");
    expect(cells[4]).toBe("viewer-bo");
    expect(cells[5]).not.toBe("");
    expect(cells[6]).toContain('"amountMinor":200000');
    expect(cells[7]).toMatch(/^[0-9a-f]{12}…$/);
    expect(new URL(page.url()).searchParams.get("action")).toBe("wallet.adjust");
    await page.screenshot({ path: `${ARTIFACTS}/console-audit-1280.png`, fullPage: true });

    // A time range that ends before the adjustment leaves it out.
    await page.fill("#to", "2020-01-01T00:00");
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('body[data-query*="toMs="]', { state: "attached" });
    expect(await page.locator("#empty").isVisible()).toBe(true);
    expect(await page.locator("#entries tbody tr").count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it("with no token and no Cloudflare Access, a page offers the demo operators; picking one signs in", async () => {
    const { page, errors } = await open(null, "/console/proposals.html");
    await page.waitForSelector("#signin:not([hidden])");
    expect(await page.locator(".console-nav a").count()).toBe(6);
    expect(await page.locator("#demo-users button").allTextContents()).toEqual([
      "ops-mei (demo operator)",
      "ops-kai (demo operator)",
    ]);
    await page.locator("#demo-users button", { hasText: "ops-kai" }).click();
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    expect(await page.locator("#who").textContent()).toBe("ops-kai");
    expect(await page.locator("#signin").isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });

  it("fits a tablet: nav on top with the badge, nothing wider than the screen", async () => {
    for (const [path, name] of [
      [`/console/audit.html?chain=${shard}&action=wallet.adjust`, "audit"],
      ["/console/proposals.html", "proposals"],
    ] as const) {
      const { page, errors } = await open("ops-mei", path, 820, 1180);
      await page.waitForSelector("body[data-loaded]", { state: "attached" });
      const overflow = await page.evaluate(() => {
        const d = (globalThis as any).document.documentElement;
        return d.scrollWidth - d.clientWidth;
      });
      expect(overflow, name).toBe(0);
      await page.screenshot({ path: `${ARTIFACTS}/console-${name}-tablet.png`, fullPage: true });
      expect(errors).toEqual([]);
    }
  });
});
