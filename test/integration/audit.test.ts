import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AuditChain,
  AuditChainBusyError,
  auditChains,
  auditInsert,
  draftAuditEntry,
  ledgerChainName,
  readAuditHead,
  verifyStoredChain,
  withAuditEntry,
} from "../../src/db/audit";
import { exportDailyAnchors, readAnchors } from "../../src/db/audit-anchors";
import { runOperation } from "../../src/db/ledger";
import { composeAdjustment } from "../../src/db/operations/adjustment";
import { accountAddress } from "../../src/domain/accounts";
import { type AuditAction, type AuditEntry, type ChainHead, nextEntry } from "../../src/domain/audit-chain";
import { failingBatch, InjectedFault } from "../support/faults";
import {
  balanceOf,
  CHECKER_ID,
  call,
  callApproved,
  key,
  ledger,
  openRoom,
  operatorToken,
  settleTransit,
  token,
} from "./helpers";
import { at, creatorAndViewer, reverseApi, runSettlementApi, tipAt } from "./money-out-support";

const uid = (label: string) => `au-${label}-${Math.random().toString(36).slice(2, 10)}`;

const action = (target: string, n = 0): AuditAction => ({
  actor: "usr_auditor_test",
  action: "test.bulk",
  target,
  requestId: `req_bulk_${n}`,
  before: null,
  after: { n },
});

async function entriesAfter(db: D1Database, seq: number): Promise<Record<string, unknown>[]> {
  const { results } = await db.prepare("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq").bind(seq).all();
  return results;
}

/**
 * Appends `count` entries to a chain as fast as D1 allows: each statement inserts a slice of
 * entries from one JSON parameter (one bound parameter, however many entries), a batch holds
 * several statements. Another test file may append to the same chain meanwhile: a batch that
 * lost the race (the links trigger refuses it whole) is built again on the new head.
 */
async function appendMany(db: D1Database, count: number, target: string): Promise<void> {
  const perStatement = 150;
  const perBatch = 10;
  let done = 0;
  while (done < count) {
    let head: ChainHead = await readAuditHead(db);
    const statements: D1PreparedStatement[] = [];
    const n = Math.min(count - done, perStatement * perBatch);
    for (let s = 0; s < n; s += perStatement) {
      const slice: AuditEntry[] = [];
      for (let i = s; i < Math.min(n, s + perStatement); i++) {
        const entry = nextEntry(head, action(target, done + i), 1_700_000_000_000 + done + i);
        slice.push(entry);
        head = { seq: entry.seq, hash: entry.hash };
      }
      statements.push(
        db
          .prepare(
            `INSERT INTO audit_log (seq, at_ms, actor, action, target, request_id, detail, digest, prev_hash, hash)
             SELECT value ->> '$.seq', value ->> '$.atMs', value ->> '$.actor', value ->> '$.action',
                    value ->> '$.target', value ->> '$.requestId', value ->> '$.detail', value ->> '$.digest',
                    value ->> '$.prevHash', value ->> '$.hash'
             FROM json_each(?) ORDER BY key`,
          )
          .bind(JSON.stringify(slice)),
      );
    }
    try {
      await db.batch(statements);
      done += n;
    } catch (error) {
      if ((await readAuditHead(db)).seq === head.seq - n) throw error; // nobody else appended: a real failure
    }
  }
}

/** A copy of a chain's table without its triggers, for tampering with by direct SQL. */
async function tamperableCopy(db: D1Database): Promise<string> {
  const table = `audit_log_copy_${Math.random().toString(36).slice(2, 10)}`;
  await db.prepare(`CREATE TABLE ${table} AS SELECT * FROM audit_log ORDER BY seq`).run();
  return table;
}

describe("the audit log in the database", () => {
  it("refuses updates, deletes, and entries that do not follow and link to the head", async () => {
    const { db } = (await ledger()).shard(0);
    const draft = await draftAuditEntry(db, action(uid("t")), Date.now());
    await db.batch([draft.statement()]);
    const { seq } = draft.entry;
    await expect(db.prepare("UPDATE audit_log SET target = 'x' WHERE seq = ?").bind(seq).run()).rejects.toThrow(
      /audit_log_append_only/,
    );
    await expect(db.prepare("DELETE FROM audit_log WHERE seq = ?").bind(seq).run()).rejects.toThrow(
      /audit_log_append_only/,
    );
    const head = await readAuditHead(db);
    const skipping = nextEntry({ seq: head.seq + 1, hash: head.hash }, action("x"), Date.now());
    await expect(db.batch([auditInsert(db, skipping)])).rejects.toThrow(/audit_log_append_only/);
    const misLinked = nextEntry({ seq: head.seq, hash: "f".repeat(64) }, action("x"), Date.now());
    await expect(db.batch([auditInsert(db, misLinked)])).rejects.toThrow(/audit_log_append_only/);
    expect((await readAuditHead(db)).seq).toBe(head.seq);
  });
});

describe("an operator's wallet adjustment", () => {
  it("appends exactly one entry, in its user's shard, with the operator, the action, the target and the request id", async () => {
    const userId = uid("adj");
    const l = await ledger();
    const shard = l.forOwner(userId);
    const before = await readAuditHead(shard.db);
    const idempotencyKey = key();
    const requestId = `req-audit-${userId}`;
    const res = await call("POST", `/v1/users/${userId}/wallet/adjustments`, {
      token: await token("op-auditing", "admin"),
      idempotencyKey,
      headers: { "x-request-id": requestId },
      body: { direction: "credit", amount: "7.50", reason: "audited goodwill" },
    });
    expect(res.status).toBe(201);
    const mine = (await entriesAfter(shard.db, before.seq)).filter((e) => e.target === userId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      actor: "op-auditing",
      action: "wallet.adjust",
      target: userId,
      request_id: requestId,
    });
    expect(JSON.parse(mine[0]?.detail as string)).toEqual({
      before: null,
      after: {
        adjustmentId: res.body.adjustment.id,
        direction: "credit",
        amountMinor: 750,
        reason: "audited goodwill",
      },
    });

    // A replay of the same key, and a refused debit, add nothing.
    const replay = await call("POST", `/v1/users/${userId}/wallet/adjustments`, {
      token: await token("op-auditing", "admin"),
      idempotencyKey,
      body: { direction: "credit", amount: "7.50", reason: "audited goodwill" },
    });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const refused = await call("POST", `/v1/users/${userId}/wallet/adjustments`, {
      token: await operatorToken(),
      idempotencyKey: key(),
      body: { direction: "debit", amount: "100.00", reason: "too much" },
    });
    expect(refused.body.error.code).toBe("insufficient_funds");
    expect((await entriesAfter(shard.db, before.seq)).filter((e) => e.target === userId)).toHaveLength(1);
    expect((await verifyStoredChain({ name: ledgerChainName(shard.index), db: shard.db })).ok).toBe(true);
  });

  it("an adjustment whose audit entry cannot be inserted moves no money, and one that lost the race runs again once", async () => {
    const userId = uid("race");
    const shard = (await ledger()).forOwner(userId);
    const wallet = accountAddress.userWallet(userId);
    const adjustment = (id: string) => ({
      id,
      userId,
      direction: "credit" as const,
      amountMinor: 1_000,
      reason: "race",
      actorId: "op-race",
    });
    const audit = action(userId);
    const runWith = (id: string) => (draft: Awaited<ReturnType<typeof draftAuditEntry>>) =>
      runOperation(
        shard,
        composeAdjustment(shard, adjustment(id), Date.now(), (posting) => [draft.statement(posting)]),
      );

    // The entry was drafted on a head another appender has since moved: the batch fails whole.
    const stale = await draftAuditEntry(shard.db, audit, Date.now());
    await shard.db.batch([(await draftAuditEntry(shard.db, action("someone-else"), Date.now())).statement()]);
    await expect(runWith(`adj_${userId}_a`)(stale)).rejects.toThrow();
    expect(await balanceOf(wallet)).toBe(0);
    const op = await shard.db.prepare("SELECT 1 FROM operations WHERE id = ?").bind(`adj_${userId}_a`).first();
    expect(op).toBeNull();

    // Through withAuditEntry: the first attempt loses the race, the second commits, once.
    let attempts = 0;
    const before = await readAuditHead(shard.db);
    await withAuditEntry(shard.db, audit, async (draft) => {
      attempts += 1;
      if (attempts === 1) {
        await shard.db.batch([(await draftAuditEntry(shard.db, action("interloper"), Date.now())).statement()]);
      }
      return runWith(`adj_${userId}_b`)(draft);
    });
    expect(attempts).toBe(2);
    expect(await balanceOf(wallet)).toBe(1_000);
    expect((await entriesAfter(shard.db, before.seq)).filter((e) => e.target === userId)).toHaveLength(1);

    // A failure after the batch committed (a lost reply) is not a lost race: not run again.
    const faulty = { ...shard, db: failingBatch(shard.db, 1, "after") };
    await expect(
      withAuditEntry(faulty.db, action(userId, 1), (draft) =>
        runOperation(
          faulty,
          composeAdjustment(faulty, adjustment(`adj_${userId}_d`), Date.now(), (posting) => [draft.statement(posting)]),
        ),
      ),
    ).rejects.toBeInstanceOf(InjectedFault);
    expect(await balanceOf(wallet)).toBe(2_000);
    expect((await entriesAfter(shard.db, before.seq)).filter((e) => e.target === userId)).toHaveLength(2);

    // Losing every attempt: a clear error, and no money.
    await expect(
      withAuditEntry(shard.db, audit, async (draft) => {
        await shard.db.batch([(await draftAuditEntry(shard.db, action("interloper"), Date.now())).statement()]);
        return runWith(`adj_${userId}_c`)(draft);
      }),
    ).rejects.toBeInstanceOf(AuditChainBusyError);
    expect(await balanceOf(wallet)).toBe(2_000);
  });
});

describe("a chain of 10,000 entries", () => {
  it("verifies, and each of 100 random tamperings (change, delete, reorder) is reported at exactly its index", async () => {
    const l = await ledger();
    const shard = l.shards.at(-1);
    if (shard === undefined) throw new Error("no shard");
    const chain: AuditChain = { name: ledgerChainName(shard.index), db: shard.db };
    const startedMs = Date.now();
    await appendMany(shard.db, 10_000, uid("bulk"));
    const builtMs = Date.now() - startedMs;
    const verifyStartedMs = Date.now();
    const report = await verifyStoredChain(chain);
    const verifiedMs = Date.now() - verifyStartedMs;
    expect(report).toMatchObject({ ok: true, broken: null });
    expect(report.length).toBeGreaterThanOrEqual(10_000);
    expect(report.headSeq).toBe(report.length);
    console.log(`audit chain: appended 10,000 entries in ${builtMs} ms; walked ${report.length} in ${verifiedMs} ms`);

    const table = await tamperableCopy(shard.db);
    const length = (await verifyStoredChain(chain, [], table)).length;
    const head = { seq: report.headSeq, hash: report.headHash };
    const copy = (sql: string, ...params: unknown[]) =>
      shard.db
        .prepare(sql.replaceAll("$t", table))
        .bind(...params)
        .run();
    const kinds = fc.sample(
      fc.record({
        kind: fc.constantFrom("change", "delete", "reorder"),
        column: fc.constantFrom(
          "at_ms",
          "actor",
          "action",
          "target",
          "request_id",
          "detail",
          "digest",
          "hash",
          "prev_hash",
        ),
        seq: fc.integer({ min: 1, max: length }),
        other: fc.integer({ min: 1, max: length }),
      }),
      { numRuns: 100, seed: 15 },
    );
    let index = 0;
    for (const t of kinds) {
      index += 1;
      if (t.kind === "change") {
        const value =
          t.column === "at_ms"
            ? "at_ms + 1"
            : t.column === "detail"
              ? `'{"after":1,"before":0}'`
              : `${t.column} || 'x'`;
        await copy(`UPDATE $t SET ${t.column} = ${value} WHERE seq = ?`, t.seq);
        const found = await verifyStoredChain(chain, [head], table);
        expect(found.broken, `tampering ${index}: ${JSON.stringify(t)}`).toMatchObject({
          index: t.seq - 1,
          kind: t.column === "prev_hash" ? "prev_link_broken" : "hash_mismatch",
        });
        await copy("DELETE FROM $t WHERE seq = ?", t.seq);
        await copy("INSERT INTO $t SELECT * FROM audit_log WHERE seq = ?", t.seq);
      } else if (t.kind === "delete") {
        await copy("DELETE FROM $t WHERE seq = ?", t.seq);
        const found = await verifyStoredChain(chain, [head], table);
        expect(found.broken, `tampering ${index}: ${JSON.stringify(t)}`).toMatchObject({
          index: t.seq - 1,
          kind: t.seq === length ? "anchor_missing" : "sequence_broken",
        });
        await copy("INSERT INTO $t SELECT * FROM audit_log WHERE seq = ?", t.seq);
      } else {
        const [a, b] = [Math.min(t.seq, t.other), Math.max(t.seq, t.other)];
        const other = a === b ? (a === length ? a - 1 : a + 1) : b;
        const [first, second] = [Math.min(a, other), Math.max(a, other)];
        const swap = () =>
          copy("UPDATE $t SET seq = CASE seq WHEN ?1 THEN ?2 ELSE ?1 END WHERE seq IN (?1, ?2)", first, second);
        await swap();
        const found = await verifyStoredChain(chain, [head], table);
        expect(found.broken, `tampering ${index}: ${JSON.stringify(t)}`).toMatchObject({
          index: first - 1,
          kind: "prev_link_broken",
        });
        await swap();
      }
    }
    // Every tampering was undone: the copy verifies again.
    expect((await verifyStoredChain(chain, [head], table)).ok).toBe(true);
    await shard.db.prepare(`DROP TABLE ${table}`).run();
  }, 300_000);
});

describe("daily anchors", () => {
  it("export each chain's head once a day, and a tail rewritten consistently fails against them", async () => {
    const l = await ledger();
    const chains = auditChains(l);
    // A day far from any other test's, so this file owns it.
    const dayMs = Date.UTC(2031, 4, Math.floor(Math.random() * 28) + 1, 12);
    const first = await exportDailyAnchors(env.AUDIT_ANCHORS, chains, dayMs);
    const again = await exportDailyAnchors(env.AUDIT_ANCHORS, chains, dayMs + 60_000);
    expect(first.exported).toBe(chains.length);
    expect(again).toEqual({ exported: 0, present: chains.length });

    const shard = l.shard(0);
    const name = ledgerChainName(0);
    const object = await env.AUDIT_ANCHORS.get(
      `audit-anchors/${new Date(dayMs).toISOString().slice(0, 10)}/${name}.json`,
    );
    const anchor = (await object?.json()) as { seq: number; hash: string };
    expect(anchor.seq).toBeGreaterThan(0);
    const anchors = await readAnchors(env.AUDIT_ANCHORS, name);
    expect(anchors).toContainEqual({ seq: anchor.seq, hash: anchor.hash });
    expect((await verifyStoredChain({ name, db: shard.db }, anchors)).ok).toBe(true);

    // Rewrite the anchored entry in a copy and re-hash it, as someone with write access could.
    const table = await tamperableCopy(shard.db);
    const row = await shard.db
      .prepare(`SELECT * FROM ${table} WHERE seq = ?`)
      .bind(anchor.seq)
      .first<Record<string, string | number>>();
    const prev = { seq: anchor.seq - 1, hash: String(row?.prev_hash) };
    const forged = nextEntry(prev, { ...action("forged"), requestId: String(row?.request_id) }, Number(row?.at_ms));
    await shard.db
      .prepare(`UPDATE ${table} SET target = ?, detail = ?, digest = ?, hash = ?, actor = ?, action = ? WHERE seq = ?`)
      .bind(forged.target, forged.detail, forged.digest, forged.hash, forged.actor, forged.action, anchor.seq)
      .run();
    await shard.db.prepare(`DELETE FROM ${table} WHERE seq > ?`).bind(anchor.seq).run();
    expect((await verifyStoredChain({ name, db: shard.db }, [], table)).ok).toBe(true);
    const report = await verifyStoredChain({ name, db: shard.db }, [anchor], table);
    expect(report.broken).toMatchObject({ index: anchor.seq - 1, kind: "anchor_mismatch" });
    await shard.db.prepare(`DROP TABLE ${table}`).run();
  });
});

describe("the audit endpoints", () => {
  it("verify reports every chain; the listing filters by actor, action and target and pages by cursor", async () => {
    const admin = await token("op-audit-reader", "admin");
    const verified = await call("GET", "/v1/admin/audit/verify", { token: admin });
    expect(verified.status).toBe(200);
    const l = await ledger();
    expect(verified.body.chains.map((c: { chain: string }) => c.chain)).toEqual([
      "control",
      ...l.shards.map((s) => `ledger-${s.index}`),
    ]);
    expect(verified.body.ok).toBe(true);

    const userId = uid("list");
    const actor = `op-${uid("lister")}`;
    for (const amount of ["1.00", "2.00", "3.00"]) {
      const res = await call("POST", `/v1/users/${userId}/wallet/adjustments`, {
        token: await token(actor, "finance"),
        idempotencyKey: key(),
        body: { direction: "credit", amount, reason: "listing test" },
      });
      expect(res.status).toBe(201);
    }
    const chain = ledgerChainName(l.forOwner(userId).index);
    const seen: { target: string; detail: { after: { amountMinor: number } } }[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `chain=${chain}&actor=${actor}&action=wallet.adjust&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await call("GET", `/v1/admin/audit?${query}`, { token: admin });
      expect(page.status).toBe(200);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.map((e) => [e.target, e.detail.after.amountMinor])).toEqual([
      [userId, 300],
      [userId, 200],
      [userId, 100],
    ]);
    const byTarget = await call("GET", `/v1/admin/audit?chain=${chain}&target=${userId}`, { token: admin });
    expect(byTarget.body.items).toHaveLength(3);
    const none = await call("GET", `/v1/admin/audit?chain=${chain}&target=${userId}&fromMs=${Date.now() + 60_000}`, {
      token: admin,
    });
    expect(none.body.items).toEqual([]);

    for (const role of ["finance", "ops", "support", "viewer"] as const) {
      const res = await call("GET", "/v1/admin/audit/verify", { token: await token("op-x", role) });
      expect(res.status, role).toBe(403);
    }
    const missing = await call("GET", "/v1/admin/audit?chain=ledger-63", { token: admin });
    expect(missing.status).toBe(404);
  });
});

describe("operator actions in the control database", () => {
  it("share, risk hold, gift create/update/delete and an inbox template each append exactly one entry; a refused one none", async () => {
    const control = (await ledger()).control;
    const creatorId = uid("creator");
    await openRoom(creatorId);
    const giftId = `au-${Math.random().toString(36).slice(2, 10)}`;
    const actor = `op-${uid("ctl")}`;
    const ops = await token(actor, "admin", "ops", "finance");
    const head = await readAuditHead(control);

    const steps: [string, string, Record<string, unknown>, number][] = [
      ["PUT", `/v1/admin/creators/${creatorId}/share`, { platformShareBps: 1500 }, 200],
      ["PUT", `/v1/admin/creators/${creatorId}/risk-hold`, { hold: true, reason: "audit test" }, 200],
      [
        "POST",
        "/v1/admin/gifts",
        { id: giftId, name: "Audit", price: "1.00", tier: "small", animationKey: "audit", enabled: true, sortOrder: 9 },
        201,
      ],
      ["PATCH", `/v1/admin/gifts/${giftId}`, { price: "2.00" }, 200],
      ["DELETE", `/v1/admin/gifts/${giftId}`, {}, 204],
      ["PATCH", `/v1/admin/gifts/${giftId}`, { price: "3.00" }, 404],
      ["PUT", "/v1/admin/creators/au-no-such-creator/share", { platformShareBps: 100 }, 404],
    ];
    for (const [method, path, body, status] of steps) {
      // The share change is four-eyed: a second operator approves it, and it runs as `actor`'s.
      const res = await callApproved(method, path, { token: ops, body: method === "DELETE" ? undefined : body });
      expect(res.status, `${method} ${path}`).toBe(status);
    }
    const mine = (await entriesAfter(control, head.seq)).filter((e) => e.actor === actor);
    expect(mine.map((e) => [e.action, e.target])).toEqual([
      ["creator_share.set", creatorId],
      ["creator_risk_hold.set", creatorId],
      ["gift.create", giftId],
      ["gift.update", giftId],
      ["gift.delete", giftId],
    ]);
    expect(JSON.parse(mine[0]?.detail as string)).toEqual({
      before: { platformShareBps: null },
      after: {
        platformShareBps: 1500,
        fourEyes: { proposalId: expect.stringMatching(/^prp_/), approvedBy: CHECKER_ID },
      },
    });
    expect(JSON.parse(mine[3]?.detail as string)).toMatchObject({
      before: { priceMinor: 100 },
      after: { priceMinor: 200 },
    });
    expect((await verifyStoredChain({ name: "control", db: control })).ok).toBe(true);
  });
});

describe("money-moving actions in the ledger shards", () => {
  it("a settlement run appends one entry per shard batch and none when run again; a tip reversal one, in the creator's shard", async () => {
    const prefix = uid("st");
    const { creator, viewer, roomId } = await creatorAndViewer(prefix);
    // A day no other test settles: the run settles every creator with tips that day.
    const day = "2025-03-07";
    await tipAt(roomId, viewer, "10.00", at(day));
    const reversed = await tipAt(roomId, viewer, "5.00", at(day, 1_000));
    await settleTransit();
    const shard = (await ledger()).forOwner(creator);
    const head = await readAuditHead(shard.db);

    const run = await runSettlementApi(day);
    expect(run.status).toBe(200);
    expect(run.body.settled).toContain(creator);
    const again = await runSettlementApi(day);
    expect(again.status).toBe(200);
    const reverse = await reverseApi(reversed.id);
    expect(reverse.status).toBe(201);

    const entries = await entriesAfter(shard.db, head.seq);
    const ofDay = entries.filter((e) => e.target === `day:${day}`);
    expect(ofDay).toHaveLength(1);
    expect(ofDay[0]).toMatchObject({ actor: "ops-test", action: "settlement.run" });
    expect(JSON.parse(ofDay[0]?.detail as string).after.creators).toContain(creator);
    const reversal = entries.filter((e) => e.target === reversed.id);
    expect(reversal).toHaveLength(1);
    expect(reversal[0]).toMatchObject({ actor: "ops-test", action: "tip.reverse" });
    expect(JSON.parse(reversal[0]?.detail as string).after).toMatchObject({
      reversalId: reverse.body.reversal.id,
      creatorId: creator,
      amountMinor: 500,
    });
    expect((await verifyStoredChain({ name: ledgerChainName(shard.index), db: shard.db })).ok).toBe(true);
  });
});
