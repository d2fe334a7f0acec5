import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { DEMO_ARTICLES } from "../../dev/seed-content";
import { ARTIFACTS, hasBrowser } from "./chromium";
import { useConsole } from "./console-fixture";

/**
 * The console's work queues and configuration in Chromium, against what `npm start` runs (its
 * seed leaves a reconciliation finding, a withdrawal in review, a held tip, a creator
 * verification, a held tip message, a payment flag and a dead letter): an operator resolves the
 * finding, another approves the withdrawal from the queue, a risk reviewer approves the held tip,
 * the held message is approved and the dead letter replayed; ops-mei proposes a switch on the
 * configuration page and ops-kai approves it on the proposals page. Screenshots of every
 * queue and of the configuration page at 1280 px and at tablet width.
 */
describe.skipIf(!hasBrowser)("the console's work queues and configuration in Chromium", () => {
  const demo = useConsole();
  const { call, open } = demo;

  /** The queues the demo seed leaves work in (payouts stuck and proposals it leaves empty). */
  const SEEDED = [
    "findings",
    "withdrawals",
    "riskReviews",
    "verifications",
    "heldMessages",
    "paymentFlags",
    "deadLetters",
  ];

  const counts = async (as = "ops-mei") => (await call("GET", "/v1/admin/queues", as)).data.counts;

  async function showQueue(page: Page, queue: string) {
    await page.click(`.queue-tab[data-queue="${queue}"]`);
    await page.waitForSelector(`body[data-loaded^="${queue}:"]`, { state: "attached" });
  }

  it("shows a tab per queue with its count, the seeded items in them, and the nav's total", async () => {
    const before = await counts();
    // The seed's work: one each (at least: a re-seed adds none).
    for (const q of SEEDED) expect(before[q], q).toBeGreaterThanOrEqual(1);
    const { page, errors } = await open("ops-mei", "/console/queues.html");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    await page.waitForSelector("body[data-queued]", { state: "attached" });
    const total = Object.entries(before)
      .filter(([q]) => q !== "proposals")
      .reduce((s, [, n]) => s + (n as number), 0);
    expect(await page.locator("#queues-badge").textContent()).toBe(String(total));
    expect(await page.locator('.console-nav a[aria-current="page"]').textContent()).toMatch(/^Queues/);
    expect(await page.locator(".queue-tab").count()).toBe(9);
    for (const [q, n] of Object.entries(before)) {
      expect(await page.locator(`#count-${q}`).textContent(), q).toBe(String(n));
    }
    for (const q of [...SEEDED, "payoutsStuck", "proposals"]) {
      await showQueue(page, q);
      const shown = Number((await page.evaluate(() => (globalThis as any).document.body.dataset.loaded)).split(":")[1]);
      expect(shown, q).toBe(Math.min(before[q], 100));
      expect(await page.locator("#empty").isVisible(), q).toBe(shown === 0);
      await page.screenshot({ path: `${ARTIFACTS}/console-queue-${q}-1280.png`, fullPage: true });
    }
    expect(errors).toEqual([]);
  });

  it("an operator resolves a reconciliation finding with a note; it leaves the queue, audited", async () => {
    const open0 = (await call("GET", "/v1/admin/reconciliation-findings?limit=100", "ops-mei")).data.findings;
    const finding = open0[0];
    expect(finding).toMatchObject({ kind: "missing_ours", channel: "sandbox", theirsAmountMinor: 1880 });
    const before = await counts();

    const { page, errors } = await open("ops-mei", "/console/queues.html#findings");
    await page.waitForSelector('body[data-loaded^="findings:"]', { state: "attached" });
    const card = page.locator(`.queue-item[data-id="${finding.id}"]`);
    expect(await card.locator(".summary").textContent()).toBe("missing ours · sandbox statement of 2026-01-05");
    expect(await card.locator(".finding-text").textContent()).toBe("a payment for an order we do not have");
    // No note: refused on the page, nothing sent.
    await card.locator("button.approve").click();
    expect(await card.locator(".decision-error").textContent()).toBe("What was done (required) needed to resolve.");
    await card.locator("input").fill("Provider test payment; no order of ours. Ignored.");
    await card.locator("button.approve").click();
    await page.waitForSelector(`.queue-item[data-id="${finding.id}"][data-state="resolved"]`);
    expect(await card.locator(".outcome").textContent()).toBe(
      "Resolved by ops-mei: “Provider test payment; no order of ours. Ignored.”",
    );
    await page.waitForFunction(
      (n) => (globalThis as any).document.getElementById("count-findings")?.textContent === String(n),
      before.findings - 1,
    );
    await page.screenshot({ path: `${ARTIFACTS}/console-queue-findings-resolved-1280.png`, fullPage: true });

    const resolved = (await call("GET", "/v1/admin/reconciliation-findings?state=resolved&limit=100", "ops-mei")).data
      .findings;
    expect(resolved.find((f: { id: string }) => f.id === finding.id)).toMatchObject({ resolvedBy: "ops-mei" });
    const audit = (await call("GET", "/v1/admin/audit?chain=control&action=reconciliation.finding.resolve", "ops-mei"))
      .data;
    expect(
      audit.items.some((e: { target: string; actor: string }) => e.target === finding.id && e.actor === "ops-mei"),
    ).toBe(true);
    expect(errors).toEqual([]);
  });

  it("a finance operator approves a withdrawal from the queue, seeing why it waited; it is sent", async () => {
    const waiting = (await call("GET", "/v1/admin/withdrawals?state=requested&limit=100", "ops-kai")).data.withdrawals;
    const w = waiting[0];
    expect(w).toMatchObject({ creatorId: "creator-lin", amountMinor: 50_00, reviewReasons: ["risk_flagged"] });
    const { page, errors } = await open("ops-kai", "/console/queues.html#withdrawals");
    await page.waitForSelector('body[data-loaded^="withdrawals:"]', { state: "attached" });
    const card = page.locator(`.queue-item[data-id="${w.id}"]`);
    expect(await card.locator(".summary").textContent()).toBe("50.00 CNY to creator-lin");
    expect(await card.locator(".review-reasons").textContent()).toBe(
      "risk_flagged The creator was under a risk hold when asking.",
    );
    await card.locator("button.approve").click();
    await page.waitForSelector(`.queue-item[data-id="${w.id}"][data-state="approved"]`);
    expect(await card.locator(".outcome").textContent()).toBe("Approved by ops-kai: sent to sandbox.");
    await page.screenshot({ path: `${ARTIFACTS}/console-queue-withdrawals-approved-1280.png`, fullPage: true });
    const after = (await call("GET", `/v1/creators/me/withdrawals`, "creator-lin")).data.withdrawals;
    const mine = after.find((x: { id: string }) => x.id === w.id);
    expect(["approved", "paying", "paid"]).toContain(mine.state);
    expect(mine.reviewerId).toBe("ops-kai");
    expect(errors).toEqual([]);
  });

  it("a risk reviewer approves a held tip from the queue: the tip is made, the badge counts one fewer, audited", async () => {
    const waiting = (await call("GET", "/v1/admin/risk/reviews?limit=100", "ops-kai")).data.heldTips;
    const held = waiting.find(
      (h: { viewerId: string; roomId: string | null }) => h.viewerId === "fan-xiao" && h.roomId !== null,
    );
    expect(held).toMatchObject({ state: "held", amountMinor: 18_80, creatorId: "creator-lin", contentId: null });
    expect(held.fired[0]).toMatchObject({ ruleId: "demo-review-listed-devices" });
    const before = await counts("ops-kai");

    const { page, errors } = await open("ops-kai", "/console/queues.html#riskReviews");
    await page.waitForSelector('body[data-loaded^="riskReviews:"]', { state: "attached" });
    const card = page.locator(`.queue-item[data-id="${held.id}"]`);
    expect(await card.locator(".summary").textContent()).toBe("18.80 CNY from fan-xiao to creator-lin");
    expect(await card.locator(".review-reasons code").first().textContent()).toBe("demo-review-listed-devices");
    await page.screenshot({ path: `${ARTIFACTS}/console-queue-riskReviews-held-1280.png`, fullPage: true });
    await card.locator("button.approve").click();
    await page.waitForSelector(`.queue-item[data-id="${held.id}"][data-state="approved"]`);
    expect(await card.locator(".outcome").textContent()).toBe(`Approved by ops-kai: tip ${held.tipId} made.`);
    await page.waitForFunction(
      (n) => (globalThis as any).document.getElementById("count-riskReviews")?.textContent === String(n),
      before.riskReviews - 1,
    );

    const after = (await call("GET", `/v1/admin/risk/reviews/${held.id}`, "ops-kai")).data.heldTip;
    expect(after).toMatchObject({ state: "approved", decidedBy: "ops-kai" });
    const report = (await call("GET", "/v1/admin/audit/verify", "ops-mei")).data;
    expect(report.ok).toBe(true);
    const entries = [];
    for (const chain of report.chains) {
      const page = (await call("GET", `/v1/admin/audit?chain=${chain.chain}&action=risk_review.approve`, "ops-mei"))
        .data;
      entries.push(...page.items.filter((e: { target: string }) => e.target === held.id));
    }
    expect(entries).toMatchObject([{ actor: "ops-kai", action: "risk_review.approve" }]);
    expect(errors).toEqual([]);
  });

  it("a held tip on a content item shows the item; approving it tips the item, ranked on its leaderboard", async () => {
    const waiting = (await call("GET", "/v1/admin/risk/reviews?limit=100", "ops-kai")).data.heldTips;
    const held = waiting.find(
      (h: { viewerId: string; contentId: string | null }) => h.viewerId === "fan-xiao" && h.contentId !== null,
    );
    expect(held).toMatchObject({
      state: "held",
      amountMinor: 3_30,
      creatorId: "creator-lin",
      roomId: null,
      contentId: DEMO_ARTICLES[0].id,
    });
    const board = async () =>
      (await call("GET", `/v1/content/${DEMO_ARTICLES[0].id}/leaderboard?limit=100`, "ops-kai")).data;
    const boardBefore = await board();

    const { page, errors } = await open("ops-kai", "/console/queues.html#riskReviews");
    await page.waitForSelector('body[data-loaded^="riskReviews:"]', { state: "attached" });
    const card = page.locator(`.queue-item[data-id="${held.id}"]`);
    expect(await card.locator(".summary").textContent()).toBe("3.30 CNY from fan-xiao to creator-lin");
    const facts = await card.locator(".fact").allTextContents();
    expect(facts.some((f) => f.includes("content item") && f.includes(DEMO_ARTICLES[0].id))).toBe(true);
    expect(facts.some((f) => f.startsWith("room"))).toBe(false);
    await card.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${ARTIFACTS}/console-queue-riskReviews-held-content-1280.png`, fullPage: true });
    await card.locator("button.approve").click();
    await page.waitForSelector(`.queue-item[data-id="${held.id}"][data-state="approved"]`);
    expect(await card.locator(".outcome").textContent()).toBe(`Approved by ops-kai: tip ${held.tipId} made.`);
    // The item's leaderboard counts it (its copy in an isolate lives a few seconds at most).
    await expect.poll(async () => (await board()).totalMinor, { timeout: 10_000 }).toBe(boardBefore.totalMinor + 3_30);
    expect(errors).toEqual([]);
  });

  it("a held message is approved and a dead letter replayed from their queues", async () => {
    const { page, errors } = await open("ops-mei", "/console/queues.html#heldMessages");
    await page.waitForSelector('body[data-loaded^="heldMessages:"]', { state: "attached" });
    const held = page.locator(".queue-item").first();
    expect(await held.locator(".summary").textContent()).toBe("“私聊吗？”");
    await held.locator("button.approve").click();
    await page.waitForSelector('.queue-item[data-state="approved"]');
    expect(await held.locator(".outcome").textContent()).toBe("approved by ops-mei.");

    await showQueue(page, "deadLetters");
    const letter = page.locator(".queue-item").first();
    expect(await letter.locator(".summary").textContent()).toBe(
      "giftwire-creator-notices · message demo-dead-letter-0001",
    );
    await letter.locator("input").fill("demo replay");
    await letter.locator("button.approve").click();
    await page.waitForSelector('.queue-item[data-state="replayed"]');
    expect(await letter.locator(".outcome").textContent()).toBe("replayed by ops-mei to giftwire-creator-notices.");
    await page.screenshot({ path: `${ARTIFACTS}/console-queue-deadLetters-replayed-1280.png`, fullPage: true });
    const replayed = (await call("GET", "/v1/admin/dead-letters?state=replayed", "ops-mei")).data.deadLetters;
    expect(replayed.map((d: { messageId: string }) => d.messageId)).toContain("demo-dead-letter-0001");
    expect(errors).toEqual([]);
  });

  it("flipping a switch is a proposal; a second operator approves it on the proposals page; the page shows it set", async () => {
    const { page, errors } = await open("ops-mei", "/console/config.html#switches");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    for (const id of [
      "switches",
      "risk-rules",
      "risk-lists",
      "gifts",
      "campaigns",
      "operators",
      "revenue",
      "templates",
      "alert-targets",
    ]) {
      expect(await page.locator(`#${id}`).getAttribute("data-loaded"), id).toBe("true");
    }
    await page.screenshot({ path: `${ARTIFACTS}/console-config-1280.png`, fullPage: true });
    const section = page.locator("#switches");
    expect(await section.locator(".empty").textContent()).toBe("No switch is set: everything runs normally.");
    await section.locator('select[name="kind"]').selectOption("effects_degraded");
    await section.locator('input[name="reason"]').fill("Demo: CDN incident INC-7");
    await section.locator('button[type="submit"]').click();
    await page.waitForSelector('#switches .config-result[data-outcome="proposed"]');
    const proposalId = await section.locator(".config-result").getAttribute("data-proposal");
    expect(await section.locator(".config-result").textContent()).toBe(
      `Kept as proposal ${proposalId} (“Set switch effects_degraded on platform: Demo: CDN incident INC-7”): a second operator approves it on the proposals page.`,
    );
    expect((await call("GET", "/v1/admin/switches", "ops-mei")).data.switches).toEqual([]);
    // The demo's tiered schedule, as the API has it.
    expect(await page.locator("#revenue tbody tr").first().locator("td").nth(2).textContent()).toBe(
      "from 0.00: 30% · from 1000.00: 25% · from 5000.00: 20%",
    );
    await page.screenshot({ path: `${ARTIFACTS}/console-config-switch-proposed-1280.png` });

    const kai = await open("ops-kai", "/console/proposals.html");
    await kai.page.waitForSelector("body[data-loaded]", { state: "attached" });
    const card = kai.page.locator(`.proposal[data-id="${proposalId}"]`);
    await card.locator("button.approve").click();
    await kai.page.waitForSelector(`.proposal[data-id="${proposalId}"][data-state="executed"]`);
    expect(await card.locator(".result-status").textContent()).toBe("Its request answered 200");

    await page.reload();
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    const row = page.locator("#switches tbody tr");
    expect(await row.count()).toBe(1);
    const cells = await row.locator("td").allTextContents();
    expect(cells.slice(0, 4)).toEqual(["effects_degraded", "platform", "—", "Demo: CDN incident INC-7"]);
    expect(cells[4]).toMatch(/^ops-mei, /);
    expect(cells[6]).toBe("yes");
    await page.screenshot({ path: `${ARTIFACTS}/console-config-switch-set-1280.png`, fullPage: true });
    expect(errors).toEqual([]);
    expect(kai.errors).toEqual([]);
  });

  it("pausing one creator's paid unlocks is a switch like the others: proposed, approved, shown", async () => {
    const { page, errors } = await open("ops-mei", "/console/config.html#switches");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    const section = page.locator("#switches");
    await section.locator('select[name="kind"]').selectOption("unlocks_paused");
    await section.locator('input[name="scope"]').fill("creator:demo-creator-lin");
    await section.locator('input[name="reason"]').fill("Demo: paywall dispute D-3");
    await section.locator('button[type="submit"]').click();
    await page.waitForSelector('#switches .config-result[data-outcome="proposed"]');
    const proposalId = await section.locator(".config-result").getAttribute("data-proposal");
    expect(await section.locator(".config-result").textContent()).toBe(
      `Kept as proposal ${proposalId} (“Set switch unlocks_paused on creator:demo-creator-lin: Demo: paywall dispute D-3”): a second operator approves it on the proposals page.`,
    );
    const kai = await open("ops-kai", "/console/proposals.html");
    await kai.page.waitForSelector("body[data-loaded]", { state: "attached" });
    const card = kai.page.locator(`.proposal[data-id="${proposalId}"]`);
    await card.locator("button.approve").click();
    await kai.page.waitForSelector(`.proposal[data-id="${proposalId}"][data-state="executed"]`);
    expect(await card.locator(".result-status").textContent()).toBe("Its request answered 200");

    await page.reload();
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    const rows = await page
      .locator("#switches tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 4).map((td) => td.textContent)));
    expect(rows).toContainEqual(["unlocks_paused", "creator:demo-creator-lin", "—", "Demo: paywall dispute D-3"]);
    await page.screenshot({ path: `${ARTIFACTS}/console-config-switch-unlocks-1280.png`, fullPage: true });
    expect(errors).toEqual([]);
    expect(kai.errors).toEqual([]);
  });

  it("a risk list entry and a gift change go through at once, audited; a role grant is a proposal", async () => {
    const { page, errors } = await open("ops-kai", "/console/config.html");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    // ops-kai (finance, ops, risk) may not read the operator directory.
    expect(await page.locator("#operators").getAttribute("data-loaded")).toBe("forbidden");
    const lists = page.locator("#risk-lists");
    await lists.locator('select[name="kind"]').selectOption("device");
    await lists.locator('input[name="value"]').fill("dev-demo-emulator-1");
    await lists.locator('input[name="reason"]').fill("emulator farm");
    await lists.locator('button[type="submit"]').click();
    await page.waitForSelector('#risk-lists .config-result[data-outcome="done"]');
    expect(await lists.locator("tbody tr").first().locator("td").nth(1).textContent()).toBe("dev-demo-emulator-1");

    const gifts = page.locator("#gifts");
    const rose = gifts.locator("tbody tr", { hasText: "rose-bloom" });
    await rose.locator("button", { hasText: "Disable" }).click();
    await page.waitForSelector('#gifts .config-result[data-outcome="done"]');
    expect(await gifts.locator("tbody tr", { hasText: "rose-bloom" }).locator("td").nth(6).textContent()).toBe("no");
    const catalog = (await (await fetch(`${demo.url}/v1/gifts`)).json()) as { gifts: { id: string }[] };
    expect(catalog.gifts.some((g) => g.id === "rose")).toBe(false);
    await gifts.locator("tbody tr", { hasText: "rose-bloom" }).locator("button", { hasText: "Enable" }).click();
    await page.waitForFunction(
      () =>
        (globalThis as any).document.querySelector("#gifts tbody tr:nth-child(2) td:nth-child(7)")?.textContent ===
        "yes",
    );
    expect(errors).toEqual([]);

    const mei = await open("ops-mei", "/console/config.html#operators");
    await mei.page.waitForSelector("body[data-loaded]", { state: "attached" });
    const kaiRow = mei.page.locator("#operators tbody tr", { hasText: "ops-kai" });
    await kaiRow.locator('input[value="support"]').check();
    await kaiRow.locator("button", { hasText: "Save roles" }).click();
    await mei.page.waitForSelector('#operators .config-result[data-outcome="proposed"]');
    expect(await mei.page.locator("#operators .config-result").textContent()).toContain("grant");
    expect(mei.errors).toEqual([]);
  });

  it("the tip presets are replaced and a campaign created from the configuration page, each audited", async () => {
    const { page, errors } = await open("ops-mei", "/console/config.html#campaigns");
    await page.waitForSelector("body[data-loaded]", { state: "attached" });
    const campaigns = page.locator("#campaigns");
    const spring = campaigns.locator("tbody tr", { hasText: "Demo: Spring Festival red packets" });
    expect((await spring.locator("td").allTextContents()).slice(2, 6)).toEqual([
      "5000.00 CNY",
      "4991.12",
      "1 · 8.88",
      "0",
    ]);
    await campaigns.locator('input[name="name"]').fill("Lantern night");
    await campaigns.locator('input[name="budget"]').fill("300.00");
    await campaigns.locator('form button[type="submit"]').first().click();
    await page.waitForSelector('#campaigns .config-result[data-outcome="done"]');
    const made = campaigns.locator("tbody tr", { hasText: "Lantern night" });
    expect((await made.locator("td").allTextContents()).slice(2, 4)).toEqual(["300.00 CNY", "300.00"]);
    await campaigns.screenshot({ path: `${ARTIFACTS}/console-config-campaigns-1280.png` });

    const gifts = page.locator("#gifts");
    await gifts.locator('input[name="amounts"]').fill("1.00, 6.66, 8.88, 66.00, 520.00");
    await gifts.locator("button", { hasText: "Save presets" }).click();
    await page.waitForSelector('#gifts .config-result[data-outcome="done"]');
    expect(await gifts.locator('input[name="amounts"]').inputValue()).toBe("1.00, 6.66, 8.88, 66.00, 520.00");
    const catalog = (await (await fetch(`${demo.url}/v1/gifts`)).json()) as { tipPresets: { amount: string }[] };
    expect(catalog.tipPresets.map((p) => p.amount)).toEqual(["1.00", "6.66", "8.88", "66.00", "520.00"]);
    const audit = (await call("GET", "/v1/admin/audit?chain=control&action=tip_presets.set", "ops-mei")).data;
    expect(audit.items[0]).toMatchObject({ actor: "ops-mei", target: "tip_presets" });
    expect(errors).toEqual([]);
  });

  it("fits a tablet: the queues and configuration pages are no wider than the screen", async () => {
    for (const [path, name] of [
      // Queues nobody works through above, so the screenshots show them filled.
      ["/console/queues.html#verifications", "queues"],
      ["/console/queues.html#paymentFlags", "queues-payment-flags"],
      ["/console/config.html", "config"],
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
