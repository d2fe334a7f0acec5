import { describe, expect, it } from "vitest";
import { DEMO_ARTICLES } from "../../dev/seed-content";
import { ARTIFACTS, hasBrowser } from "./chromium";
import { useConsole } from "./console-fixture";

/**
 * Unlocks and content items in the console's search page, in Chromium against what `npm start`
 * runs (issues 17 and 19): ops-mei finds viewer-bo's unlock by the reader, opens it, requests its
 * refund — four-eyed, so a 202 proposal — ops-kai approves it on the proposals page, and the
 * unlock then shows revoked and refunded with both legs; ops-mei archives a content item from its
 * detail (and the seed's own unlock and content tip are there to find).
 */
describe.skipIf(!hasBrowser)("unlocks and content items in the console", () => {
  const demo = useConsole();
  const { call, open } = demo;
  const article = DEMO_ARTICLES[0];

  it("an operator finds an unlock by its reader, requests its refund (202); a second operator approves; it shows revoked and refunded", async () => {
    const unlocked = await call("POST", `/v1/content/${article.id}/unlock`, "viewer-bo", {});
    expect(unlocked.status).toBe(201);
    const unlockId = unlocked.data.unlock.id as string;
    expect(unlockId).toMatch(/^unl_/);

    const { page, errors } = await open("ops-mei", "/console/search.html");
    await page.waitForSelector("body[data-results]", { state: "attached" });
    await page.selectOption("#kind", "unlocks");
    await page.fill("#userId", "viewer-bo");
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('body[data-query="unlocks?userId=viewer-bo&kind=unlocks"]', { state: "attached" });
    const rows = page.locator("#results tbody tr");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getAttribute("data-id")).toBe(unlockId);
    expect(await rows.first().getAttribute("data-state")).toBe("active");
    expect((await rows.first().locator("td").allTextContents()).slice(3, 7)).toEqual([
      "viewer-bo",
      "creator-lin",
      article.id,
      "6.00 CNY",
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/console-unlocks-results-1280.png`, fullPage: true });

    await rows.first().locator("button.link").click();
    await page.waitForSelector(`body[data-detail="unlocks:${unlockId}"]`, { state: "attached" });
    expect(await page.locator("#detail-state").textContent()).toBe("active");
    expect(await page.locator(`.operation[data-id="${unlockId}"]`).count()).toBe(1);

    // The creator's part crosses to creator-lin's shard first; a refund before it lands is refused (in flight).
    await expect
      .poll(
        async () =>
          (await call("GET", `/v1/admin/search/unlocks/${unlockId}`, "ops-mei")).data.operations.some((o: any) =>
            String(o.id).startsWith(`${unlockId}>`),
          ),
        { timeout: 30_000, interval: 250 },
      )
      .toBe(true);

    const refund = page.locator("#actions form", { hasText: "Refund this unlock" });
    await refund.locator('input[name="reason"]').fill("the article was withdrawn");
    await refund.locator('button[type="submit"]').click();
    await page.waitForSelector('.action-result[data-status="202"]');
    const proposalId = (await page
      .locator('.action-result[data-status="202"]')
      .getAttribute("data-proposal")) as string;
    expect(proposalId).toMatch(/^prp_/);
    expect((await call("GET", `/v1/admin/proposals/${proposalId}`, "ops-kai")).data).toMatchObject({
      state: "pending",
      proposerId: "ops-mei",
      permission: "tip.reverse",
      path: `/v1/admin/unlocks/${unlockId}/refund`,
    });
    await page.screenshot({ path: `${ARTIFACTS}/console-unlocks-proposed-1280.png`, fullPage: true });
    expect((await call("GET", `/v1/admin/search/unlocks/${unlockId}`, "ops-mei")).data.record.state).toBe("active");

    const checker = await open("ops-kai", "/console/proposals.html");
    await checker.page.waitForSelector("body[data-loaded]", { state: "attached" });
    const card = checker.page.locator(`.proposal[data-id="${proposalId}"]`);
    await card.locator("button.approve").click();
    await checker.page.waitForSelector(`.proposal[data-id="${proposalId}"][data-state="executed"]`);
    expect(await card.locator(".result-status").textContent()).toBe("Its request answered 201");
    expect(checker.errors).toEqual([]);

    // Both legs: the creator's part back in creator-lin's shard, then the payer's (which revokes).
    await expect
      .poll(async () => (await call("GET", `/v1/admin/search/unlocks/${unlockId}`, "ops-mei")).data.record.state, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe("revoked");
    const detail = (await call("GET", `/v1/admin/search/unlocks/${unlockId}`, "ops-mei")).data;
    const refundId = detail.related.refund.id as string;
    expect(detail.related.refund.payerLegDone).toBe(true);
    await page.reload();
    await page.waitForSelector(`body[data-detail="unlocks:${unlockId}"]`, { state: "attached" });
    await page.waitForSelector('body[data-detail-state="revoked · refunded"]', { state: "attached" });
    expect(await page.locator("#transitions tbody tr").evaluateAll((rs) => rs.map((r: any) => r.dataset.to))).toEqual([
      "active",
      "revoked",
    ]);
    expect(await page.locator(`.operation[data-id="${refundId}"]`).count()).toBe(1);
    expect(await page.locator(`.operation[data-id="${refundId}:payer"]`).count()).toBe(1);
    expect(await page.locator('#figures dd[data-figure="payerLeg"]').textContent()).toMatch(/^6\.00 CNY back|back/);
    expect(await page.locator("#actions form", { hasText: "Refund this unlock" }).count()).toBe(0);
    await page.waitForSelector(`#results tbody tr[data-id="${unlockId}"][data-state="revoked"]`);
    await page.screenshot({ path: `${ARTIFACTS}/console-unlocks-refunded-1280.png`, fullPage: true });
    expect(errors).toEqual([]);
  });

  it("an operator opens a content item (figures, the seed's unlock and tip) and archives it from its detail", async () => {
    const { page, errors } = await open("ops-mei", "/console/search.html?kind=content&creatorId=creator-lin");
    await page.waitForSelector("body[data-results]", { state: "attached" });
    expect(Number(await page.evaluate(() => (globalThis as any).document.body.dataset.results))).toBe(2);
    await page.locator(`#results tbody tr[data-id="${article.id}"] button.link`).click();
    await page.waitForSelector(`body[data-detail="content:${article.id}"]`, { state: "attached" });
    expect(await page.locator("#detail-state").textContent()).toBe("active");
    expect(await page.locator('#figures dd[data-figure="price"]').textContent()).toBe("6.00 CNY");
    // The seed's unlock (fan-xiao) and its 8.80 content tip at least.
    const detail = (await call("GET", `/v1/admin/search/content/${article.id}`, "ops-mei")).data;
    expect(detail.related.figures.unlockCount).toBeGreaterThanOrEqual(1);
    expect(detail.related.figures.tipSumMinor).toBeGreaterThanOrEqual(8_80);
    expect(detail.related.recentUnlocks.some((u: any) => u.user_id === "fan-xiao")).toBe(true);
    expect(await page.locator('#figures dd[data-figure="unlocks"]').textContent()).toBe(
      `${detail.related.figures.unlockCount} · ${(detail.related.figures.unlockSumMinor / 100).toFixed(2)} CNY gross · ${detail.related.figures.revokedCount} refunded`,
    );
    await page.screenshot({ path: `${ARTIFACTS}/console-content-detail-1280.png`, fullPage: true });

    const archive = page.locator("#actions form", { hasText: "Archive this item" });
    await archive.locator('button[type="submit"]').click();
    // The outcome, whatever it is (an error names itself), stays on top of the reloaded actions.
    const outcome = page.locator("#actions .action-result[data-status]");
    await outcome.waitFor();
    expect(await outcome.getAttribute("data-status"), (await outcome.textContent()) ?? "").toBe("200");
    await page.waitForSelector('body[data-detail-state="archived"]', { state: "attached" });
    expect(await outcome.textContent()).toMatch(/^Done \(200\): Archive this item/);
    expect(await page.locator('#figures dd[data-figure="status"]').textContent()).toBe("archived");
    expect(await page.locator("#actions form", { hasText: "Unarchive this item" }).count()).toBe(1);
    // The results list above is read again: the item's row says archived too.
    await page.waitForSelector(`#results tbody tr[data-id="${article.id}"][data-state="archived"]`);
    // Audited: content.update by ops-mei.
    const audit = await call("GET", `/v1/admin/audit?target=${article.id}`, "ops-mei");
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.data)).toContain("content.update");
    await page.screenshot({ path: `${ARTIFACTS}/console-content-archived-1280.png`, fullPage: true });

    // The seed's content tip: found from the item's "Its tips", room null, the item shown.
    await page.click("#links a:has-text('Its tips')");
    await page.waitForSelector(`body[data-query="tips?contentId=${article.id}&kind=tips"]`, { state: "attached" });
    const tipRow = page.locator("#results tbody tr").first();
    expect((await tipRow.locator("td").allTextContents())[5]).toBe(article.id);
    await tipRow.locator("button.link").click();
    await page.waitForSelector("body[data-detail^='tips:']", { state: "attached" });
    expect(await page.locator(`#links a:has-text('Content ${article.id}')`).count()).toBe(1);
    expect(errors).toEqual([]);
  });
});
