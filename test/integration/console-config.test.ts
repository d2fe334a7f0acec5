/**
 * What the console's configuration page changes that had no API or no audit (issue 17): the
 * tip presets (replaced whole, audited, bounded by the custom tip range) and the campaigns
 * (listed newest first; creating one and issuing a subsidy are audited in the money's batch).
 *
 * The presets are one shared row set that other files read: this file writes the defaults back
 * as they are (the browser test replaces them on its own dev server).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, key, shardDbOfId, token } from "./helpers";

const run = Math.random().toString(36).slice(2, 8);
const DEFAULT_PRESETS = ["6.60", "8.80", "18.80", "52.00"];

async function controlAudit(action: string) {
  const { results } = await env.CONTROL.prepare(
    "SELECT actor, target, detail FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 5",
  )
    .bind(action)
    .all<{ actor: string; target: string; detail: string }>();
  return results;
}

const presetsNow = async () =>
  ((await call("GET", "/v1/gifts")).body.tipPresets as { amount: string }[]).map((p) => p.amount);

describe("tip presets", () => {
  it("are replaced in the given order by a gift editor, audited with before and after", async () => {
    const ops = await token(`presets-ops-${run}`, "ops");
    const res = await call("PUT", "/v1/admin/tip-presets", { token: ops, body: { amounts: DEFAULT_PRESETS } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.tipPresets).toEqual([
      { amountMinor: 660, amount: "6.60" },
      { amountMinor: 880, amount: "8.80" },
      { amountMinor: 1880, amount: "18.80" },
      { amountMinor: 5200, amount: "52.00" },
    ]);
    expect(await presetsNow()).toEqual(DEFAULT_PRESETS);
    const [entry] = (await controlAudit("tip_presets.set")).filter((e) => e.actor === `presets-ops-${run}`);
    expect(entry?.target).toBe("tip_presets");
    expect(JSON.parse(entry?.detail ?? "{}")).toMatchObject({ after: { amountsMinor: [660, 880, 1880, 5200] } });
  });

  it("refuse an amount outside the custom tip range, a repeated amount or none, changing nothing", async () => {
    const ops = await token(`presets-ops-${run}`, "ops");
    const before = await presetsNow();
    const put = (amounts: string[]) => call("PUT", "/v1/admin/tip-presets", { token: ops, body: { amounts } });
    const tooSmall = await put(["0.50", "8.80"]);
    expect(tooSmall.status).toBe(422);
    expect(tooSmall.body.error.code).toBe("amount_out_of_range");
    const tooLarge = await put(["8.80", "50000.01"]);
    expect(tooLarge.body.error.code).toBe("amount_out_of_range");
    const twice = await put(["8.80", "8.80"]);
    expect(twice.status).toBe(400);
    expect(twice.body.error.code).toBe("malformed_request");
    expect((await put([])).status).toBe(400);
    expect((await put(Array.from({ length: 9 }, (_, i) => `${i + 1}.00`))).status).toBe(400);
    expect(await presetsNow()).toEqual(before);
  });

  it("may not be changed by support (no gift.edit)", async () => {
    const support = await token(`presets-support-${run}`, "support");
    const res = await call("PUT", "/v1/admin/tip-presets", { token: support, body: { amounts: ["9.00"] } });
    expect(res.status).toBe(403);
  });
});

describe("campaigns in the console", () => {
  it("are listed newest first; creating one and issuing a subsidy are audited in the campaign's shard", async () => {
    const ops = await token(`campaign-ops-${run}`, "ops");
    const create = async (name: string) => {
      const res = await call("POST", "/v1/admin/campaigns", {
        token: ops,
        idempotencyKey: key(),
        body: { name, budget: "100.00" },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.campaign.id as string;
    };
    const older = await create(`Older ${run}`);
    const newer = await create(`Newer ${run}`);

    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await call("GET", `/v1/admin/campaigns?limit=2${cursor ? `&cursor=${cursor}` : ""}`, {
        token: ops,
      });
      expect(page.status).toBe(200);
      ids.push(...page.body.campaigns.map((c: { id: string }) => c.id));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(ids.indexOf(newer)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(newer)).toBeLessThan(ids.indexOf(older));
    expect([...ids].sort().reverse()).toEqual(ids);

    const issued = await call("POST", `/v1/admin/campaigns/${newer}/subsidies`, {
      token: ops,
      idempotencyKey: key(),
      body: { externalId: `console-${run}`, userId: `campaign-fan-${run}`, amount: "8.88" },
    });
    expect(issued.status).toBe(201);

    const audit = async (campaignId: string) =>
      (
        await (
          await shardDbOfId(campaignId)
        )
          .prepare("SELECT actor, action, detail FROM audit_log WHERE target = ? ORDER BY seq")
          .bind(campaignId)
          .all<{ actor: string; action: string; detail: string }>()
      ).results;
    const entries = await audit(newer);
    expect(entries.map((e) => [e.actor, e.action])).toEqual([
      [`campaign-ops-${run}`, "campaign.create"],
      [`campaign-ops-${run}`, "subsidy.issue"],
    ]);
    expect(JSON.parse(entries[0]?.detail ?? "{}")).toMatchObject({ after: { budgetMinor: 100_00 } });
    expect(JSON.parse(entries[1]?.detail ?? "{}")).toMatchObject({
      after: { externalId: `console-${run}`, amountMinor: 888 },
    });
    expect((await audit(older)).map((e) => e.action)).toEqual(["campaign.create"]);

    const support = await token(`campaign-support-${run}`, "support");
    expect((await call("GET", "/v1/admin/campaigns", { token: support })).status).toBe(403);
  });
});
