/**
 * A cross-shard credit whose halves are archived at different times (docs/SCALING.md,
 * Archival): shard A archives and prunes a day in which it sent a credit to shard B and
 * received one from B, while B keeps its halves live. The pruned ids are tombstones in A, so
 * a redelivery of B's credit is "already delivered", a redelivery of A's finds no outbox row
 * and posts nothing, and the cross-shard checker matches each live half with its archived one.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { advanceArchive } from "../../src/db/archive/advance";
import { ARCHIVE_LIMITS } from "../../src/db/archive/format";
import { composeOperation, runOperation } from "../../src/db/ledger";
import { checkShardedInvariants } from "../../src/db/sharded-invariants";
import type { LedgerShard } from "../../src/db/shards";
import { deliverTransit } from "../../src/db/transit";
import { accountAddress, type Posting } from "../../src/domain/accounts";
import { ledger } from "./helpers";

const DAY = 24 * 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const ARCHIVED_AT = T0 + DAY + ARCHIVE_LIMITS.periodSettleMs;

async function post(shard: LedgerShard, id: string, postings: Posting[], nowMs: number) {
  const composed = composeOperation(shard, {
    id,
    kind: "adjustment",
    currency: "CNY",
    postings,
    actorId: "test:archive-transit",
    reason: "test",
    metadata: null,
    nowMs,
    guards: [],
    extra: () => [],
  });
  const { verdict } = await runOperation(shard, composed);
  return { verdict, transit: composed.transit };
}

describe("a cross-shard credit archived in one shard and live in the other", () => {
  it("is already delivered, harmless to redeliver, and matched by the checker", async () => {
    const l = await ledger();
    if (l.shards.length === 1) return; // nothing crosses with one shard
    const a = l.forOwner("xa-0");
    const owners = Array.from({ length: 64 }, (_, i) => `xb-${i}`);
    const b = owners.find((o) => l.forOwner(o).index !== a.index);
    expect(b).toBeDefined();
    const ownerB = b ?? "";
    const shardB = l.forOwner(ownerB);
    const walletA = accountAddress.userWallet("xa-0");
    const walletB = accountAddress.userWallet(ownerB);

    expect(
      (
        await post(
          a,
          "adj_xa_fund",
          [{ from: accountAddress.worldAdjustments(), to: walletA, amountMinor: 1_000 }],
          T0 + 1_000,
        )
      ).verdict,
    ).toEqual({ kind: "posted" });
    expect(
      (
        await post(
          shardB,
          "adj_xb_fund",
          [{ from: accountAddress.worldAdjustments(), to: walletB, amountMinor: 1_000 }],
          T0 + 1_000,
        )
      ).verdict,
    ).toEqual({ kind: "posted" });
    // A → B and B → A, both delivered on day 1.
    const ab = await post(a, "adj_xa_to_b", [{ from: walletA, to: walletB, amountMinor: 300 }], T0 + 2_000);
    const ba = await post(shardB, "adj_xb_to_a", [{ from: walletB, to: walletA, amountMinor: 200 }], T0 + 2_000);
    expect(ab.transit).toHaveLength(1);
    expect(ba.transit).toHaveLength(1);
    const refs = [...ab.transit, ...ba.transit];
    expect(await deliverTransit(l, refs, T0 + 3_000)).toEqual([{ kind: "delivered" }, { kind: "delivered" }]);
    expect((await checkShardedInvariants(l, T0 + 4_000)).violations).toEqual([]);

    // Shard A archives day 1 and prunes it; B does not.
    let state = "";
    for (let i = 0; i < 20 && state !== "pruned"; i++) {
      const outcome = await advanceArchive(a.db, env.LEDGER_ARCHIVE, {
        shard: a.index,
        beforeMs: T0 + DAY,
        nowMs: ARCHIVED_AT,
        stepsMax: 10,
      });
      expect(outcome.kind).toBe("advanced");
      state = outcome.kind === "advanced" ? outcome.state : "";
    }
    expect(state).toBe("pruned");
    expect(await a.db.prepare("SELECT COUNT(*) AS n FROM operations").first<number>("n")).toBe(0);
    const tombstones = await a.db.prepare("SELECT id FROM operation_tombstones ORDER BY id").all<{ id: string }>();
    expect(tombstones.results.map((t) => t.id)).toEqual(
      [`adj_xb_to_a>${a.index}`, "adj_xa_fund", "adj_xa_to_b"].sort(),
    );

    // Redelivered: B's credit to A was posted and archived in A ("exists"); A's credit to B
    // left A with its outbox row, so nothing is read and nothing posts.
    const balances = async () =>
      Promise.all([
        a.db.prepare("SELECT balance_minor AS n FROM accounts WHERE address = ?").bind(walletA).first<number>("n"),
        shardB.db.prepare("SELECT balance_minor AS n FROM accounts WHERE address = ?").bind(walletB).first<number>("n"),
      ]);
    expect(await balances()).toEqual([1_000 - 300 + 200, 1_000 - 200 + 300]);
    expect(await deliverTransit(l, [...ba.transit, ...ab.transit], ARCHIVED_AT)).toEqual([
      { kind: "already_delivered" },
      { kind: "no_such_row" },
    ]);
    expect(await balances()).toEqual([900, 1_100]);

    // The checker matches B's live halves with A's archived ones.
    expect((await checkShardedInvariants(l, ARCHIVED_AT)).violations).toEqual([]);
  });
});
