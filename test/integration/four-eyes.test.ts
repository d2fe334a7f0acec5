/**
 * Four-eyes (issue 15): actions above their threshold, and some always, are proposals that a
 * second operator holding the same permission approves; the proposer never can; proposals
 * expire; the money moves exactly once, on approval — under concurrent approvals too — and an
 * approval the action then refuses (insufficient funds) moves nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expireProposals } from "../../src/db/proposals";
import { balanceOf, call, config, fund, invariantReport, key, token } from "./helpers";

const uid = () => crypto.randomUUID().slice(0, 8);
const wallet = (u: string) => `user:${u}:wallet`;
const above = (config.fourEyes.adjustmentMinor + 1) / 100;

async function operators(tag: string) {
  return {
    maker: await token(`fe-maker-${tag}`, "finance"),
    checker: await token(`fe-checker-${tag}`, "finance"),
    other: await token(`fe-other-${tag}`, "admin"),
    ops: await token(`fe-ops-${tag}`, "ops"),
  };
}

async function propose(makerToken: string, userId: string, direction: "credit" | "debit", amount: string, k = key()) {
  return call("POST", `/v1/users/${userId}/wallet/adjustments`, {
    token: makerToken,
    idempotencyKey: k,
    body: { direction, amount, reason: "four-eyes test" },
  });
}

const approve = (t: string, id: string) => call("POST", `/v1/admin/proposals/${id}/approve`, { token: t, body: {} });

describe("four-eyes adjustments", () => {
  it("post at once up to the threshold, and above it only as a proposal nobody can approve alone", async () => {
    const tag = uid();
    const ops = await operators(tag);
    const user = `fe-u1-${tag}`;
    const small = await propose(ops.maker, user, "credit", (config.fourEyes.adjustmentMinor / 100).toFixed(2));
    expect(small.status).toBe(201);
    const before = await balanceOf(wallet(user));

    const big = await propose(ops.maker, user, "credit", above.toFixed(2));
    expect(big.status).toBe(202);
    expect(big.body.proposal).toMatchObject({
      state: "pending",
      permission: "wallet.adjust",
      proposerId: `fe-maker-${tag}`,
      method: "POST",
      path: `/v1/users/${user}/wallet/adjustments`,
      result: null,
    });
    expect(big.body.proposal.summary).toContain(above.toFixed(2));
    expect(await balanceOf(wallet(user))).toBe(before);

    const id = big.body.proposal.id as string;
    expect(await approve(ops.maker, id)).toMatchObject({ status: 403, body: { error: { code: "proposal_own" } } });
    // ops may decide proposals, but not this one: it lacks wallet.adjust.
    expect(await approve(ops.ops, id)).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    expect(await balanceOf(wallet(user))).toBe(before);

    const ok = await approve(ops.checker, id);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ state: "executed", deciderId: `fe-checker-${tag}`, result: { status: 201 } });
    expect(ok.body.result.body.adjustment).toMatchObject({ actorId: `fe-maker-${tag}`, amount: above.toFixed(2) });
    expect(await balanceOf(wallet(user))).toBe(before + config.fourEyes.adjustmentMinor + 1);

    // A second approval, or proposing again under the same key, moves nothing more.
    expect(await approve(ops.other, id)).toMatchObject({
      status: 409,
      body: { error: { code: "proposal_not_pending" } },
    });
    expect(await balanceOf(wallet(user))).toBe(before + config.fourEyes.adjustmentMinor + 1);
  });

  it("move money once when several operators approve at the same moment", async () => {
    const tag = uid();
    const maker = await token(`fe-maker-${tag}`, "finance");
    const checkers = await Promise.all(Array.from({ length: 6 }, (_, i) => token(`fe-ck${i}-${tag}`, "finance")));
    const user = `fe-u2-${tag}`;
    const proposals = await Promise.all(
      Array.from({ length: 3 }, () => propose(maker, user, "credit", above.toFixed(2))),
    );
    const answers = await Promise.all(
      proposals.flatMap((p) => checkers.map((t) => approve(t, p.body.proposal.id as string))),
    );
    const won = answers.filter((a) => a.status === 200);
    expect(won).toHaveLength(3);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.error.code === "proposal_not_pending")).toBe(
      true,
    );
    expect(answers.length - won.length).toBe(answers.filter((a) => a.status === 409).length);
    expect(await balanceOf(wallet(user))).toBe(3 * (config.fourEyes.adjustmentMinor + 1));
    expect((await invariantReport()).ok).toBe(true);
  });

  it("answer the same proposal for the same Idempotency-Key", async () => {
    const tag = uid();
    const { maker } = await operators(tag);
    const k = key();
    const first = await propose(maker, `fe-u3-${tag}`, "credit", above.toFixed(2), k);
    const again = await propose(maker, `fe-u3-${tag}`, "credit", above.toFixed(2), k);
    expect(again.status).toBe(202);
    expect(again.body.proposal.id).toBe(first.body.proposal.id);
    // The same key for another request is refused, as for any Idempotency-Key.
    const other = await propose(maker, `fe-u3-${tag}`, "credit", (above + 1).toFixed(2), k);
    expect(other).toMatchObject({ status: 422, body: { error: { code: "idempotency_key_reused" } } });
    // Once approved and executed, the same request again answers the action's stored result.
    const checker = await token(`fe-checker-${tag}`, "finance");
    const done = await approve(checker, first.body.proposal.id);
    expect(done.body.state).toBe("executed");
    const replayed = await propose(maker, `fe-u3-${tag}`, "credit", above.toFixed(2), k);
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(replayed.body).toEqual(done.body.result.body);
    expect(await balanceOf(wallet(`fe-u3-${tag}`))).toBe(config.fourEyes.adjustmentMinor + 1);
  });

  it("move nothing when the proposal expired, was rejected, or withdrawn", async () => {
    const tag = uid();
    const ops = await operators(tag);
    const user = `fe-u4-${tag}`;
    const [expiring, rejected, withdrawn] = await Promise.all(
      [1, 2, 3].map(() => propose(ops.maker, user, "credit", above.toFixed(2))),
    );
    await env.CONTROL.prepare("UPDATE proposals SET expires_at_ms = ? WHERE id = ?")
      .bind(Date.now() - 1, expiring?.body.proposal.id)
      .run();
    expect(await approve(ops.checker, expiring?.body.proposal.id)).toMatchObject({
      status: 409,
      body: { error: { code: "proposal_expired" } },
    });
    const rej = await call("POST", `/v1/admin/proposals/${rejected?.body.proposal.id}/reject`, {
      token: ops.checker,
      body: { reason: "no ticket" },
    });
    expect(rej.body).toMatchObject({ state: "rejected", decisionReason: "no ticket" });
    const wd = await call("POST", `/v1/admin/proposals/${withdrawn?.body.proposal.id}/reject`, {
      token: ops.maker,
      body: {},
    });
    expect(wd.body.state).toBe("withdrawn");
    for (const p of [expiring, rejected, withdrawn]) {
      const res = await approve(ops.other, p?.body.proposal.id);
      expect(res.status).toBe(409);
    }
    const states = await call("GET", `/v1/admin/proposals/${expiring?.body.proposal.id}`, { token: ops.checker });
    expect(states.body.state).toBe("expired");
    // The cron job tidies a pending proposal past its expiry without anyone touching it.
    const idle = await propose(ops.maker, user, "credit", above.toFixed(2));
    await env.CONTROL.prepare("UPDATE proposals SET expires_at_ms = ? WHERE id = ?")
      .bind(Date.now() - 1, idle.body.proposal.id)
      .run();
    expect(await expireProposals(env.CONTROL, Date.now())).toBeGreaterThanOrEqual(1);
    expect((await call("GET", `/v1/admin/proposals/${idle.body.proposal.id}`, { token: ops.checker })).body.state).toBe(
      "expired",
    );
    const queue = await call("GET", "/v1/admin/proposals?state=pending&limit=100", { token: ops.checker });
    expect(queue.body.items.map((p: { id: string }) => p.id)).not.toContain(idle.body.proposal.id);
    expect(await balanceOf(wallet(user))).toBe(0);
  });

  it("record a refused action as failed, with nothing moved", async () => {
    const tag = uid();
    const ops = await operators(tag);
    const poor = `fe-poor-${tag}`;
    await fund(poor, "1.00");
    const debit = await propose(ops.maker, poor, "debit", above.toFixed(2));
    const res = await approve(ops.checker, debit.body.proposal.id);
    expect(res.body).toMatchObject({
      state: "failed",
      result: { status: 409, body: { error: { code: "insufficient_funds" } } },
    });
    expect(await balanceOf(wallet(poor))).toBe(100);
  });

  it("run as the proposer: a proposer disabled meanwhile gets nothing done", async () => {
    const tag = uid();
    const ops = await operators(tag);
    const user = `fe-u5-${tag}`;
    const p = await propose(ops.maker, user, "credit", above.toFixed(2));
    await call("PUT", `/v1/admin/operators/fe-maker-${tag}/status`, { token: ops.other, body: { status: "disabled" } });
    const res = await approve(ops.checker, p.body.proposal.id);
    expect(res.body).toMatchObject({ state: "failed", result: { status: 403 } });
    expect(await balanceOf(wallet(user))).toBe(0);
  });
});

describe("four-eyes operator roles", () => {
  it("grant only on a second admin's approval, and revoke at once", async () => {
    const tag = uid();
    const admin1 = await token(`fe-adm1-${tag}`, "admin");
    const admin2 = await token(`fe-adm2-${tag}`, "admin");
    const id = `fe-new-${tag}`;
    await call("POST", "/v1/admin/operators", { token: admin1, body: { id, displayName: "New" } });
    const grant = await call("PUT", `/v1/admin/operators/${id}/roles`, { token: admin1, body: { roles: ["finance"] } });
    expect(grant.status).toBe(202);
    const asNew = await token(id);
    expect((await call("GET", "/v1/admin/me", { token: asNew })).status).toBe(403);
    const approved = await approve(admin2, grant.body.proposal.id);
    expect(approved.body).toMatchObject({ state: "executed", result: { status: 200, body: { roles: ["finance"] } } });
    expect((await call("GET", "/v1/admin/me", { token: asNew })).status).toBe(200);
    const revoke = await call("PUT", `/v1/admin/operators/${id}/roles`, { token: admin1, body: { roles: [] } });
    expect(revoke.status).toBe(200);
    expect((await call("GET", "/v1/admin/me", { token: asNew })).status).toBe(403);
  });
});
