import { postAdjustment } from "../src/db/operations/adjustment";
import { insertPin, newPinHash } from "../src/db/payment-pins";
import type { Ledger } from "../src/db/shards";
import { accountAddress } from "../src/domain/accounts";
import { newId } from "../src/domain/ids";
import { assert } from "../src/domain/limits";
import { isOperatorRole } from "../src/domain/permissions";
import type { Config } from "../src/platform/config";
import type { Role } from "../src/worker/auth/jwt";
import { goLive } from "../src/worker/rooms/lifecycle";
import { putOperator } from "./operators";
import { seedDemoContent } from "./seed-content";
import { mintToken } from "./tokens";

/**
 * The demo: one creator live in a room, three viewers with funded wallets (each, and the creator,
 * with the payment PIN `DEMO_PIN`), two operators (in
 * the operator directory with their roles), and a tiered revenue share schedule.
 * Idempotent: fixed operation ids make the funding happen once however often it runs; the
 * creator's room is created once and brought back live if it was ended.
 */
/**
 * The demo's people. With `npm start`'s two ledger shards the creator lives in the other shard
 * from the viewers (test/unit/dev-seed.test.ts holds that), so every demo tip crosses shards
 * through transit, the path most tips take in production.
 */
export const DEMO_USERS: readonly { userId: string; roles: Role[]; fundMinor: number }[] = [
  { userId: "creator-lin", roles: ["creator", "viewer"], fundMinor: 0 },
  { userId: "viewer-ana", roles: ["viewer"], fundMinor: 1_000_00 },
  { userId: "viewer-bo", roles: ["viewer"], fundMinor: 500_00 },
  { userId: "viewer-chen", roles: ["viewer"], fundMinor: 20_000_00 },
  // Two operators, so four-eyes can be tried: one proposes, the other approves.
  { userId: "ops-mei", roles: ["admin", "finance", "ops", "support"], fundMinor: 0 },
  { userId: "ops-kai", roles: ["finance", "ops", "risk"], fundMinor: 0 },
];

/**
 * The demo viewers' and creator's payment PIN: a tip above the password-free limits (a sports
 * car, a rocket) and a withdrawal ask for it. Set once; a PIN changed in the demo is kept.
 */
export const DEMO_PIN = "246810";

const DEMO_ROOM_ID = "room_01DEMD00000000000000000000";

export interface SeedResult {
  roomId: string;
  /** Room announcements to deliver after the response. */
  outboxIds: string[];
  users: { userId: string; roles: Role[]; token: string; walletBalanceMinor: number }[];
  /** The creator's paid articles (dev/seed-content.ts), for the content page. */
  articles: { id: string; title: string; price: string }[];
}

export async function seedDemo(ledger: Ledger, config: Config, nowMs: number): Promise<SeedResult> {
  const db = ledger.control;
  const creator = DEMO_USERS[0];
  assert(creator, "the demo has a creator");
  const outboxIds: string[] = [];
  const live = await goLive(db, { userId: creator.userId, displayName: "Lin" }, "Lin's late-night guitar", nowMs, {
    roomId: DEMO_ROOM_ID,
    streamId: newId("stream", nowMs),
  });
  if (live.kind === "live") outboxIds.push(live.outboxId);
  const room = await db
    .prepare("SELECT id FROM rooms WHERE creator_id = ?")
    .bind(creator.userId)
    .first<{ id: string }>();
  assert(room, "the demo creator has a room");

  // A tiered revenue share schedule (阶梯分成), once: 30% (the default) up to 1,000.00 of a
  // creator's gross in a month, 25% from there, 20% from 5,000.00 — the demo's big tippers cross.
  await db
    .prepare(
      `INSERT INTO revenue_schedules (version, effective_from_ms, tiers, note, created_by, created_at_ms)
       SELECT 1, 0, ?, 'Demo tiers', 'system:demo-seed', ? WHERE NOT EXISTS (SELECT 1 FROM revenue_schedules)`,
    )
    .bind(
      JSON.stringify([
        { fromGrossMinor: 0, platformBps: 3_000 },
        { fromGrossMinor: 1_000_00, platformBps: 2_500 },
        { fromGrossMinor: 5_000_00, platformBps: 2_000 },
      ]),
      nowMs,
    )
    .run();

  const users: SeedResult["users"] = [];
  for (const user of DEMO_USERS) {
    const operatorRoles = user.roles.filter(isOperatorRole);
    if (operatorRoles.length > 0) {
      await putOperator(
        db,
        { id: user.userId, displayName: user.userId, roles: operatorRoles },
        "system:demo-seed",
        nowMs,
      );
    }
    const wallet = accountAddress.userWallet(user.userId);
    if (user.fundMinor > 0) {
      await postAdjustment(
        ledger.forOwner(user.userId),
        {
          id: `adj_demo_funding_${user.userId}`,
          userId: user.userId,
          direction: "credit",
          amountMinor: user.fundMinor,
          reason: "Demo wallet funding",
          actorId: "system:demo-seed",
        },
        nowMs,
      );
    }
    if (user.roles.includes("viewer") || user.roles.includes("creator")) {
      await insertPin(ledger.forOwner(user.userId).db, user.userId, await newPinHash(DEMO_PIN), nowMs);
    }
    const balance = await ledger
      .forOwner(user.userId)
      .db.prepare("SELECT balance_minor FROM accounts WHERE address = ?")
      .bind(wallet)
      .first<{ balance_minor: number }>();
    users.push({
      userId: user.userId,
      roles: user.roles,
      token: await mintToken(config, user, nowMs),
      walletBalanceMinor: balance?.balance_minor ?? 0,
    });
  }
  const articles = await seedDemoContent(db, creator.userId, nowMs);
  return { roomId: room.id, users, outboxIds, articles };
}
