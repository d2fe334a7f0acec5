/**
 * Archival of a ledger shard's closed periods (src/db/archive, docs/SCALING.md, Archival), end to end
 * on real D1 and R2 bindings: ARCHIVE_TEST_SHARD is the shard being archived, ARCHIVE_TEST_SPARE
 * an empty shard the archives are read back into (two test-only databases, vitest.config.ts). The shard is populated with SQL (test/support/ledger-rows.ts)
 * with a day of history that has every kind of row an archive must take or leave: tips,
 * payment orders, a pay-to-tip, a subsidy, a red packet finished within the day and one still
 * open at its end, cross-shard tips delivered and not. The steps run in order and share the
 * shard (storage is per file): archive day 1, prune it, add day 2, archive it through crashes,
 * read both back.
 */

import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { advanceArchive } from "../../src/db/archive/advance";
import { archivedBalanceOf } from "../../src/db/archive/checkpoints";
import { archivedBefore, historyCoverage } from "../../src/db/archive/coverage";
import { exportArchive } from "../../src/db/archive/export";
import {
  ARCHIVE_LIMITS,
  ARCHIVE_TABLES,
  checkpointDigest,
  gunzip,
  type Manifest,
  OPERATION_ROW_TABLES,
  pack,
  sha256Hex,
} from "../../src/db/archive/format";
import { pruneArchive } from "../../src/db/archive/prune";
import { importArchive } from "../../src/db/archive/reimport";
import { renderDataFile } from "../../src/db/archive/render";
import { startArchive } from "../../src/db/archive/start";
import { type ArchiveRow, requireArchive } from "../../src/db/archive/state";
import { purgeOperationTombstones } from "../../src/db/archive/tombstones";
import { readManifest, verifyArchive } from "../../src/db/archive/verify";
import { checkLedgerInvariants } from "../../src/db/invariants";
import { composeOperation, runOperation, runOperations } from "../../src/db/ledger";
import { checkMoneyOutInvariants } from "../../src/db/money-out-invariants";
import { RECEIVABLE_SQL } from "../../src/db/reads/settlement-inputs";
import { Ledger, type LedgerShard } from "../../src/db/shards";
import { deliverTransit } from "../../src/db/transit";
import { checkWithdrawalInvariants } from "../../src/db/withdrawal-invariants";
import { accountAddress } from "../../src/domain/accounts";
import { LIMITS } from "../../src/domain/limits";
import { evenBucketMap } from "../../src/domain/shards";
import { entitlementOf } from "../../src/worker/content-grants";
import { failingBatch, failingPut, InjectedFault } from "../support/faults";
import { operationRows, type SeedStep, writeSteps } from "../support/ledger-rows";

const shard = env.ARCHIVE_TEST_SHARD;
const spare = env.ARCHIVE_TEST_SPARE;
const bucket = env.LEDGER_ARCHIVE;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);
const T1 = T0 + DAY;
const T2 = T1 + DAY;
/** Long enough after a period's end for it to be archived (ARCHIVE_LIMITS.periodSettleMs). */
const SETTLED = ARCHIVE_LIMITS.periodSettleMs;
/** Small pages and files, so a day of a few hundred operations crosses both many times. */
const TUNING = { rowsPerPage: 64, transfersPerFile: 150 };
const SMALL_TUNING = { rowsPerPage: 32, transfersPerFile: 50 };

const wallet = accountAddress.userWallet;

// ── a day of history ─────────────────────────────────────────────────────────────────

function op(
  id: string,
  kind: string,
  atMs: number,
  postings: { from: string; to: string; amountMinor: number }[],
  rows: (db: D1Database) => D1PreparedStatement[] = () => [],
): SeedStep {
  return { atMs, statements: (db) => [...operationRows(db, { id, kind, postings, atMs }), ...rows(db)] };
}

function tipRow(db: D1Database, id: string, viewer: string, creator: string, amountMinor: number, atMs: number) {
  const platformMinor = Math.floor((amountMinor * 3) / 10);
  return db
    .prepare(
      `INSERT INTO tips (id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
         platform_minor, creator_minor, currency, created_at_ms)
       VALUES (?, 'room_1', 'stream_1', ?, ?, 'rose', 1, ?, 0, ?, ?, 'CNY', ?)`,
    )
    .bind(id, viewer, creator, amountMinor, platformMinor, amountMinor - platformMinor, atMs);
}

function tip(id: string, viewer: string, creator: string, amountMinor: number, atMs: number): SeedStep {
  const platformMinor = Math.floor((amountMinor * 3) / 10);
  return op(
    id,
    "tip",
    atMs,
    [
      { from: wallet(viewer), to: accountAddress.creatorPending(creator), amountMinor: amountMinor - platformMinor },
      { from: wallet(viewer), to: accountAddress.platformRevenue(), amountMinor: platformMinor },
    ],
    (db) => [tipRow(db, id, viewer, creator, amountMinor, atMs)],
  );
}

function paidOrder(orderId: string, user: string, amountMinor: number, atMs: number, tipId: string | null): SeedStep {
  return op(
    orderId,
    "payment_credit",
    atMs,
    [{ from: accountAddress.channelClearing("sandbox"), to: wallet(user), amountMinor }],
    (db) => [
      db
        .prepare(
          `INSERT INTO payment_orders (id, kind, user_id, channel, currency, amount_minor, state, idempotency_key,
             created_at_ms, expires_at_ms, updated_at_ms, tip_id, tip_outcome)
           VALUES (?, ?, ?, 'sandbox', 'CNY', ?, 'succeeded', ?, ?, ?, ?, ?, ?)`,
        )
        .bind(
          orderId,
          tipId === null ? "topup" : "tip",
          user,
          amountMinor,
          `key-${orderId}`,
          atMs,
          atMs + HOUR,
          atMs,
          tipId,
          tipId === null ? null : "sent",
        ),
    ],
  );
}

function packetSend(id: string, sender: string, totalMinor: number, shares: number, atMs: number): SeedStep {
  return op(
    id,
    "packet_send",
    atMs,
    [{ from: wallet(sender), to: accountAddress.packetEscrow(id), amountMinor: totalMinor }],
    (db) => [
      db
        .prepare(
          `INSERT INTO red_packets (id, room_id, stream_id, sender_id, funding, currency, total_minor, shares, split,
             greeting, audience, created_at_ms, expires_at_ms, status)
           VALUES (?, 'room_1', 'stream_1', ?, 'wallet', 'CNY', ?, ?, 'lucky', '恭喜发财', 'everyone', ?, ?, 'open')`,
        )
        .bind(id, sender, totalMinor, shares, atMs, atMs + DAY),
    ],
  );
}

function claim(id: string, packetId: string, user: string, index: number, amountMinor: number, atMs: number) {
  return op(
    id,
    "packet_claim",
    atMs,
    [{ from: accountAddress.packetEscrow(packetId), to: wallet(user), amountMinor }],
    (db) => [
      db
        .prepare(
          `INSERT INTO red_packet_claims (id, packet_id, user_id, claim_index, amount_minor, claimed_at_ms, credited_at_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .bind(id, packetId, user, index, amountMinor, atMs, atMs),
      db
        .prepare(
          "UPDATE red_packets SET credited_count = credited_count + 1, credited_minor = credited_minor + ? WHERE id = ?",
        )
        .bind(amountMinor, packetId),
    ],
  );
}

function crossShardTip(id: string, viewer: string, amountMinor: number, atMs: number, deliveredAtMs: number | null) {
  return op(id, "tip", atMs, [{ from: wallet(viewer), to: accountAddress.transit(1), amountMinor }], (db) => [
    tipRow(db, id, viewer, "c_remote", amountMinor, atMs),
    db
      .prepare(
        `INSERT INTO transit_outbox (operation_id, destination_shard, operation_kind, postings, amount_minor, currency,
           created_at_ms, delivered_at_ms, attempts) VALUES (?, 1, 'tip', ?, ?, 'CNY', ?, ?, ?)`,
      )
      .bind(
        id,
        JSON.stringify([{ from: accountAddress.transit(0), to: "creator:c_remote:pending", amountMinor }]),
        amountMinor,
        atMs,
        deliveredAtMs,
        1,
      ),
  ]);
}

/** A tip on a content item (issue 19): no room, no stream; archived like any tip. */
function contentTip(id: string, viewer: string, creator: string, amountMinor: number, atMs: number): SeedStep {
  const platformMinor = Math.floor((amountMinor * 3) / 10);
  return op(
    id,
    "tip",
    atMs,
    [
      { from: wallet(viewer), to: accountAddress.creatorPending(creator), amountMinor: amountMinor - platformMinor },
      { from: wallet(viewer), to: accountAddress.platformRevenue(), amountMinor: platformMinor },
    ],
    (db) => [
      db
        .prepare(
          `INSERT INTO tips (id, content_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
             platform_minor, creator_minor, currency, created_at_ms)
           VALUES (?, 'cnt_archived', ?, ?, NULL, 1, ?, 0, ?, ?, 'CNY', ?)`,
        )
        .bind(id, viewer, creator, amountMinor, platformMinor, amountMinor - platformMinor, atMs),
    ],
  );
}

/** A wallet unlock (operations/unlock.ts): its entitlement row has the operation's id. */
function unlock(id: string, user: string, creator: string, amountMinor: number, atMs: number): SeedStep {
  const platformMinor = Math.floor((amountMinor * 3) / 10);
  return op(
    id,
    "unlock",
    atMs,
    [
      { from: wallet(user), to: accountAddress.creatorPending(creator), amountMinor: amountMinor - platformMinor },
      { from: wallet(user), to: accountAddress.platformRevenue(), amountMinor: platformMinor },
    ],
    (db) => [
      db
        .prepare(
          `INSERT INTO entitlements (id, content_id, user_id, creator_id, amount_minor, platform_minor, creator_minor,
             platform_bps, currency, state, created_at_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, 3000, 'CNY', 'active', ?)`,
        )
        .bind(id, `cnt_${id}`, user, creator, amountMinor, platformMinor, amountMinor - platformMinor, atMs),
    ],
  );
}

/**
 * An unlock refunded before its day settled (operations/unlock-refund.ts, unlock-refund-payer.ts):
 * the creator's leg with its `unlock_refunds` row, then the payer's leg revoking the entitlement.
 */
function unlockRefund(
  refundId: string,
  unlockId: string,
  user: string,
  creator: string,
  amountMinor: number,
  atMs: number,
) {
  const platformMinor = Math.floor((amountMinor * 3) / 10);
  const creatorMinor = amountMinor - platformMinor;
  return [
    op(
      refundId,
      "unlock_refund",
      atMs,
      [{ from: accountAddress.creatorPending(creator), to: wallet(user), amountMinor: creatorMinor }],
      (db) => [
        db
          .prepare(
            `INSERT INTO unlock_refunds (id, unlock_id, content_id, creator_id, user_id, unlock_day, unlock_created_at_ms,
               amount_minor, platform_minor, creator_minor, source, payer_leg_at_ms, reason, actor_id, currency,
               created_at_ms)
             VALUES (?, ?, ?, ?, ?, '2026-01-01', ?, ?, ?, ?, 'pending', ?, 'refund', 'ops', 'CNY', ?)`,
          )
          .bind(
            refundId,
            unlockId,
            `cnt_${unlockId}`,
            creator,
            user,
            atMs,
            amountMinor,
            platformMinor,
            creatorMinor,
            atMs + 1,
            atMs,
          ),
      ],
    ),
    {
      atMs: atMs + 1,
      statements: (db: D1Database) => [
        ...operationRows(db, {
          id: `${refundId}:payer`,
          kind: "unlock_refund_payer",
          postings: [{ from: accountAddress.platformRevenue(), to: wallet(user), amountMinor: platformMinor }],
          atMs: atMs + 1,
          metadata: { refundId, unlockId },
        }),
        db
          .prepare("UPDATE entitlements SET state = 'revoked', revoked_at_ms = ? WHERE id = ?")
          .bind(atMs + 1, unlockId),
      ],
    } satisfies SeedStep,
  ];
}

/**
 * Money-out records of day 1 (operations/settlement.ts, tip-reversal.ts, withdrawal-*.ts): c2's
 * day settled into available, a reversal of an earlier (settled) tip of c1's taken from the
 * receivable, and two withdrawals of c2's: one paid, one rejected and given back.
 */
function moneyOut(atMs: number): SeedStep[] {
  const settlementId = "settlement:c2:2026-01-01";
  const withdrawal = (id: string, amountMinor: number, state: "paid" | "rejected", at: number) =>
    `INSERT INTO withdrawals (id, creator_id, owner_kind, amount_minor, fee_minor, currency, channel, payout_account_id,
       destination_masked, state, review, idempotency_key, created_at_ms, updated_at_ms)
     VALUES ('${id}', 'c2', 'creator', ${amountMinor}, 0, 'CNY', 'sandbox', 'pa_c2', '***0001', '${state}', 'auto',
       'key-${id}', ${at}, ${at})`;
  return [
    op(
      settlementId,
      "settlement",
      atMs,
      [{ from: accountAddress.creatorPending("c2"), to: accountAddress.creatorAvailable("c2"), amountMinor: 3_000 }],
      (db) => [
        db
          .prepare(
            `INSERT INTO creator_settlements (id, creator_id, day, state, due_at_ms, gross_minor, platform_minor,
               creator_part_minor, reversed_minor, withholding_minor, receivable_offset_minor, net_minor, tip_count,
               currency, run_id, created_at_ms, updated_at_ms)
             VALUES (?, 'c2', '2026-01-01', 'settled', ?, 4286, 1286, 3000, 0, 0, 0, 3000, 20, 'CNY', 'run_1', ?, ?)`,
          )
          .bind(settlementId, atMs, atMs, atMs),
      ],
    ),
    // The receivable's amount is in the operation's metadata (earning-return.ts), as posted.
    {
      atMs: atMs + 1_000,
      statements: (db: D1Database) => [
        ...operationRows(db, {
          id: "rev_1",
          kind: "tip_reversal",
          postings: [{ from: accountAddress.platformReceivables(), to: wallet("v1"), amountMinor: 140 }],
          atMs: atMs + 1_000,
          metadata: { receivableMinor: 140, withheldMinor: 0 },
        }),
        db
          .prepare(
            `INSERT INTO tip_reversals (id, tip_id, creator_id, viewer_id, tip_day, tip_created_at_ms, amount_minor,
               platform_minor, creator_minor, source, platform_leg_at_ms, reason, actor_id, currency, created_at_ms)
             VALUES ('rev_1', 'tip_before', 'c1', 'v1', '2025-12-31', ?, 200, 60, 140, 'receivable', ?, 'chargeback',
               'ops', 'CNY', ?)`,
          )
          .bind(T0 - DAY, atMs + 1_000, atMs + 1_000),
      ],
    } satisfies SeedStep,
    op(
      "wd_1",
      "withdrawal_hold",
      atMs + 2_000,
      [
        {
          from: accountAddress.creatorAvailable("c2"),
          to: accountAddress.creatorWithdrawing("c2"),
          amountMinor: 1_000,
        },
      ],
      (db) => [db.prepare(withdrawal("wd_1", 1_000, "paid", atMs + 2_000))],
    ),
    op("wd_1:payout", "withdrawal_payout", atMs + 3_000, [
      {
        from: accountAddress.creatorWithdrawing("c2"),
        to: accountAddress.channelPayouts("sandbox"),
        amountMinor: 1_000,
      },
    ]),
    op(
      "wd_2",
      "withdrawal_hold",
      atMs + 4_000,
      [{ from: accountAddress.creatorAvailable("c2"), to: accountAddress.creatorWithdrawing("c2"), amountMinor: 500 }],
      (db) => [db.prepare(withdrawal("wd_2", 500, "rejected", atMs + 4_000))],
    ),
    op("wd_2:release", "withdrawal_release", atMs + 5_000, [
      { from: accountAddress.creatorWithdrawing("c2"), to: accountAddress.creatorAvailable("c2"), amountMinor: 500 },
    ]),
  ];
}

/**
 * A tip a risk rule held (operations/tip-hold.ts) and its decision: approved into the tip
 * `tip_X` paid from the held account, or declined back to the wallet (`held_X:release`).
 */
function heldTip(heldId: string, viewer: string, creator: string, amountMinor: number, atMs: number, approve: boolean) {
  const held = accountAddress.userHeld(viewer);
  const tipId = `tip_${heldId.slice("held_".length)}`;
  const platformMinor = Math.floor((amountMinor * 3) / 10);
  const steps: SeedStep[] = [
    op(heldId, "tip_hold", atMs, [{ from: wallet(viewer), to: held, amountMinor }], (db) => [
      db
        .prepare(
          `INSERT INTO held_tips (id, viewer_id, content_id, creator_id, ask, gift_id, quantity, amount_minor, currency,
             decision_id, fired, idempotency_key, state, tip_id, created_at_ms, expires_at_ms, decided_by,
             decided_at_ms)
           VALUES (?, ?, 'cnt_archived', ?, '{"kind":"custom","amount":"1.00"}', NULL, 1, ?, 'CNY', 'rsk_1', '[]',
             ?, ?, ?, ?, ?, 'ops', ?)`,
        )
        .bind(
          heldId,
          viewer,
          creator,
          amountMinor,
          `key-${heldId}`,
          approve ? "approved" : "declined",
          tipId,
          atMs,
          atMs + DAY,
          atMs + 1,
        ),
    ]),
  ];
  if (approve) {
    steps.push(
      op(
        tipId,
        "tip",
        atMs + 1,
        [
          { from: held, to: accountAddress.creatorPending(creator), amountMinor: amountMinor - platformMinor },
          { from: held, to: accountAddress.platformRevenue(), amountMinor: platformMinor },
        ],
        (db) => [
          db
            .prepare(
              `INSERT INTO tips (id, content_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
                 platform_minor, creator_minor, currency, created_at_ms)
               VALUES (?, 'cnt_archived', ?, ?, NULL, 1, ?, 0, ?, ?, 'CNY', ?)`,
            )
            .bind(tipId, viewer, creator, amountMinor, platformMinor, amountMinor - platformMinor, atMs + 1),
        ],
      ),
    );
  } else {
    steps.push(
      op(`${heldId}:release`, "tip_hold_release", atMs + 1, [{ from: held, to: wallet(viewer), amountMinor }]),
    );
  }
  return steps;
}

const VIEWERS = Array.from({ length: 10 }, (_, i) => `v${i}`);

function dayOne(): SeedStep[] {
  return [
    ...VIEWERS.map((v, i) =>
      op(`adj_${v}`, "adjustment", T0 + 1_000 + i, [
        { from: accountAddress.worldAdjustments(), to: wallet(v), amountMinor: 1_000_000 },
      ]),
    ),
    ...Array.from({ length: 300 }, (_, i) =>
      tip(
        `tip_${String(i).padStart(4, "0")}`,
        `v${i % 10}`,
        `c${i % 3}`,
        100 * (1 + (i % 5)),
        T0 + 60_000 + i * 240_000,
      ),
    ),
    paidOrder("order_top1", "v0", 5_000, T0 + HOUR, null),
    paidOrder("order_p2t1", "v1", 1_000, T0 + 2 * HOUR, "tip_p2t1"),
    tip("tip_p2t1", "v1", "c0", 1_000, T0 + 2 * HOUR + 1),
    op("campaign_k1", "campaign_fund", T0 + 3 * HOUR, [
      { from: accountAddress.platformSubsidy(), to: accountAddress.campaignBudget("k1"), amountMinor: 10_000 },
    ]),
    op(
      "subsidy_1",
      "subsidy_issue",
      T0 + 3 * HOUR + 1,
      [{ from: accountAddress.campaignBudget("k1"), to: accountAddress.subsidyGrant("subsidy_1"), amountMinor: 500 }],
      (db) => [
        db
          .prepare(
            `INSERT INTO subsidies (id, campaign_id, external_id, user_id, currency, amount_minor, status, issued_at_ms)
             VALUES ('subsidy_1', 'k1', 'ext-1', 'v9', 'CNY', 500, 'issued', ?)`,
          )
          .bind(T0 + 3 * HOUR + 1),
      ],
    ),
    // Packet A: sent, both shares claimed and credited, finished, all on day 1.
    packetSend("packet_A", "v2", 300, 2, T0 + 4 * HOUR),
    claim("claim_A1", "packet_A", "v3", 0, 100, T0 + 4 * HOUR + 10_000),
    {
      ...claim("claim_A2", "packet_A", "v4", 1, 200, T0 + 4 * HOUR + 20_000),
      statements: (db) => [
        ...claim("claim_A2", "packet_A", "v4", 1, 200, T0 + 4 * HOUR + 20_000).statements(db),
        db
          .prepare(
            `UPDATE red_packets SET status = 'exhausted', final_claim_count = 2, final_claimed_minor = 300,
               finished_at_ms = ? WHERE id = 'packet_A'`,
          )
          .bind(T0 + 4 * HOUR + 20_000),
      ],
    },
    crossShardTip("tip_xs1", "v7", 250, T0 + 5 * HOUR, T0 + 5 * HOUR + 1_000),
    // Issue 19: a tip on a content item, a wallet unlock, and an unlock refunded the same day.
    contentTip("tip_content1", "v3", "c1", 600, T0 + 6 * HOUR),
    unlock("unl_1", "v4", "c1", 500, T0 + 6 * HOUR + 1_000),
    unlock("unl_2", "v5", "c2", 800, T0 + 6 * HOUR + 2_000),
    ...unlockRefund("urf_2", "unl_2", "v5", "c2", 800, T0 + 7 * HOUR),
    // Two content tips a risk rule held: one approved, one declined.
    ...heldTip("held_H1", "v6", "c1", 700, T0 + 8 * HOUR, true),
    ...heldTip("held_H2", "v7", "c1", 900, T0 + 8 * HOUR + 5_000, false),
    ...moneyOut(T0 + 9 * HOUR),
    // Still open when day 1 ends: a cross-shard credit not yet delivered, a packet not finished.
    crossShardTip("tip_xs2", "v8", 350, T0 + 21 * HOUR, null),
    packetSend("packet_B", "v5", 500, 3, T0 + 22 * HOUR),
    claim("claim_B1", "packet_B", "v6", 0, 100, T0 + 22 * HOUR + 10_000),
  ];
}

/** Kept live by the first archive (retention.ts), by reason. */
const KEPT_FOREVER = [
  "order_top1",
  "order_p2t1",
  "tip_p2t1",
  "subsidy_1",
  "unl_1",
  "unl_2",
  "urf_2",
  "urf_2:payer",
  "held_H1",
  "tip_H1",
  "held_H2",
  "held_H2:release",
  "settlement:c2:2026-01-01",
  "rev_1",
  "wd_1",
  "wd_1:payout",
  "wd_2",
  "wd_2:release",
];
/** KEPT_FOREVER by retention reason, as each archive's manifest counts them. */
const RETAINED_FOREVER = {
  order: 3,
  subsidy: 1,
  entitlement: 3,
  unlock_refund: 1,
  held_tip: 4,
  tip_reversal: 1,
  settlement: 1,
  withdrawal: 4,
};
const KEPT_FOR_NOW = ["tip_xs2", "packet_B", "claim_B1"];

function dayTwo(): SeedStep[] {
  return [
    ...Array.from({ length: 100 }, (_, i) =>
      tip(`tip_${String(300 + i).padStart(4, "0")}`, `v${i % 10}`, `c${i % 3}`, 200, T1 + 60_000 + i * 600_000),
    ),
    {
      atMs: T1 + HOUR / 2,
      statements: (db) => [
        db.prepare("UPDATE transit_outbox SET delivered_at_ms = ? WHERE operation_id = 'tip_xs2'").bind(T1 + HOUR / 2),
      ],
    },
    claim("claim_B2", "packet_B", "v9", 1, 150, T1 + HOUR),
    op(
      "refund_B",
      "packet_refund",
      T1 + 22 * HOUR,
      [{ from: accountAddress.packetEscrow("packet_B"), to: wallet("v5"), amountMinor: 250 }],
      (db) => [
        db
          .prepare(
            `UPDATE red_packets SET status = 'refunded', final_claim_count = 2, final_claimed_minor = 250,
               refunded_minor = 250, finished_at_ms = ? WHERE id = 'packet_B'`,
          )
          .bind(T1 + 22 * HOUR),
      ],
    ),
    // Day 3, after the second cut.
    ...Array.from({ length: 10 }, (_, i) => tip(`tip_d3_${i}`, `v${i}`, "c0", 300, T2 + HOUR + i)),
  ];
}

// ── reading the shard ────────────────────────────────────────────────────────────────

const TABLES = ["operations", "transfers", "red_packets", "red_packet_claims", "tips", "transit_outbox"] as const;

async function count(db: D1Database, table: string): Promise<number> {
  return (await db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<number>("n")) ?? 0;
}

async function counts(db: D1Database): Promise<Record<string, number>> {
  const entries = await Promise.all(TABLES.map(async (t) => [t, await count(db, t)] as const));
  return Object.fromEntries(entries);
}

/** Every row an archive with this cut should take, leaving the named operations, by table. */
async function rowsBelowCut(db: D1Database, cut: number, kept: readonly string[]): Promise<Record<string, unknown[]>> {
  const ops = `SELECT DISTINCT operation_id FROM transfers
               WHERE id <= ? AND operation_id NOT IN (SELECT value FROM json_each(?))`;
  const keys: Record<(typeof TABLES)[number], string> = {
    operations: "id",
    transfers: "operation_id",
    red_packets: "id",
    red_packet_claims: "id",
    tips: "id",
    transit_outbox: "operation_id",
  };
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const { results } = await db
      .prepare(`SELECT * FROM ${table} WHERE ${keys[table]} IN (${ops}) ORDER BY ${keys[table]}, rowid`)
      .bind(cut, JSON.stringify(kept))
      .all();
    out[table] = results;
  }
  return out;
}

async function allRows(db: D1Database): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) out[table] = (await db.prepare(`SELECT * FROM ${table}`).all()).results;
  return out;
}

/** Rows as JSON lines, sorted: for comparing sets of rows. */
function sortedRows(rows: Record<string, unknown[]>): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(rows).map(([table, list]) => [table, list.map((r) => JSON.stringify(r)).sort()]),
  );
}

async function balances(db: D1Database): Promise<Record<string, number>> {
  const { results } = await db
    .prepare("SELECT address, balance_minor FROM accounts ORDER BY address")
    .all<{ address: string; balance_minor: number }>();
  return Object.fromEntries(results.map((r) => [r.address, r.balance_minor]));
}

/** Per account, credits − debits of the transfers below the cut that the archive takes. */
async function flowsBelowCut(db: D1Database, cut: number, kept: readonly string[]): Promise<Record<string, number>> {
  const { results } = await db
    .prepare(
      `SELECT address, SUM(delta) AS total FROM (
         SELECT to_account AS address, amount_minor AS delta FROM transfers
           WHERE id <= ? AND operation_id NOT IN (SELECT value FROM json_each(?))
         UNION ALL
         SELECT from_account, -amount_minor FROM transfers
           WHERE id <= ? AND operation_id NOT IN (SELECT value FROM json_each(?))
       ) GROUP BY address ORDER BY address`,
    )
    .bind(cut, JSON.stringify(kept), cut, JSON.stringify(kept))
    .all<{ address: string; total: number }>();
  return Object.fromEntries(results.map((r) => [r.address, r.total]));
}

async function checkpointRows(db: D1Database, archiveId: string): Promise<Record<string, number>> {
  const { results } = await db
    .prepare("SELECT account, balance_minor FROM balance_checkpoints WHERE archive_id = ? ORDER BY account")
    .bind(archiveId)
    .all<{ account: string; balance_minor: number }>();
  return Object.fromEntries(results.map((r) => [r.account, r.balance_minor]));
}

/** The invariant checker's balance mismatches: accounts whose balance is not checkpoint + live transfers. */
async function balanceMismatches(db: D1Database): Promise<unknown[]> {
  const report = await checkLedgerInvariants(db, T2 + SETTLED + HOUR);
  return report.violations.filter((v) => v.kind === "balance_mismatch");
}

async function manifestOf(archive: ArchiveRow): Promise<Manifest> {
  expect(archive.manifestKey).not.toBeNull();
  const read = await readManifest(bucket, archive.manifestKey ?? "");
  if (!read.ok) throw new Error(`manifest unreadable: ${read.code} ${read.detail}`);
  expect(read.sha256).toBe(archive.manifestSha256);
  return read.manifest;
}

async function objectBytes(key: string): Promise<Uint8Array> {
  const object = await bucket.get(key);
  if (object === null) throw new Error(`${key} is not in the bucket`);
  return new Uint8Array(await object.arrayBuffer());
}

/** Every line of the archive's data files, by table, parsed; after checking each file's digests. */
async function linesOf(manifest: Manifest): Promise<Record<string, unknown[][]>> {
  const out: Record<string, unknown[][]> = {};
  for (const entry of manifest.files) {
    const gz = await objectBytes(entry.key);
    expect(await sha256Hex(gz)).toBe(entry.gzSha256);
    expect(gz.byteLength).toBe(entry.gzBytes);
    const raw = await gunzip(gz);
    expect(await sha256Hex(raw)).toBe(entry.rawSha256);
    expect(raw.byteLength).toBe(entry.rawBytes);
    const perTable: Record<string, number> = {};
    for (const line of new TextDecoder().decode(raw).trimEnd().split("\n")) {
      const [table, ...cells] = JSON.parse(line) as [string, ...unknown[]];
      perTable[table] = (perTable[table] ?? 0) + 1;
      out[table] = [...(out[table] ?? []), cells];
    }
    expect(Object.fromEntries(Object.entries(entry.rows).filter(([, n]) => n > 0))).toEqual(perTable);
  }
  return out;
}

/** Rows as the archive's lines carry them: the manifest's columns, in order. */
function asLines(rows: unknown[], columns: readonly string[]): unknown[][] {
  return rows.map((row) => columns.map((c) => (row as Record<string, unknown>)[c]));
}

const byFirstCell = (a: unknown[], b: unknown[]) => {
  const [x, y] = [JSON.stringify(a), JSON.stringify(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};

// ── the story ────────────────────────────────────────────────────────────────────────

describe("archival of one ledger shard's closed periods", () => {
  let first: ArchiveRow;
  let second: ArchiveRow;
  let firstRows: Record<string, unknown[]>;
  let secondRows: Record<string, unknown[]>;

  beforeAll(async () => {
    await applyD1Migrations(shard, env.TEST_LEDGER_MIGRATIONS);
    await applyD1Migrations(spare, env.TEST_LEDGER_MIGRATIONS);
    await writeSteps(shard, dayOne());
    const report = await checkLedgerInvariants(shard, T1);
    expect(report.violations).toEqual([]);
  });

  it("knows every table that points at an operation, and writes every column of the tables it archives", async () => {
    // A table with a foreign key to operations must be archived with them (its rows would
    // block the delete) or kept live by a retention rule; a new one fails here, not in prune.
    const { results: tables } = await shard
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
      )
      .all<{ name: string }>();
    const pointing: string[] = [];
    for (const { name } of tables) {
      const { results } = await shard
        .prepare(`SELECT "table" AS target FROM pragma_foreign_key_list(?)`)
        .bind(name)
        .all<{ target: string }>();
      if (results.some((r) => r.target === "operations")) pointing.push(name);
    }
    // subsidies: kept live with their subsidy_issue operation (retention.ts).
    expect(pointing.sort()).toEqual(["transfers", "subsidies", ...OPERATION_ROW_TABLES].sort());
    for (const [table, columns] of Object.entries(ARCHIVE_TABLES)) {
      const { results } = await shard
        .prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid")
        .bind(table)
        .all<{ name: string }>();
      expect(results.map((r) => r.name)).toEqual(columns);
    }
  });

  it("exports day 1: the manifest counts every row it should take, and its digests are the files'", async () => {
    expect(await startArchive(shard, { shard: 0, beforeMs: T1, nowMs: T1 + SETTLED - 1 })).toMatchObject({
      ok: false,
      code: "period_not_closed",
    });
    const started = await startArchive(shard, { shard: 0, beforeMs: T1, nowMs: T1 + SETTLED });
    if (!started.ok) throw new Error(started.code);
    first = started.archive;
    const lastOfDayOne = await shard
      .prepare("SELECT MAX(id) AS id FROM transfers WHERE created_at_ms < ?")
      .bind(T1)
      .first<number>("id");
    expect(first).toMatchObject({ state: "exporting", fromMs: 0, toMs: T1, cutTransferId: lastOfDayOne });
    expect(await startArchive(shard, { shard: 0, beforeMs: T1, nowMs: T1 + SETTLED })).toMatchObject({
      ok: false,
      code: "archive_in_progress",
      archiveId: first.id,
    });

    firstRows = await rowsBelowCut(shard, first.cutTransferId, [...KEPT_FOREVER, ...KEPT_FOR_NOW]);
    const progress = await exportArchive(shard, bucket, first.id, { nowMs: T1 + SETTLED, tuning: TUNING });
    expect(progress.state).toBe("exported");
    first = await requireArchive(shard, first.id);
    const manifest = await manifestOf(first);

    // 10 fundings, 300 tips, the campaign, packet A with its two claims, the delivered
    // cross-shard tip; left live: two paid orders and a pay-to-tip's tip, the subsidy, the
    // undelivered cross-shard tip, packet B and its first claim.
    expect(manifest.totals.rows).toEqual({
      operations: 316,
      transfers: 617,
      red_packets: 1,
      red_packet_claims: 2,
      tips: 302,
      transit_outbox: 1,
    });
    expect(manifest.retained).toEqual({ ...RETAINED_FOREVER, undelivered: 1, open_packet: 2 });
    for (const table of TABLES) expect(firstRows[table]?.length).toBe(manifest.totals.rows[table]);
    expect(manifest.period).toEqual({ fromMs: 0, toMs: T1, cutTransferId: first.cutTransferId });
    const lastTip = await shard
      .prepare("SELECT MAX(id) AS id FROM transfers WHERE operation_id = 'tip_0299'")
      .first<number>("id");
    expect(manifest.exported).toEqual({
      firstTransferId: 1,
      lastTransferId: lastTip,
      minCreatedAtMs: T0 + 1_000,
      maxCreatedAtMs: T0 + 60_000 + 299 * 240_000,
    });

    // Several files, each of about TUNING.transfersPerFile transfers and whole operations.
    expect(manifest.files.length).toBeGreaterThanOrEqual(3);
    for (const [i, f] of manifest.files.entries()) {
      const transfers = f.rows.transfers ?? 0;
      if (i < manifest.files.length - 1) expect(transfers).toBeGreaterThanOrEqual(TUNING.transfersPerFile);
      expect(transfers).toBeLessThan(TUNING.transfersPerFile + TUNING.rowsPerPage);
    }

    // The lines are the rows, column for column.
    const lines = await linesOf(manifest);
    for (const table of TABLES) {
      const columns = manifest.columns[table] ?? [];
      expect((lines[table] ?? []).sort(byFirstCell)).toEqual(
        asLines(firstRows[table] ?? [], columns).sort(byFirstCell),
      );
    }

    // The checkpoint is what the archived transfers moved, per account; it conserves money.
    const expected = await flowsBelowCut(shard, first.cutTransferId, [...KEPT_FOREVER, ...KEPT_FOR_NOW]);
    expect(await checkpointRows(shard, first.id)).toEqual(expected);
    const checkpointLines: Record<string, number> = {};
    const digests: string[] = [];
    for (const entry of manifest.checkpointFiles) {
      const raw = await gunzip(await objectBytes(entry.key));
      digests.push(await sha256Hex(raw));
      for (const line of new TextDecoder().decode(raw).trimEnd().split("\n")) {
        const [account, currency, , , balanceMinor] = JSON.parse(line) as [string, string, number, number, number];
        expect(currency).toBe("CNY");
        checkpointLines[account] = balanceMinor;
      }
    }
    expect(checkpointLines).toEqual(expected);
    expect(Object.values(expected).reduce((a, b) => a + b, 0)).toBe(0);
    expect(manifest.checkpointSha256).toBe(await checkpointDigest(digests));
    expect(first.checkpointSha256).toBe(manifest.checkpointSha256);
  });

  it("deletes nothing before the export is verified, then prunes through crashes: checkpoint + live = balances", async () => {
    const balancesBefore = await balances(shard);
    await expect(shard.prepare("DELETE FROM transfers WHERE id = 1").run()).rejects.toThrow(/ledger_append_only/);
    expect(await pruneArchive(shard, first.id, { nowMs: T1 + SETTLED })).toEqual({ state: "exported", batches: 0 });

    const verified = await verifyArchive(shard, bucket, first.id, T1 + SETTLED);
    expect(verified.ok).toBe(true);
    expect(await balanceMismatches(shard)).toEqual([]);

    // The third batch commits and its caller never hears back (3 batches done); then the
    // second of the next run fails before running (1 more). Each deletes up to 64 ids.
    const options = { nowMs: T1 + SETTLED, tuning: TUNING };
    await expect(pruneArchive(failingBatch(shard, 3, "after"), first.id, options)).rejects.toThrow(InjectedFault);
    await expect(pruneArchive(failingBatch(shard, 2, "before"), first.id, options)).rejects.toThrow(InjectedFault);
    // Halfway: the archive's transfers above the cursor are gone, the rest not; sums hold.
    const halfway = await requireArchive(shard, first.id);
    const cursor = halfway.pruneCursor ?? 0;
    expect(halfway.state).toBe("verified");
    expect(cursor).toBeLessThanOrEqual((first.lastTransferId ?? 0) - 3 * TUNING.rowsPerPage);
    expect(cursor).toBeGreaterThanOrEqual((first.lastTransferId ?? 0) - 4 * TUNING.rowsPerPage);
    const gone = (firstRows.transfers ?? []).filter((t) => Number((t as { id: number }).id) > cursor).length;
    expect(await count(shard, "transfers")).toBe(617 + 25 - gone);
    expect(await balanceMismatches(shard)).toEqual([]);

    expect(await pruneArchive(shard, first.id, options)).toMatchObject({ state: "pruned" });
    first = await requireArchive(shard, first.id);

    // Left: exactly what the retention rules keep, whole.
    expect(await counts(shard)).toEqual({
      operations: 21,
      transfers: 25,
      red_packets: 1,
      red_packet_claims: 1,
      tips: 3,
      transit_outbox: 1,
    });
    const liveOperations = await shard.prepare("SELECT id FROM operations ORDER BY id").all<{ id: string }>();
    expect(liveOperations.results.map((r) => r.id)).toEqual([...KEPT_FOREVER, ...KEPT_FOR_NOW].sort());

    // Balances did not move; each is its checkpoint plus its live transfers; every other
    // invariant holds on the live rows alone.
    expect(await balances(shard)).toEqual(balancesBefore);
    expect(await balanceMismatches(shard)).toEqual([]);
    expect((await checkLedgerInvariants(shard, T1 + SETTLED)).violations).toEqual([]);
    const creator = accountAddress.creatorPending("c0");
    const live = await shard
      .prepare(
        `SELECT COALESCE(SUM(CASE WHEN to_account = ?1 THEN amount_minor ELSE -amount_minor END), 0) AS n
         FROM transfers WHERE to_account = ?1 OR from_account = ?1`,
      )
      .bind(creator)
      .first<number>("n");
    expect((live ?? 0) + (await archivedBalanceOf(shard, creator))).toBe(balancesBefore[creator]);
  });

  it("remembers every pruned operation's id: a late redelivery of one is 'exists' and moves nothing", async () => {
    // Every operation the archive took is a tombstone, written in the batch that deleted it.
    const archivedIds = (firstRows.operations ?? []).map((o) => String((o as { id: string }).id)).sort();
    const tombstones = await shard
      .prepare("SELECT id, archive_id, archived_at_ms FROM operation_tombstones ORDER BY id")
      .all<{ id: string; archive_id: string; archived_at_ms: number }>();
    expect(tombstones.results.map((t) => t.id)).toEqual(archivedIds);
    expect(new Set(tombstones.results.map((t) => `${t.archive_id}@${t.archived_at_ms}`))).toEqual(
      new Set([`${first.id}@${T1 + SETTLED}`]),
    );
    expect(await count(shard, "operations")).toBe(21);
    expect(
      await shard
        .prepare("SELECT COUNT(*) AS n FROM operations WHERE id IN (SELECT id FROM operation_tombstones)")
        .first<number>("n"),
    ).toBe(0);

    // tip_0000 again, same id and postings, in the shard it committed in: already done.
    const local: LedgerShard = { index: 0, db: shard, homeOf: () => 0, dispatch: async () => {} };
    const before = await balances(shard);
    const again = (id: string) =>
      composeOperation(local, {
        id,
        kind: "tip",
        currency: "CNY",
        postings: [
          { from: wallet("v0"), to: accountAddress.creatorPending("c0"), amountMinor: 70 },
          { from: wallet("v0"), to: accountAddress.platformRevenue(), amountMinor: 30 },
        ],
        actorId: "v0",
        reason: null,
        metadata: null,
        nowMs: T1 + SETTLED,
        guards: [],
        extra: () => [],
      });
    expect((await runOperation(local, again("tip_0000"))).verdict).toEqual({ kind: "exists" });
    // In a group batch too, and the delivered cross-shard tip (its outbox row archived with it).
    expect(await runOperations(local, [again("tip_0001"), again("tip_xs1")])).toEqual([
      { kind: "exists" },
      { kind: "exists" },
    ]);
    expect(await balances(shard)).toEqual(before);
    expect(await count(shard, "operations")).toBe(21);
    expect(await count(shard, "transfers")).toBe(25);

    // A redelivered transit ref of the archived cross-shard tip finds no outbox row in its
    // origin (it left with its operation): nothing is posted in the destination.
    const pair = new Ledger(env.CONTROL, [shard, spare], evenBucketMap(2));
    expect(
      await deliverTransit(
        pair,
        [{ kind: "transit", origin: 0, destination: 1, operationId: "tip_xs1" }],
        T1 + SETTLED,
      ),
    ).toEqual([{ kind: "no_such_row" }]);
    expect(await spare.prepare("SELECT COUNT(*) AS n FROM operations").first<number>("n")).toBe(0);

    // Only the id decides: a fresh id with the same postings passes every guard (verdict NULL).
    const fresh = again("tip_fresh").verdictExpression;
    const verdict = await shard
      .prepare(`SELECT ${fresh.sql} AS v`)
      .bind(...fresh.params)
      .first<string | null>("v");
    expect(verdict).toBeNull();
  });

  it("still refuses every delete outside a verified archive, and every update", async () => {
    const kept = await shard.prepare("SELECT id FROM transfers WHERE operation_id = 'order_top1'").first<number>("id");
    await expect(shard.prepare("DELETE FROM transfers WHERE id = ?").bind(kept).run()).rejects.toThrow(
      /ledger_append_only: transfers are immutable/,
    );
    await expect(shard.prepare("DELETE FROM operations WHERE id = 'order_top1'").run()).rejects.toThrow(
      /ledger_append_only: operations are immutable/,
    );
    await expect(
      shard.prepare("UPDATE transfers SET amount_minor = amount_minor + 1 WHERE id = ?").bind(kept).run(),
    ).rejects.toThrow(/ledger_append_only/);
    await expect(shard.prepare("UPDATE operations SET reason = 'x' WHERE id = 'order_top1'").run()).rejects.toThrow(
      /ledger_append_only/,
    );
    expect(await count(shard, "transfers")).toBe(25);
  });

  it("says which archive holds a history read that reaches into the archived period", async () => {
    const lastArchived = T0 + 60_000 + 299 * 240_000;
    const span = {
      archiveId: first.id,
      shard: 0,
      state: "pruned",
      fromMs: T0 + 1_000,
      toMs: lastArchived + 1,
      manifestKey: first.manifestKey,
    };
    expect(await historyCoverage(shard, T0, T1)).toEqual({ complete: false, archived: [span] });
    expect(await historyCoverage(shard, T0 + 12 * HOUR, T0 + 13 * HOUR)).toEqual({ complete: false, archived: [span] });
    // Packet B and the undelivered tip, stamped after the last archived row, are live.
    expect(await historyCoverage(shard, lastArchived + 1, T1)).toEqual({ complete: true, archived: [] });
    expect(await archivedBefore(shard)).toEqual({ beforeMs: lastArchived + 1, archived: [span] });
  });

  it("archives day 2 through crashes mid-export to the same files, heals a damaged file, and takes what day 1 kept", async () => {
    await writeSteps(shard, dayTwo());
    const started = await startArchive(shard, { shard: 0, beforeMs: T2, nowMs: T2 + SETTLED });
    if (!started.ok) throw new Error(started.code);
    second = started.archive;
    expect(second.fromMs).toBe(T1);
    secondRows = await rowsBelowCut(shard, second.cutTransferId, KEPT_FOREVER);

    const options = { nowMs: T2 + SETTLED, tuning: SMALL_TUNING };
    // The second file's upload never reaches R2; a span's plan commits unheard; an upload
    // lands unheard. Each run continues where the last stopped.
    await expect(exportArchive(shard, failingPut(bucket, 2, "before"), second.id, options)).rejects.toThrow(
      InjectedFault,
    );
    await expect(exportArchive(failingBatch(shard, 1, "after"), bucket, second.id, options)).rejects.toThrow(
      InjectedFault,
    );
    await expect(exportArchive(shard, failingPut(bucket, 1, "after"), second.id, options)).rejects.toThrow(
      InjectedFault,
    );
    expect((await exportArchive(shard, bucket, second.id, options)).state).toBe("exported");
    second = await requireArchive(shard, second.id);
    const manifest = await manifestOf(second);

    // 100 tips, packet B whole (sending, two claims, refund), the now delivered cross-shard tip.
    expect(manifest.totals.rows).toEqual({
      operations: 105,
      transfers: 205,
      red_packets: 1,
      red_packet_claims: 2,
      tips: 101,
      transit_outbox: 1,
    });
    expect(manifest.retained).toEqual(RETAINED_FOREVER);
    expect(manifest.files.length).toBeGreaterThanOrEqual(4);
    const lines = await linesOf(manifest);
    for (const table of TABLES) {
      const columns = manifest.columns[table] ?? [];
      expect((lines[table] ?? []).sort(byFirstCell)).toEqual(
        asLines(secondRows[table] ?? [], columns).sort(byFirstCell),
      );
    }
    // Same bytes as rendering each file afresh from the rows; checkpoint counted once.
    for (const entry of manifest.files) {
      const fresh = await pack(
        (await renderDataFile(shard, second.id, entry.firstTransferId, entry.lastTransferId)).text,
      );
      expect([fresh.rawSha256, fresh.gzSha256]).toEqual([entry.rawSha256, entry.gzSha256]);
    }
    expect(await checkpointRows(shard, second.id)).toEqual(
      await flowsBelowCut(shard, second.cutTransferId, KEPT_FOREVER),
    );

    // A file damaged in R2 fails verification, goes back to be written again, and passes.
    const damaged = manifest.files[1];
    if (damaged === undefined) throw new Error("a second file");
    await bucket.put(damaged.key, new TextEncoder().encode("not the archive"));
    const failed = await advanceArchive(shard, bucket, {
      shard: 0,
      beforeMs: null,
      nowMs: T2 + SETTLED,
      stepsMax: 100,
    });
    expect(failed).toMatchObject({ kind: "verify_failed", archiveId: second.id, code: "file_digest_mismatch" });
    expect((await requireArchive(shard, second.id)).state).toBe("exporting");
    const balancesBefore = await balances(shard);
    const done = await advanceArchive(shard, bucket, {
      shard: 0,
      beforeMs: null,
      nowMs: T2 + SETTLED + HOUR,
      stepsMax: 100,
    });
    expect(done).toMatchObject({ kind: "advanced", archiveId: second.id, state: "pruned" });
    second = await requireArchive(shard, second.id);
    expect((await manifestOf(second)).files).toEqual(manifest.files);

    expect(await counts(shard)).toEqual({
      operations: 18 + 10,
      transfers: 22 + 20,
      red_packets: 0,
      red_packet_claims: 0,
      tips: 2 + 10,
      transit_outbox: 0,
    });
    expect(await balances(shard)).toEqual(balancesBefore);
    expect(await balanceMismatches(shard)).toEqual([]);
    expect((await checkLedgerInvariants(shard, T2 + SETTLED + HOUR)).violations).toEqual([]);
    // Day 1 now shows both archives: the second holds what the first had to keep.
    expect((await historyCoverage(shard, T0, T1)).archived.map((a) => a.archiveId)).toEqual([first.id, second.id]);
    expect(await historyCoverage(shard, T2, T2 + DAY)).toEqual({ complete: true, archived: [] });
  });

  it("reads both archives back into an empty shard, row for row and byte for byte", async () => {
    expect(await count(spare, "transfers")).toBe(0);
    for (const archive of [first, second]) {
      const result = await importArchive(spare, bucket, archive.manifestKey ?? "", T2 + SETTLED + 2 * HOUR);
      expect(result).toEqual({ ok: true, archiveId: archive.id, rows: (await manifestOf(archive)).totals.rows });
      expect(await checkpointRows(spare, archive.id)).toEqual(await checkpointRows(shard, archive.id));
      expect((await requireArchive(spare, archive.id)).state).toBe("imported");
    }
    const expected: Record<string, unknown[]> = {};
    for (const table of TABLES) expected[table] = [...(firstRows[table] ?? []), ...(secondRows[table] ?? [])];
    expect(sortedRows(await allRows(spare))).toEqual(sortedRows(expected));
    // A copy holds history, not balances: accounts at zero, rows as immutable as ever.
    expect(await spare.prepare("SELECT COUNT(*) AS n FROM accounts WHERE balance_minor <> 0").first("n")).toBe(0);
    await expect(spare.prepare("DELETE FROM transfers WHERE id = 1").run()).rejects.toThrow(/ledger_append_only/);

    // Again: nothing changes. Into the shard it came from: refused.
    const before = await allRows(spare);
    expect(await importArchive(spare, bucket, first.manifestKey ?? "", T2 + SETTLED + 3 * HOUR)).toMatchObject({
      ok: true,
    });
    expect(await allRows(spare)).toEqual(before);
    expect(await importArchive(shard, bucket, first.manifestKey ?? "", T2 + SETTLED + 3 * HOUR)).toMatchObject({
      ok: false,
      code: "shard_not_empty",
    });
  });

  it("keeps unlocks, refunds, held tips, reversals, settlements and withdrawals live beside their rows: the checkers and the receivable stay right once archived ids are forgotten", async () => {
    // The content tip left with day 1; the unlocks, the refund's two legs stayed (retention.ts).
    const live = async (id: string) =>
      (await shard.prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?").bind(id).first<number>("n")) ?? 0;
    expect(await live("tip_content1")).toBe(0);
    for (const id of KEPT_FOREVER.filter((k) => k.startsWith("unl_") || k.startsWith("urf_") || k.includes("H"))) {
      expect(await live(id)).toBe(1);
    }
    for (const id of ["settlement:c2:2026-01-01", "rev_1", "wd_1", "wd_1:payout", "wd_2", "wd_2:release"]) {
      expect(await live(id)).toBe(1);
    }
    // Every archived id forgotten (past the memory of redeliveries): only the kept operations
    // still answer for their entitlement and refund rows.
    const forgotten = await purgeOperationTombstones(shard, {
      nowMs: T2 + SETTLED + LIMITS.operationIdMemoryMs + DAY,
      limit: 10_000,
    });
    expect(forgotten).toBeGreaterThan(300);
    expect(await count(shard, "operation_tombstones")).toBe(0);
    expect((await checkLedgerInvariants(shard, T2 + SETTLED + HOUR)).violations).toEqual([]);
    expect(await checkMoneyOutInvariants(shard)).toEqual([]);
    expect(await checkWithdrawalInvariants(shard)).toEqual([]);
    // What c1 owes from the reversal still counts, for the next settlement to offset.
    expect(await shard.prepare(`SELECT ${RECEIVABLE_SQL} AS owed`).bind("c1", "c1").first<number>("owed")).toBe(140);
    // The entitlement check answers as before: the unlock grants, the refunded one no longer does.
    const single = new Ledger(env.CONTROL, [shard], evenBucketMap(1));
    const nowMs = T2 + SETTLED + 2 * HOUR;
    expect((await entitlementOf(single, "v4", "cnt_unl_1", nowMs)).answer).toEqual({
      entitled: true,
      unlockId: "unl_1",
      grantedAtMs: T0 + 6 * HOUR + 1_000,
    });
    expect((await entitlementOf(single, "v5", "cnt_unl_2", nowMs)).answer).toEqual({
      entitled: false,
      unlockId: null,
      grantedAtMs: null,
    });
  });
});
