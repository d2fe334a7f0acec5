/**
 * Key rotation for personal data: rows sealed under k1 (before the rotation), the ring rotated
 * to current k2 (the test binding), the re-seal endpoint run in bounded batches until nothing
 * is left; every row then under k2, opening to what it held. Re-running changes nothing; a row
 * that does not open is reported and left alone.
 */

import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { bindPayoutAccount } from "../../src/db/payout-accounts";
import { findPayoutAccount, openPayee } from "../../src/db/reads/payout-accounts";
import { submitVerification, verificationContext } from "../../src/db/verifications";
import { newId } from "../../src/domain/ids";
import { validateSubmission } from "../../src/domain/verification";
import { unseal } from "../../src/platform/sealing";
import { call, token } from "./helpers";

const ring = JSON.parse(env.PII_KEYS) as { current: string; keys: Record<string, string> };
/** The ring as it was before the rotation: k1 only. */
const BEFORE = JSON.stringify({ current: "k1", keys: { k1: ring.keys.k1 } });
/** After the rotation and the re-seal, k1 can go: k2 alone must open everything. */
const AFTER = JSON.stringify({ current: "k2", keys: { k2: ring.keys.k2 } });

const CREATORS = ["rot-a", "rot-b", "rot-c"];
const IDS = ["11010519491231002X", "E12345678", "K7654321"];
const accounts: { id: string; creatorId: string; sandboxId: string }[] = [];

async function reseal(rowsMax: number, roles: ("admin" | "support")[] = ["admin"]) {
  return call("POST", "/v1/admin/pii/reseal", { token: await token("ops-rot", ...roles), body: { rowsMax } });
}

/** The key ids of this file's rows (other files' rows, if storage is shared, are under k2 already). */
async function keyIds(): Promise<string[]> {
  const mine = CREATORS.map(() => "?").join(", ");
  const { results } = await env.CONTROL.prepare(
    `SELECT key_id FROM creator_verifications WHERE creator_id IN (${mine})
     UNION ALL SELECT key_id FROM payout_accounts WHERE creator_id IN (${mine})`,
  )
    .bind(...CREATORS, ...CREATORS)
    .all<{ key_id: string }>();
  return results.map((r) => r.key_id).sort();
}

beforeAll(async () => {
  expect(ring.current).toBe("k2");
  const nowMs = Date.now();
  for (const [i, creatorId] of CREATORS.entries()) {
    const checked = validateSubmission({
      realName: `创作者${i}`,
      idType: i === 0 ? "resident_id" : "passport",
      idNumber: IDS[i] ?? "",
    });
    if (!checked.ok) throw new Error(checked.code);
    await submitVerification(env.CONTROL, BEFORE, creatorId, checked.value, nowMs);
    for (let j = 0; j < 2; j++) {
      const sandboxId = `${creatorId}-acct-${j}`;
      const id = newId("pa", nowMs + j);
      await bindPayoutAccount(env.CONTROL, BEFORE, {
        id,
        creatorId,
        account: { channel: "sandbox", id: sandboxId },
        makeDefault: false,
        nowMs,
      });
      accounts.push({ id, creatorId, sandboxId });
    }
  }
});

describe("re-sealing after a key rotation", () => {
  it("moves every row from k1 to k2 in bounded runs, and the rows still open to what they held", async () => {
    expect(await keyIds()).toEqual(Array(9).fill("k1"));

    const first = await reseal(4);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      currentKeyId: "k2",
      resealed: { verifications: 3, payoutAccounts: 1 },
      unopenable: [],
      remaining: 5,
    });
    const second = await reseal(4);
    expect(second.body).toMatchObject({ resealed: { verifications: 0, payoutAccounts: 4 }, remaining: 1 });
    const third = await reseal(4);
    expect(third.body).toMatchObject({ resealed: { verifications: 0, payoutAccounts: 1 }, remaining: 0 });
    expect(await keyIds()).toEqual(Array(9).fill("k2"));

    // Idempotent: nothing left to do, nothing changes.
    const sealedNow = () => env.CONTROL.prepare("SELECT id, sealed FROM payout_accounts ORDER BY id").all();
    const before = await sealedNow();
    const again = await reseal(500);
    expect(again.body).toEqual({
      currentKeyId: "k2",
      resealed: { verifications: 0, payoutAccounts: 0 },
      unopenable: [],
      remaining: 0,
    });
    expect((await sealedNow()).results).toEqual(before.results);

    // Everything opens with k2 alone, as what it was.
    for (const [i, creatorId] of CREATORS.entries()) {
      const row = await env.CONTROL.prepare("SELECT sealed, key_id FROM creator_verifications WHERE creator_id = ?")
        .bind(creatorId)
        .first<{ sealed: string; key_id: string }>();
      const identity = JSON.parse(
        await unseal(AFTER, verificationContext(creatorId), { sealed: row?.sealed ?? "", keyId: row?.key_id ?? "" }),
      );
      expect(identity).toEqual({
        realName: `创作者${i}`,
        idType: i === 0 ? "resident_id" : "passport",
        idNumber: IDS[i],
      });
    }
    for (const a of accounts) {
      const row = (await findPayoutAccount(env.CONTROL, a.id)) ?? (undefined as never);
      expect(await openPayee(AFTER, row)).toEqual({
        channel: "sandbox",
        payee: a.sandboxId,
        payeeName: null,
        identity: "sandbox",
      });
    }
  });

  it("reports a row that does not open, leaves it as it is, and re-seals the rest", async () => {
    // Two rows back under k1 as a rotation would leave them; one of them then tampered with.
    const [good, bad] = [accounts[0], accounts[1]];
    if (!good || !bad) throw new Error("fixture");
    for (const a of [good, bad]) {
      await env.CONTROL.prepare("DELETE FROM payout_accounts WHERE id = ?").bind(a.id).run();
      await bindPayoutAccount(env.CONTROL, BEFORE, {
        id: a.id,
        creatorId: a.creatorId,
        account: { channel: "sandbox", id: a.sandboxId },
        makeDefault: false,
        nowMs: Date.now(),
      });
    }
    const goodSealed = (await findPayoutAccount(env.CONTROL, good.id))?.sealed ?? "";
    await env.CONTROL.prepare("UPDATE payout_accounts SET sealed = ? WHERE id = ?").bind(goodSealed, bad.id).run();
    const badBefore = await findPayoutAccount(env.CONTROL, bad.id);

    const run = await reseal(500);
    expect(run.body).toEqual({
      currentKeyId: "k2",
      resealed: { verifications: 0, payoutAccounts: 1 },
      unopenable: [{ table: "payout_accounts", id: bad.id, code: "sealed_value_corrupt" }],
      remaining: 1,
    });
    expect(await findPayoutAccount(env.CONTROL, bad.id)).toEqual(badBefore);
    expect(
      (await openPayee(AFTER, (await findPayoutAccount(env.CONTROL, good.id)) ?? (undefined as never))).payee,
    ).toBe(good.sandboxId);
  });

  it("is for admins only, and takes bounded batches", async () => {
    expect((await reseal(10, ["support"])).status).toBe(403);
    const tooMany = await reseal(100_000);
    expect(tooMany.status).toBe(400);
  });
});
