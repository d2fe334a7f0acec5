import { describe, expect, it } from "vitest";
import { DEMO_PIN } from "../../dev/seed";
import { ARTIFACTS, hasBrowser } from "./chromium";
import { useConsole } from "./console-fixture";

/**
 * The console's search page in Chromium, against what `npm start` runs (issue 17): ops-mei finds
 * viewer-bo by id, follows to the viewer's tips, opens the one just sent, sees its record,
 * transitions and ledger postings, and requests its reversal — kept as a four-eyes proposal
 * (202) and shown as such; ops-kai approves it on the proposals page; the tip then shows
 * reversed, with the reversal's operations. At 1280 px and at a tablet's 800 px.
 */
describe.skipIf(!hasBrowser)("the console's search page in Chromium", () => {
  const demo = useConsole();
  const { call, open } = demo;

  it("an operator finds a viewer, opens a tip, requests its reversal (202 proposal); a second operator approves; the tip shows reversed", async () => {
    // viewer-bo tips creator-lin's room: the tip to find.
    const sent = await call("POST", `/v1/rooms/${demo.seed.roomId}/tips`, "viewer-bo", {
      kind: "custom",
      amount: "12.34",
      pin: DEMO_PIN,
    });
    expect(sent.status).toBe(201);
    const tipId = sent.data.tip?.id ?? sent.data.id;
    expect(tipId).toMatch(/^tip_/);

    const { page, errors } = await open("ops-mei", "/console/search.html");
    await page.waitForSelector("body[data-results]", { state: "attached" });
    expect(await page.locator('.console-nav a[aria-current="page"]').textContent()).toBe("Search");

    // Find the viewer by id.
    await page.selectOption("#kind", "users");
    await page.fill("#id", "viewer-bo");
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('body[data-query="users?id=viewer-bo&kind=users"]', { state: "attached" });
    const userRows = page.locator("#results tbody tr");
    expect(await userRows.count()).toBe(1);
    expect(await userRows.first().getAttribute("data-id")).toBe("viewer-bo");
    await page.screenshot({ path: `${ARTIFACTS}/console-search-user-1280.png`, fullPage: true });

    // Open the viewer, follow to their tips, open the tip.
    await userRows.first().locator("button.link").click();
    await page.waitForSelector('body[data-detail="users:viewer-bo"]', { state: "attached" });
    expect(await page.locator('#record dd[data-field="userId"]').textContent()).toBe("viewer-bo");
    expect(await page.locator("#actions form").count()).toBe(1); // ops-mei holds wallet.adjust
    await page.click("#links a:has-text('Their tips')");
    await page.waitForSelector('body[data-query="tips?userId=viewer-bo&kind=tips"]', { state: "attached" });
    const tipRow = page.locator(`#results tbody tr[data-id="${tipId}"]`);
    expect(await tipRow.count()).toBe(1);
    expect(await tipRow.getAttribute("data-state")).toBe("sent");
    expect((await tipRow.locator("td").allTextContents()).slice(3, 7)).toEqual([
      "viewer-bo",
      "creator-lin",
      demo.seed.roomId,
      "12.34 CNY",
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/console-search-results-1280.png`, fullPage: true });

    await tipRow.locator("button.link").click();
    await page.waitForSelector(`body[data-detail="tips:${tipId}"]`, { state: "attached" });
    expect(await page.locator("#detail-state").textContent()).toBe("sent");
    expect(await page.locator('#record dd[data-field="amount_minor"]').textContent()).toBe("1234");
    expect(await page.locator("#transitions tbody tr").count()).toBe(1);
    // The tip's operation, with its postings: viewer-bo's wallet paid the whole 12.34.
    const tipOp = page.locator(`.operation[data-id="${tipId}"]`);
    expect(await tipOp.count()).toBe(1);
    const postings = await tipOp
      .locator("tbody tr")
      .evaluateAll((rows) => rows.map((r: any) => [...r.querySelectorAll("td")].map((td: any) => td.textContent)));
    expect(postings.filter((p) => p[0] === "user:viewer-bo:wallet").map((p) => p[2])).toEqual(
      expect.arrayContaining([expect.stringMatching(/ CNY$/)]),
    );
    await page.screenshot({ path: `${ARTIFACTS}/console-search-detail-1280.png`, fullPage: true });

    // Request the reversal: four-eyed, so a 202 proposal, shown as such.
    const reverse = page.locator("#actions form", { hasText: "Reverse this tip" });
    await reverse.locator('input[name="reason"]').fill("chargeback: stolen card");
    await reverse.locator('button[type="submit"]').click();
    await page.waitForSelector('.action-result[data-status="202"]');
    const outcome = page.locator('.action-result[data-status="202"]');
    expect(await outcome.textContent()).toMatch(/^Proposed — waiting for a second operator\. Reverse tip /);
    const proposalId = (await outcome.getAttribute("data-proposal")) as string;
    expect(proposalId).toMatch(/^prp_/);
    expect((await call("GET", `/v1/admin/proposals/${proposalId}`, "ops-kai")).data).toMatchObject({
      state: "pending",
      proposerId: "ops-mei",
      permission: "tip.reverse",
      path: `/v1/admin/tips/${tipId}/reversal`,
    });
    await page.screenshot({ path: `${ARTIFACTS}/console-search-proposed-1280.png`, fullPage: true });
    // Nothing moved yet.
    expect((await call("GET", `/v1/admin/search/tips/${tipId}`, "ops-mei")).data.record.reversed).toBe(false);

    // ops-kai approves it on the proposals page.
    const checker = await open("ops-kai", "/console/proposals.html");
    await checker.page.waitForSelector("body[data-loaded]", { state: "attached" });
    const card = checker.page.locator(`.proposal[data-id="${proposalId}"]`);
    await card.locator("button.approve").click();
    await checker.page.waitForSelector(`.proposal[data-id="${proposalId}"][data-state="executed"]`);
    expect(await card.locator(".result-status").textContent()).toBe("Its request answered 201");
    expect(checker.errors).toEqual([]);

    // Back on the search page: the tip shows reversed, with the reversal's operation.
    await page.reload();
    await page.waitForSelector(`body[data-detail="tips:${tipId}"]`, { state: "attached" });
    await page.waitForSelector('body[data-detail-state="reversed"]', { state: "attached" });
    expect(await page.locator("#detail-state").textContent()).toBe("reversed");
    expect(await page.locator("#transitions tbody tr").evaluateAll((rs) => rs.map((r: any) => r.dataset.to))).toEqual([
      "sent",
      "reversed",
    ]);
    const reversalId = (await call("GET", `/v1/admin/search/tips/${tipId}`, "ops-mei")).data.related.reversal.id;
    expect(await page.locator(`.operation[data-id="${reversalId}"]`).count()).toBe(1);
    expect(await page.locator("#actions form", { hasText: "Reverse this tip" }).count()).toBe(0);
    await page.waitForSelector(`#results tbody tr[data-id="${tipId}"][data-state="reversed"]`);
    await page.screenshot({ path: `${ARTIFACTS}/console-search-reversed-1280.png`, fullPage: true });
    expect(errors).toEqual([]);
  });

  it("works at a tablet's width: the nav above, the results scroll inside their box, the detail in one column", async () => {
    const { page, errors } = await open("ops-kai", "/console/search.html?kind=tips&creatorId=creator-lin", 800, 1100);
    await page.waitForSelector("body[data-results]", { state: "attached" });
    expect(Number(await page.evaluate(() => (globalThis as any).document.body.dataset.results))).toBeGreaterThan(0);
    // Nothing wider than the viewport but the results' own scrolling box.
    const pageWidth = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth);
    expect(pageWidth).toBeLessThanOrEqual(800);
    await page.locator("#results tbody tr button.link").first().click();
    await page.waitForSelector("body[data-detail^='tips:']", { state: "attached" });
    const [record, transitions] = await page
      .locator(".detail-grid > div")
      .evaluateAll((ds) => ds.map((d: any) => d.getBoundingClientRect().top));
    expect(transitions as number).toBeGreaterThan(record as number);
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      800,
    );
    await page.screenshot({ path: `${ARTIFACTS}/console-search-detail-800.png`, fullPage: true });
    expect(errors).toEqual([]);
  });
});
