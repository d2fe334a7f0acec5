import { runOperation } from "../src/db/ledger";
import { postAdjustment } from "../src/db/operations/adjustment";
import { composeTip, prepareTip } from "../src/db/operations/tip";
import { settleBusinessDay } from "../src/db/settlement-run";
import type { Ledger } from "../src/db/shards";
import { deliverTransit, pendingTransit } from "../src/db/transit";
import { addDays, businessDayOf, dayStartMs } from "../src/domain/business-day";
import { newOwnedId } from "../src/domain/ids";
import { assert } from "../src/domain/limits";
import { settlementDueAtMs } from "../src/domain/settlement";
import type { Config } from "../src/platform/config";

/**
 * The demo creator's history: tips from the demo viewers on each of the last `DAYS` business
 * days, then every day that is due (T+N) settled, so `npm start`'s creator console has a
 * trend to draw, settlements to list, earnings still pending and an available balance to
 * withdraw. Idempotent: each tip's id is fixed by its day and place (a second run finds it
 * "exists"), and settlement is idempotent per creator and day.
 *
 * The fans are funded once (fixed adjustment ids). The tips are past tips: they are not announced to the room (their room events are marked
 * delivered in the tip's own batch), so the live room starts with an empty feed.
 */
const DAYS = 14;
/** The creator's past fans: their own wallets, so the demo viewers' balances stay as seeded. */
const VIEWERS = ["fan-xiao", "fan-yu", "fan-zhou"] as const;
const FAN_FUNDING_MINOR = 2_000_00;
const ASKS = [
  { kind: "gift", giftId: "rose", quantity: 9 },
  { kind: "custom", amount: "18.80" },
  { kind: "gift", giftId: "rose", quantity: 52 },
  { kind: "custom", amount: "8.80" },
  { kind: "custom", amount: "52.00" },
] as const;

/** Deterministic "random" bytes for an id, from a label (so a re-run makes the same id). */
function bytesOf(label: string): (n: number) => Uint8Array {
  return (n) => {
    const out = new Uint8Array(n);
    let h = 2166136261;
    for (let i = 0; i < n; i++) {
      for (const ch of `${label}:${i}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
      out[i] = h & 0xff;
    }
    return out;
  };
}

export interface EarningsSeed {
  readonly tipsPosted: number;
  readonly daysSettled: number;
}

export async function seedDemoEarnings(
  ledger: Ledger,
  config: Config,
  roomId: string,
  nowMs: number,
): Promise<EarningsSeed> {
  const tz = config.businessTimeZone;
  const today = businessDayOf(nowMs, tz);
  for (const fan of VIEWERS) {
    await postAdjustment(
      ledger.forOwner(fan),
      {
        id: `adj_demo_funding_${fan}`,
        userId: fan,
        direction: "credit",
        amountMinor: FAN_FUNDING_MINOR,
        reason: "Demo fan funding",
        actorId: "system:demo-seed",
      },
      dayStartMs(addDays(today, -DAYS - 1), tz),
    );
  }
  let tipsPosted = 0;
  for (let back = DAYS; back >= 1; back--) {
    const day = addDays(today, -back);
    // Two to four tips a day, in the evening.
    const count = 2 + ((back * 7) % 3);
    for (let i = 0; i < count; i++) {
      const viewerId = VIEWERS[(back + i) % VIEWERS.length] as string;
      const ask = ASKS[(back * 3 + i) % ASKS.length];
      assert(ask !== undefined, "an ask");
      const atMs = dayStartMs(day, tz) + (19 * 60 + i * 37) * 60_000;
      const id = newOwnedId("tip", ledger.bucketOf(viewerId), atMs, bytesOf(`demo-tip:${day}:${i}`));
      const prepared = await prepareTip(ledger.control, config, { id, roomId, viewerId, ask }, atMs);
      assert(prepared.ok, `the demo tip of ${day} is priced`);
      const { rates: _rates, ...tip } = prepared.value;
      const shard = ledger.forOwner(viewerId);
      const markDelivered = shard.db
        .prepare("UPDATE room_outbox SET delivered_at_ms = ? WHERE id = ? AND delivered_at_ms IS NULL")
        .bind(atMs, id);
      const { verdict } = await runOperation(shard, composeTip(shard, tip), [markDelivered]);
      assert(verdict.kind !== "rejected", `the demo tip of ${day} posts`);
      if (verdict.kind === "posted") tipsPosted++;
    }
  }
  // The creator's part crosses to the creator's shard: deliver it now rather than after the
  // sweeper's 30 s, so the due days settle in this run.
  const pending = await pendingTransit(ledger, nowMs, 0);
  if (pending.length > 0) await deliverTransit(ledger, pending, nowMs);

  const settings = {
    settleAfterDays: config.settlement.settleAfterDays,
    withholdingBps: config.settlement.withholdingBps,
    timeZone: tz,
  };
  let daysSettled = 0;
  for (let back = DAYS; back >= 1; back--) {
    const day = addDays(today, -back);
    if (settlementDueAtMs(day, settings.settleAfterDays, tz) > nowMs) break;
    const run = await settleBusinessDay(
      ledger,
      settings,
      day,
      { runId: "demo-seed", actorId: "system:demo-seed" },
      nowMs,
    );
    if (run.ok && run.value.settled.length > 0) daysSettled++;
  }
  return { tipsPosted, daysSettled };
}
