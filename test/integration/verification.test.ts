/**
 * Creator verification (实名认证) through the API: submit, read, the operators' queue and
 * decisions, every refusal with its code, and the identity never leaving the database in clear.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { verificationContext } from "../../src/db/verifications";
import { unseal } from "../../src/platform/sealing";
import { call, token } from "./helpers";

const ID = "11010519491231002X";
const NAME = "张三丰";

let creatorCounter = 0;
function newCreator(): string {
  creatorCounter += 1;
  return `vc-${creatorCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

const creatorToken = (id: string) => token(id, "creator");
const supportToken = () => token("support-1", "support");

async function submit(creatorId: string, body: Record<string, unknown> = { realName: NAME, idNumber: ID }) {
  return call("POST", "/v1/creators/me/verification", { token: await creatorToken(creatorId), body });
}

async function decide(creatorId: string, action: "approve" | "reject", reason?: string) {
  return call("POST", `/v1/admin/verifications/${creatorId}/${action}`, {
    token: await supportToken(),
    ...(action === "reject" ? { body: { reason } } : {}),
  });
}

async function rowOf(creatorId: string) {
  return env.CONTROL.prepare("SELECT * FROM creator_verifications WHERE creator_id = ?")
    .bind(creatorId)
    .first<Record<string, unknown>>();
}

describe("a creator's verification", () => {
  it("starts unverified, is submitted sealed and masked, and shows pending review", async () => {
    const creatorId = newCreator();
    const before = await call("GET", "/v1/creators/me/verification", { token: await creatorToken(creatorId) });
    expect(before.status).toBe(200);
    expect(before.body).toEqual({
      state: "unverified",
      realNameMasked: null,
      idNumberMasked: null,
      submittedAtMs: null,
      reviewedAtMs: null,
      rejectReason: null,
    });

    const t0 = Date.now();
    const res = await submit(creatorId, { realName: ` ${NAME} `, idNumber: ID.toLowerCase() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      state: "pending_review",
      realNameMasked: "**丰",
      idNumberMasked: "**************002X",
      reviewedAtMs: null,
      rejectReason: null,
    });
    expect(res.body.submittedAtMs).toBeGreaterThanOrEqual(t0);

    // Nothing of the identity is in the row in clear; the sealed value opens only as this creator's.
    const row = await rowOf(creatorId);
    const stored = JSON.stringify(row);
    for (const secret of [NAME, "张三", ID, ID.slice(0, 14), "19491231"]) expect(stored).not.toContain(secret);
    expect(row?.key_id).toBe("k2");
    const sealed = { sealed: String(row?.sealed), keyId: String(row?.key_id) };
    expect(JSON.parse(await unseal(env.PII_KEYS, verificationContext(creatorId), sealed))).toEqual({
      realName: NAME,
      idType: "resident_id",
      idNumber: ID,
    });
    await expect(unseal(env.PII_KEYS, verificationContext("someone-else"), sealed)).rejects.toMatchObject({
      code: "sealed_value_corrupt",
    });

    const read = await call("GET", "/v1/creators/me/verification", { token: await creatorToken(creatorId) });
    expect(read.body).toEqual(res.body);
    expect(JSON.stringify(read.body)).not.toContain(ID.slice(0, 14));
  });

  it("refuses a malformed name or ID number with its code and the rule broken, storing nothing", async () => {
    const creatorId = newCreator();
    const badCheck = await submit(creatorId, { realName: NAME, idNumber: "110105194912310021" });
    expect(badCheck.status).toBe(422);
    expect(badCheck.body.error).toMatchObject({
      code: "id_number_invalid",
      details: { problem: "resident_id_check_digit" },
    });
    const badName = await submit(creatorId, { realName: "  ", idNumber: ID });
    expect(badName.status).toBe(422);
    expect(badName.body.error.code).toBe("real_name_invalid");
    const longName = await submit(creatorId, { realName: "名".repeat(51), idNumber: ID });
    expect(longName.body.error.code).toBe("real_name_invalid");
    const extra = await submit(creatorId, { realName: NAME, idNumber: ID, state: "verified" });
    expect(extra.status).toBe(400);
    expect(await rowOf(creatorId)).toBeNull();
  });

  it("takes a passport-style number", async () => {
    const creatorId = newCreator();
    const res = await submit(creatorId, { realName: "Alice Smith", idType: "passport", idNumber: "e12345678" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ realNameMasked: "***h", idNumberMasked: "*****5678" });
  });

  it("refuses a second submission while pending and any once verified, with stable codes", async () => {
    const creatorId = newCreator();
    expect((await submit(creatorId)).status).toBe(201);
    const again = await submit(creatorId, { realName: "李四", idNumber: ID });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("verification_pending");
    // The first submission stands.
    expect((await rowOf(creatorId))?.real_name_masked).toBe("**丰");

    expect((await decide(creatorId, "approve")).status).toBe(200);
    const afterApproval = await submit(creatorId);
    expect(afterApproval.status).toBe(409);
    expect(afterApproval.body.error.code).toBe("already_verified");
  });

  it("is approved once: a second approval is a no-op, a rejection after it is refused", async () => {
    const creatorId = newCreator();
    await submit(creatorId);
    const t0 = Date.now();
    const approved = await decide(creatorId, "approve");
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ creatorId, state: "verified", changed: true, rejectReason: null });
    expect(approved.body.reviewedAtMs).toBeGreaterThanOrEqual(t0);

    const twice = await decide(creatorId, "approve");
    expect(twice.status).toBe(200);
    expect(twice.body).toEqual({ ...approved.body, changed: false });

    const reject = await decide(creatorId, "reject", "too late");
    expect(reject.status).toBe(409);
    expect(reject.body.error.code).toBe("verification_not_pending");
    expect(await rowOf(creatorId)).toMatchObject({ state: "verified", reviewer_id: "support-1", reject_reason: null });
  });

  it("is rejected with a reason the creator sees, may be resubmitted, and cannot be approved while rejected", async () => {
    const creatorId = newCreator();
    await submit(creatorId);
    const rejected = await decide(creatorId, "reject", "照片不清晰");
    expect(rejected.body).toMatchObject({ state: "rejected", rejectReason: "照片不清晰", changed: true });
    const seen = await call("GET", "/v1/creators/me/verification", { token: await creatorToken(creatorId) });
    expect(seen.body).toMatchObject({ state: "rejected", rejectReason: "照片不清晰" });

    const rejectedTwice = await decide(creatorId, "reject", "another reason");
    expect(rejectedTwice.body).toMatchObject({ rejectReason: "照片不清晰", changed: false });
    const approve = await decide(creatorId, "approve");
    expect(approve.status).toBe(409);
    expect(approve.body.error.code).toBe("verification_not_pending");

    const resubmitted = await submit(creatorId, { realName: "张三", idNumber: ID });
    expect(resubmitted.status).toBe(201);
    expect(resubmitted.body).toMatchObject({ state: "pending_review", realNameMasked: "*三", rejectReason: null });
    expect(await rowOf(creatorId)).toMatchObject({ reviewer_id: null, reviewed_at_ms: null });
    expect((await decide(creatorId, "approve")).body).toMatchObject({ state: "verified", changed: true });
  });

  it("refuses a review of a creator who never submitted, and a reject without a reason", async () => {
    const missing = await decide(newCreator(), "approve");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("verification_not_found");
    const creatorId = newCreator();
    await submit(creatorId);
    const noReason = await call("POST", `/v1/admin/verifications/${creatorId}/reject`, {
      token: await supportToken(),
      body: { reason: "   " },
    });
    expect(noReason.status).toBe(400);
    expect((await rowOf(creatorId))?.state).toBe("pending_review");
  });

  it("calls the inbox hook once per decision that changed the state, never for a repeated one", async () => {
    const creatorId = newCreator();
    await submit(creatorId);
    const spy = vi.spyOn(console, "log");
    try {
      await decide(creatorId, "reject", "模糊");
      await decide(creatorId, "reject", "模糊");
      await submit(creatorId);
      await decide(creatorId, "approve");
      await decide(creatorId, "approve");
      const hooked = spy.mock.calls
        .map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
        .filter((l) => l.msg === "verification_reviewed" && l.creatorId === creatorId)
        .map((l) => [l.outcome, l.reason, l.reviewerId]);
      expect(hooked).toEqual([
        ["rejected", "模糊", "support-1"],
        ["verified", null, "support-1"],
      ]);
    } finally {
      spy.mockRestore();
    }
  });

  it("gives racing approve and reject exactly one winner", async () => {
    for (let round = 0; round < 5; round++) {
      const creatorId = newCreator();
      await submit(creatorId);
      const [approve, reject] = await Promise.all([decide(creatorId, "approve"), decide(creatorId, "reject", "no")]);
      const statuses = [approve.status, reject.status].sort();
      expect(statuses).toEqual([200, 409]);
      const winner = approve.status === 200 ? "verified" : "rejected";
      expect((await rowOf(creatorId))?.state).toBe(winner);
    }
  });
});

describe("the operators' queue", () => {
  it("lists pending verifications oldest first, masked, paged, to support and admin only", async () => {
    const ids = [newCreator(), newCreator(), newCreator()];
    for (const id of ids) {
      await submit(id);
      await new Promise((r) => setTimeout(r, 3));
    }
    const approvedOne = ids[1] ?? "";
    await decide(approvedOne, "approve");

    const all: { creatorId: string; realNameMasked: string; idNumberMasked: string; state: string }[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: typeof all; nextCursor: string | null } } = await call(
        "GET",
        `/v1/admin/verifications?state=pending_review&limit=1${cursor ? `&cursor=${cursor}` : ""}`,
        { token: await token("admin-1", "admin") },
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      all.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    const mine = all.filter((v) => ids.includes(v.creatorId));
    expect(mine.map((v) => v.creatorId)).toEqual([ids[0], ids[2]]);
    for (const v of mine)
      expect(v).toMatchObject({
        state: "pending_review",
        realNameMasked: "**丰",
        idNumberMasked: "**************002X",
      });
    // Oldest first across everything pending in this file.
    const times = all.map((v) => (v as unknown as { submittedAtMs: number }).submittedAtMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(JSON.stringify(all)).not.toContain(ID.slice(0, 14));

    const verified = await call("GET", "/v1/admin/verifications?state=verified&limit=100", {
      token: await supportToken(),
    });
    expect(verified.body.items.map((v: { creatorId: string }) => v.creatorId)).toContain(approvedOne);

    const creator = await call("GET", "/v1/admin/verifications", { token: await creatorToken(ids[0] ?? "") });
    expect(creator.status).toBe(403);
    const finance = await call("GET", "/v1/admin/verifications", { token: await token("fin-1", "finance") });
    expect(finance.status).toBe(403);
  });

  it("refuses a viewer on the creator routes", async () => {
    const viewer = await call("GET", "/v1/creators/me/verification", { token: await token("viewer-x", "viewer") });
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.code).toBe("forbidden");
  });
});
