import { DurableObject } from "cloudflare:workers";
import { settleExpiredPacket } from "../db/operations/packet-refund";
import { findPacket } from "../db/reads/packets";
import { newId } from "../domain/ids";
import { assert, LIMITS } from "../domain/limits";
import { cryptoRandomInt, inFlightClaimsMax } from "../domain/red-packet";
import { type MergedFrame, mergeWindow, type WindowTip } from "../domain/room/merge";
import { type Period, periodKeys } from "../domain/room/periods";
import { configFrom } from "../platform/config";
import { createLogger } from "../platform/logger";
import {
  CLOSE,
  ClientFrame,
  type Leaderboard,
  PacketInfo,
  type PacketView,
  type RoomEvent,
  RoomEvents,
  type SequencedFrame,
  type ServerFrame,
  SOCKET_ROLES,
  type SocketRole,
  type TipEvent,
  type UnsequencedFrame,
} from "./live-room.protocol";
import { type ClaimOutcome, type CreditMessage, PACKET_SCHEMA, RedPacketDesk, type RoomClaim } from "./red-packet-desk";

/**
 * One LiveRoom per room, addressed by the room id. It owns the room's realtime state:
 * sockets (Hibernation API), leaderboards, the merged-broadcast window, the sequenced event
 * log overlays resume from. Everything durable is in the object's SQLite; memory holds only
 * caches rebuilt on demand, so eviction or hibernation loses nothing.
 *
 * Events arrive from the Worker (`deliver`, from the D1 outbox) at least once; each event id
 * is applied at most once, inside one synchronous SQLite transaction.
 */

interface Attachment {
  role: SocketRole;
  userId: string | null;
  connectedAtMs: number;
  rateWindowStartMs: number;
  rateCount: number;
}

export interface DeliveryResult {
  applied: string[];
  duplicates: string[];
}

export interface RoomConfig {
  windowMs: number;
  timeZone: string;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS applied_events (id TEXT PRIMARY KEY, applied_at_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, frame TEXT NOT NULL, created_at_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS window_tips (tip_id TEXT PRIMARY KEY, viewer_id TEXT NOT NULL, gift_id TEXT,
     quantity INTEGER NOT NULL, amount_minor INTEGER NOT NULL, at_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS board (period TEXT NOT NULL, period_key TEXT NOT NULL, viewer_id TEXT NOT NULL,
     total_minor INTEGER NOT NULL, tip_count INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, dirty INTEGER NOT NULL,
     PRIMARY KEY (period, period_key, viewer_id))`,
  `CREATE INDEX IF NOT EXISTS board_rank ON board (period, period_key, total_minor DESC, viewer_id)`,
  `CREATE INDEX IF NOT EXISTS board_dirty ON board (dirty) WHERE dirty = 1`,
  `CREATE TABLE IF NOT EXISTS combos (viewer_id TEXT NOT NULL, gift_id TEXT NOT NULL, combo_id TEXT NOT NULL,
     count INTEGER NOT NULL, last_at_ms INTEGER NOT NULL, PRIMARY KEY (viewer_id, gift_id))`,
];

/** What a claimer hears back; `packet_busy` carries a retry hint. */
export type ClaimAnswer =
  | Exclude<ClaimOutcome, { kind: "rejected" }>
  | {
      readonly kind: "rejected";
      readonly code: Extract<ClaimOutcome, { kind: "rejected" }>["code"] | "packet_busy";
      readonly retryAfterMs?: number;
    };

/** How soon a room retries a ledger hand-off (queue send, refund) that failed. */
const RETRY_MS = 5_000;
/** Failed refund attempts after which the room raises an operator alert. */
const SETTLE_ALERT_ATTEMPTS = 3;

interface QueuedClaim {
  packetId: string;
  userId: string;
  follows: readonly string[];
  resolve: (answer: ClaimAnswer) => void;
  reject: (error: unknown) => void;
}

export class LiveRoom extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly desk: RedPacketDesk;
  /** Claims admitted per packet and not yet answered (flow control; memory only). */
  private readonly inFlight = new Map<string, number>();
  /** Claims admitted and waiting for the next group commit (see claimPacket). */
  private claimQueue: QueuedClaim[] = [];
  private creditFlush: Promise<void> | null = null;
  private creditFlushAgain = false;
  /** The alarm time this object last set (undefined until read once after waking). */
  private alarmAtMs: number | null | undefined = undefined;
  private readonly log = createLogger({ component: "LiveRoom" });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of [...SCHEMA, ...PACKET_SCHEMA]) this.sql.exec(statement);
    this.desk = new RedPacketDesk(this.sql, (nowMs) => newId("claim", nowMs), cryptoRandomInt);
    // Heartbeats are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  // ── configuration and meta ───────────────────────────────────────────────────────────

  private meta(key: string): string | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return row?.value ?? null;
  }

  private setMeta(key: string, value: string | number | null): void {
    if (value === null) this.sql.exec("DELETE FROM meta WHERE key = ?", key);
    else
      this.sql.exec(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        String(value),
      );
  }

  private config(): RoomConfig {
    const config = configFrom(this.env);
    return { windowMs: config.mergeWindowMs, timeZone: config.leaderboardTimeZone };
  }

  private currentSeq(): number {
    return Number(this.meta("seq") ?? 0);
  }

  private roomState() {
    return {
      roomId: this.meta("roomId"),
      creatorId: this.meta("creatorId"),
      title: this.meta("title"),
      status: (this.meta("status") ?? "offline") as "live" | "offline",
      streamId: this.meta("streamId"),
    };
  }

  // ── RPC: events from the Worker ──────────────────────────────────────────────────────

  /**
   * Applies events from the D1 outbox. Safe to call again with the same events: ids already
   * applied are reported as duplicates and change nothing.
   */
  async deliver(input: unknown): Promise<DeliveryResult> {
    const events = RoomEvents.parse(input);
    const nowMs = Date.now();
    const result: DeliveryResult = { applied: [], duplicates: [] };
    const outgoing: SequencedFrame[] = [];
    let windowGrew = false;
    this.ctx.storage.transactionSync(() => {
      for (const event of events) {
        const inserted = this.sql.exec(
          "INSERT INTO applied_events (id, applied_at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
          event.id,
          nowMs,
        );
        if (inserted.toArray().length === 0) {
          result.duplicates.push(event.id);
          continue;
        }
        result.applied.push(event.id);
        const applied = this.apply(event, nowMs);
        outgoing.push(...applied.frames);
        windowGrew ||= applied.windowGrew;
      }
    });
    // Sent after the transaction commits: a frame never announces state that could roll back.
    for (const frame of outgoing) this.broadcast(frame);
    if (windowGrew || result.applied.length > 0) await this.scheduleAlarm(nowMs);
    return result;
  }

  private apply(event: RoomEvent, nowMs: number): { frames: SequencedFrame[]; windowGrew: boolean } {
    switch (event.type) {
      case "stream.started": {
        this.setMeta("roomId", event.roomId);
        this.setMeta("creatorId", event.creatorId);
        this.setMeta("title", event.title);
        this.setMeta("status", "live");
        this.setMeta("streamId", event.streamId);
        this.sql.exec("DELETE FROM combos");
        return { frames: [this.append({ type: "room.live", room: this.roomState() }, nowMs)], windowGrew: false };
      }
      case "stream.ended": {
        // A late "ended" for an older stream must not take a newer stream offline.
        if (this.meta("streamId") !== event.streamId) return { frames: [], windowGrew: false };
        const frames = this.flushWindow(nowMs);
        this.setMeta("status", "offline");
        frames.push(this.append({ type: "room.ended", room: this.roomState() }, nowMs));
        return { frames, windowGrew: false };
      }
      case "tip":
        return this.applyTip(event, nowMs);
      case "packet.sent": {
        if (this.meta("roomId") === null) this.setMeta("roomId", event.roomId);
        if (!this.desk.open(event.packet)) return { frames: [], windowGrew: false };
        const view = this.desk.view(event.packet.id, nowMs);
        assert(view, "an opened packet has a view");
        return { frames: [this.append({ type: "packet.sent", packet: view }, nowMs)], windowGrew: false };
      }
    }
  }

  private applyTip(tip: TipEvent, nowMs: number): { frames: SequencedFrame[]; windowGrew: boolean } {
    if (this.meta("roomId") === null) this.setMeta("roomId", tip.roomId);
    if (this.meta("creatorId") === null) this.setMeta("creatorId", tip.creatorId);
    const keys = periodKeys(tip.createdAtMs, this.config().timeZone);
    const periods: [Period, string][] = [
      ["live", tip.streamId],
      ["day", keys.day],
      ["week", keys.week],
      ["month", keys.month],
    ];
    for (const [period, key] of periods) {
      this.sql.exec(
        `INSERT INTO board (period, period_key, viewer_id, total_minor, tip_count, updated_at_ms, dirty)
         VALUES (?, ?, ?, ?, 1, ?, 1)
         ON CONFLICT (period, period_key, viewer_id) DO UPDATE SET
           total_minor = total_minor + excluded.total_minor, tip_count = tip_count + 1,
           updated_at_ms = excluded.updated_at_ms, dirty = 1`,
        period,
        key,
        tip.viewerId,
        tip.amountMinor,
        nowMs,
      );
    }
    if (!tip.big) {
      this.sql.exec(
        "INSERT INTO window_tips (tip_id, viewer_id, gift_id, quantity, amount_minor, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        tip.id,
        tip.viewerId,
        tip.giftId,
        tip.quantity,
        tip.amountMinor,
        tip.createdAtMs,
      );
      return { frames: [], windowGrew: true };
    }
    const combo = this.nextCombo(tip);
    const gift = {
      tipId: tip.id,
      viewerId: tip.viewerId,
      giftId: tip.giftId,
      giftName: tip.giftName,
      tier: tip.tier,
      animationKey: tip.animationKey,
      quantity: tip.quantity,
      amountMinor: tip.amountMinor,
      createdAtMs: tip.createdAtMs,
      combo,
    };
    const frames = [this.append({ type: "gift.big", gift }, nowMs)];
    // A big gift usually reorders the top of the board: say so at once.
    frames.push(this.append({ type: "leaderboard", leaderboard: this.leaderboard("live", null) }, nowMs));
    return { frames, windowGrew: false };
  }

  /** Same gift, same viewer, within the combo gap: the same combo, one more. */
  private nextCombo(tip: TipEvent): { id: string; count: number } {
    const giftKey = tip.giftId ?? `custom:${tip.amountMinor}`;
    const row = this.sql
      .exec<{ combo_id: string; count: number; last_at_ms: number }>(
        "SELECT combo_id, count, last_at_ms FROM combos WHERE viewer_id = ? AND gift_id = ?",
        tip.viewerId,
        giftKey,
      )
      .toArray()[0];
    const continues = row !== undefined && tip.createdAtMs - row.last_at_ms <= LIMITS.comboGapMs;
    const comboId = continues ? row.combo_id : `combo_${tip.id}`;
    const count = (continues ? row.count : 0) + tip.quantity;
    this.sql.exec(
      `INSERT INTO combos (viewer_id, gift_id, combo_id, count, last_at_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (viewer_id, gift_id) DO UPDATE SET combo_id = excluded.combo_id, count = excluded.count, last_at_ms = excluded.last_at_ms`,
      tip.viewerId,
      giftKey,
      comboId,
      count,
      Math.max(tip.createdAtMs, row?.last_at_ms ?? 0),
    );
    return { id: comboId, count };
  }

  /** Numbers a frame, stores it in the replay log (bounded), and returns it for sending. */
  private append(frame: UnsequencedFrame, nowMs: number): SequencedFrame {
    const seq = this.currentSeq() + 1;
    this.setMeta("seq", seq);
    const sequenced = { ...frame, seq } as SequencedFrame;
    this.sql.exec(
      "INSERT INTO events (seq, type, frame, created_at_ms) VALUES (?, ?, ?, ?)",
      seq,
      sequenced.type,
      JSON.stringify(sequenced),
      nowMs,
    );
    if (seq % 100 === 0) this.sql.exec("DELETE FROM events WHERE seq <= ?", seq - LIMITS.replayLogMax);
    return sequenced;
  }

  // ── the merged window and the alarm ─────────────────────────────────────────────────

  private flushWindow(nowMs: number): SequencedFrame[] {
    const rows = this.sql
      .exec<{
        tip_id: string;
        viewer_id: string;
        gift_id: string | null;
        quantity: number;
        amount_minor: number;
        at_ms: number;
      }>("SELECT tip_id, viewer_id, gift_id, quantity, amount_minor, at_ms FROM window_tips")
      .toArray();
    const progress = this.desk.takeProgress();
    const packetFrames =
      progress.length === 0 ? [] : [this.append({ type: "packet.progress", packets: progress }, nowMs)];
    if (rows.length === 0) return packetFrames;
    const tips: WindowTip[] = rows.map((r) => ({
      tipId: r.tip_id,
      viewerId: r.viewer_id,
      giftId: r.gift_id,
      quantity: r.quantity,
      amountMinor: r.amount_minor,
      atMs: r.at_ms,
    }));
    const merged: MergedFrame = mergeWindow(tips, LIMITS.comboGapMs, LIMITS.mergedTopTippersMax);
    this.sql.exec("DELETE FROM window_tips");
    // One update per window: the merged tips carry the board they produced, so a storm costs
    // each viewer one frame per window, not two.
    return [
      ...packetFrames,
      this.append(
        {
          type: "tips.merged",
          merged: structuredClone(merged) as never,
          leaderboard: this.leaderboard("live", null),
        },
        nowMs,
      ),
    ];
  }

  /**
   * One alarm serves every periodic job: flushing the merged window (every windowMs while
   * tips or claims arrive), writing changed leaderboard rows to D1 (so at most one window
   * late, well inside the 10 s promise), expiring red packets on time, and retrying ledger
   * hand-offs that failed. Armed only while there is something to do, at the earliest due.
   */
  private async scheduleAlarm(nowMs: number): Promise<void> {
    const due = this.nextDueMs(nowMs);
    if (due === null) return;
    // Only this object sets its alarm, so the time it last set is known without a storage
    // read (a storage operation closes the input gate: in a claim storm, every one counts).
    if (this.alarmAtMs === undefined) this.alarmAtMs = await this.ctx.storage.getAlarm();
    if (this.alarmAtMs === null || this.alarmAtMs > due) {
      this.alarmAtMs = due;
      await this.ctx.storage.setAlarm(due);
    }
  }

  private nextDueMs(nowMs: number): number | null {
    const candidates: number[] = [];
    const pending = this.sql
      .exec<{ n: number }>(
        `SELECT (SELECT COUNT(*) FROM window_tips) + (SELECT COUNT(*) FROM board WHERE dirty = 1)
           + (SELECT COUNT(*) FROM packets WHERE progress_dirty = 1) AS n`,
      )
      .one().n;
    if (pending > 0) candidates.push(nowMs + this.config().windowMs);
    const expiry = this.desk.nextExpiryMs();
    if (expiry !== null) candidates.push(Math.max(expiry, nowMs));
    if (this.desk.hasUnsentCredits() || this.desk.hasUnsettled()) candidates.push(nowMs + RETRY_MS);
    return candidates.length === 0 ? null : Math.min(...candidates);
  }

  override async alarm(): Promise<void> {
    const nowMs = Date.now();
    this.alarmAtMs = null; // this alarm has fired; the next one is set below
    let frames: SequencedFrame[] = [];
    this.ctx.storage.transactionSync(() => {
      frames = this.flushWindow(nowMs);
      frames.push(...this.expireFrames(this.desk.expireDue(nowMs), nowMs));
    });
    for (const frame of frames) this.broadcast(frame);
    await this.persistLeaderboards(nowMs);
    await this.kickCreditFlush();
    await this.settleExpired(nowMs);
    // Redeliveries stop within about half an hour of commit (queue: 10 tries, ≤ 5 min apart;
    // sweeper: 10 tries, a minute apart), so ids older than a week can never come back.
    this.sql.exec(
      "DELETE FROM applied_events WHERE id IN (SELECT id FROM applied_events WHERE applied_at_ms < ? LIMIT 1000)",
      nowMs - LIMITS.roomAppliedEventsRetentionMs,
    );
    const due = this.nextDueMs(nowMs);
    if (due !== null) {
      this.alarmAtMs = Math.max(due, nowMs + 1);
      await this.ctx.storage.setAlarm(this.alarmAtMs);
    }
  }

  /** Upserts changed rows into D1; a failure leaves them dirty for the next alarm (which retries). */
  private async persistLeaderboards(nowMs: number): Promise<void> {
    const roomId = this.meta("roomId");
    const creatorId = this.meta("creatorId");
    if (roomId === null || creatorId === null) return;
    const rows = this.sql
      .exec<{
        period: string;
        period_key: string;
        viewer_id: string;
        total_minor: number;
        tip_count: number;
        updated_at_ms: number;
      }>(
        "SELECT period, period_key, viewer_id, total_minor, tip_count, updated_at_ms FROM board WHERE dirty = 1 LIMIT ?",
        LIMITS.leaderboardRowsPerFlushMax,
      )
      .toArray();
    if (rows.length === 0) return;
    const db = this.env.DB;
    const upsert = db.prepare(
      `INSERT INTO leaderboard_entries (room_id, creator_id, period, period_key, viewer_id, total_minor, tip_count, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id, period, period_key, viewer_id) DO UPDATE SET
         total_minor = excluded.total_minor, tip_count = excluded.tip_count, updated_at_ms = excluded.updated_at_ms
       WHERE excluded.total_minor >= leaderboard_entries.total_minor`,
    );
    await db.batch(
      rows.map((r) =>
        upsert.bind(
          roomId,
          creatorId,
          r.period,
          r.period_key,
          r.viewer_id,
          r.total_minor,
          r.tip_count,
          r.updated_at_ms,
        ),
      ),
    );
    // Only rows unchanged since we read them become clean; newer updates stay dirty.
    this.ctx.storage.transactionSync(() => {
      for (const r of rows) {
        this.sql.exec(
          "UPDATE board SET dirty = 0 WHERE period = ? AND period_key = ? AND viewer_id = ? AND updated_at_ms = ? AND total_minor = ?",
          r.period,
          r.period_key,
          r.viewer_id,
          r.updated_at_ms,
          r.total_minor,
        );
      }
    });
    this.setMeta("leaderboardPersistedAtMs", nowMs);
  }

  // ── RPC: red packets ────────────────────────────────────────────────────────────────

  /**
   * A claim. Claims are group-committed: each one is checked at once (a repeat gets its
   * claim back; an exhausted, expired or foreign packet its answer), then queued, and every
   * claim queued meanwhile is drawn and written in the same synchronous SQLite transaction,
   * so one durable commit carries a whole batch. No await sits between a claim's checks and
   * its write; the answer leaves only once the batch is durable (the output gate holds it).
   * A packet admits at most ⌈1.5 × shares left⌉ queued claims; the rest get `packet_busy`.
   */
  async claimPacket(packetId: string, userId: string, follows: readonly string[]): Promise<ClaimAnswer> {
    const pre = this.desk.precheck(packetId, userId, follows, Date.now());
    if (pre.kind !== "admit") return pre;
    const queued = this.inFlight.get(packetId) ?? 0;
    if (queued >= inFlightClaimsMax(pre.remainingShares)) {
      return { kind: "rejected", code: "packet_busy", retryAfterMs: 200 + Math.floor(Math.random() * 800) };
    }
    this.inFlight.set(packetId, queued + 1);
    return new Promise<ClaimAnswer>((resolve, reject) => {
      this.claimQueue.push({ packetId, userId, follows, resolve, reject });
      if (this.claimQueue.length === 1) setTimeout(() => void this.commitClaims(), 0);
    });
  }

  /** Draws and writes every queued claim in one transaction, then answers them all. */
  private async commitClaims(): Promise<void> {
    const batch = this.claimQueue;
    this.claimQueue = [];
    const nowMs = Date.now();
    const outcomes: ClaimOutcome[] = [];
    const frames: SequencedFrame[] = [];
    try {
      this.ctx.storage.transactionSync(() => {
        for (const c of batch) {
          const outcome = this.desk.claim(c.packetId, c.userId, c.follows, nowMs);
          outcomes.push(outcome);
          if (outcome.kind === "claimed" && outcome.exhausted && outcome.fresh) {
            const luckiest = this.desk.luckiestClaim(c.packetId);
            frames.push(this.append({ type: "packet.exhausted", packetId: c.packetId, luckiest }, nowMs));
          }
        }
      });
    } catch (error) {
      for (const c of batch) c.reject(error);
      return;
    } finally {
      for (const c of batch) {
        const left = (this.inFlight.get(c.packetId) ?? 1) - 1;
        if (left <= 0) this.inFlight.delete(c.packetId);
        else this.inFlight.set(c.packetId, left);
      }
    }
    for (const frame of frames) this.broadcast(frame);
    for (const [i, c] of batch.entries()) c.resolve(outcomes[i] as ClaimOutcome);
    if (outcomes.some((o) => o.kind === "claimed" && o.fresh)) {
      void this.kickCreditFlush();
      // Claims only add work due a window (progress) or a retry (credits) from now; an alarm
      // already set before that covers it, so a storm does not recompute the due time per batch.
      const soonestNewMs = nowMs + Math.min(this.config().windowMs, RETRY_MS);
      if (this.alarmAtMs === undefined || this.alarmAtMs === null || this.alarmAtMs > soonestNewMs) {
        await this.scheduleAlarm(nowMs);
      }
    }
  }

  /** Registers a packet the ledger funded but whose announcement has not reached the room yet. */
  async ensurePacket(input: unknown): Promise<boolean> {
    const info = PacketInfo.parse(input);
    const nowMs = Date.now();
    let frame: SequencedFrame | null = null;
    this.ctx.storage.transactionSync(() => {
      if (!this.desk.open(info)) return;
      const view = this.desk.view(info.id, nowMs);
      if (view) frame = this.append({ type: "packet.sent", packet: view }, nowMs);
    });
    if (frame) this.broadcast(frame);
    await this.scheduleAlarm(nowMs);
    return frame !== null;
  }

  packet(packetId: string, userId: string | null): { packet: PacketView; myClaim: RoomClaim | null } | null {
    const view = this.desk.view(packetId, Date.now());
    if (!view) return null;
    return { packet: view, myClaim: userId === null ? null : this.desk.claimOf(packetId, userId) };
  }

  packetClaims(packetId: string, afterIndex: number, limit: number) {
    assert(Number.isInteger(limit) && limit >= 1 && limit <= LIMITS.packetClaimsPageMax, "claims page within bounds");
    return this.desk.claims(packetId, afterIndex, limit);
  }

  openPacketViews(): PacketView[] {
    return this.desk.openPackets(Date.now());
  }

  /**
   * The sweeper's entry: closes the packet if it is past expiry (registering it first if
   * the room never heard of it), re-queues every claim's credit if asked, and returns the
   * room's final count. Safe to repeat.
   */
  async closeExpiredPacket(
    input: unknown,
    resendCredits: boolean,
  ): Promise<{ claimCount: number; claimedMinor: number; status: string } | null> {
    const info = PacketInfo.parse(input);
    const nowMs = Date.now();
    const frames: SequencedFrame[] = [];
    this.ctx.storage.transactionSync(() => {
      if (this.desk.open(info)) {
        const view = this.desk.view(info.id, nowMs);
        if (view) frames.push(this.append({ type: "packet.sent", packet: view }, nowMs));
      }
      frames.push(...this.expireFrames(this.desk.expireDue(nowMs, info.id), nowMs));
      if (resendCredits) this.desk.resend(info.id);
    });
    for (const frame of frames) this.broadcast(frame);
    if (resendCredits) await this.kickCreditFlush();
    await this.scheduleAlarm(nowMs);
    const final = this.desk.finalOf(info.id);
    return final ? { claimCount: final.claimCount, claimedMinor: final.claimedMinor, status: final.status } : null;
  }

  private expireFrames(
    expired: readonly { packetId: string; claimCount: number; remainingMinor: number }[],
    nowMs: number,
  ) {
    return expired.map((e) =>
      this.append(
        { type: "packet.expired", packetId: e.packetId, claimed: e.claimCount, remainingMinor: e.remainingMinor },
        nowMs,
      ),
    );
  }

  /**
   * Starts a credit flush, or asks the running one to go round again: one flush at a time,
   * so two never read and send the same unsent claims. Resolves when the current one ends.
   */
  private kickCreditFlush(): Promise<void> {
    if (this.creditFlush) {
      this.creditFlushAgain = true;
      return this.creditFlush;
    }
    this.creditFlush = this.flushCredits().finally(() => {
      this.creditFlush = null;
      if (this.creditFlushAgain) {
        this.creditFlushAgain = false;
        void this.kickCreditFlush();
      }
    });
    this.ctx.waitUntil(this.creditFlush);
    return this.creditFlush;
  }

  /**
   * Hands unsent claim credits to the ledger queue in batches. A claim is marked sent only
   * after the queue accepted it; a failure leaves it for the alarm, which retries.
   */
  private async flushCredits(): Promise<void> {
    for (;;) {
      const credits: CreditMessage[] = this.desk.unsentCredits(LIMITS.packetCreditsPerSendMax);
      if (credits.length === 0) return;
      try {
        await this.env.LEDGER_POSTINGS.sendBatch(credits.map((body) => ({ body, contentType: "json" as const })));
      } catch (error) {
        this.log.error("packet_credit_enqueue_failed", { credits: credits.length, error: String(error) });
        await this.scheduleAlarm(Date.now());
        return;
      }
      this.desk.markSent(credits.map((c) => c.claimId));
    }
  }

  /** Posts the refund of every expired packet not yet settled; failures retry on the next alarm. */
  private async settleExpired(nowMs: number): Promise<void> {
    for (const packetId of this.desk.unsettled()) {
      const final = this.desk.finalOf(packetId);
      assert(final, "an unsettled packet is closed");
      try {
        const row = await findPacket(this.env.DB, packetId);
        if (row === null) throw new Error("the ledger has no such packet");
        const outcome = await settleExpiredPacket(this.env.DB, row, final, nowMs);
        const settled =
          outcome.kind === "nothing_to_refund" ||
          outcome.verdict.kind !== "rejected" ||
          // Already finished in the ledger (refunded by the sweeper, or exhausted).
          outcome.verdict.code === "packet_not_open";
        if (!settled) throw new Error(`refund rejected: ${JSON.stringify(outcome)}`);
        this.desk.markSettled(packetId);
      } catch (error) {
        const attempts = this.desk.settleFailed(packetId);
        const fields = { packetId, attempts, error: String(error) };
        if (attempts >= SETTLE_ALERT_ATTEMPTS) this.log.error("alert_packet_refund_failing", fields);
        else this.log.warn("packet_refund_failed", fields);
      }
    }
  }

  // ── RPC: reads ──────────────────────────────────────────────────────────────────────

  leaderboard(period: Period, viewerId: string | null, limit: number = LIMITS.leaderboardTopDefault): Leaderboard {
    assert(
      Number.isInteger(limit) && limit >= 1 && limit <= LIMITS.leaderboardTopMax,
      "leaderboard limit within bounds",
    );
    const periodKey = this.periodKey(period);
    if (periodKey === null) return { period, periodKey: "", top: [], me: null };
    const top = this.sql
      .exec<{ viewer_id: string; total_minor: number; tip_count: number }>(
        "SELECT viewer_id, total_minor, tip_count FROM board WHERE period = ? AND period_key = ? ORDER BY total_minor DESC, viewer_id LIMIT ?",
        period,
        periodKey,
        limit,
      )
      .toArray()
      .map((r, i) => ({ rank: i + 1, viewerId: r.viewer_id, totalMinor: r.total_minor, tipCount: r.tip_count }));
    let me: Leaderboard["me"] = null;
    if (viewerId !== null) {
      const mine = this.sql
        .exec<{ total_minor: number; tip_count: number }>(
          "SELECT total_minor, tip_count FROM board WHERE period = ? AND period_key = ? AND viewer_id = ?",
          period,
          periodKey,
          viewerId,
        )
        .toArray()[0];
      if (mine) {
        const ahead = this.sql
          .exec<{ n: number }>(
            `SELECT COUNT(*) AS n FROM board WHERE period = ? AND period_key = ?
               AND (total_minor > ? OR (total_minor = ? AND viewer_id < ?))`,
            period,
            periodKey,
            mine.total_minor,
            mine.total_minor,
            viewerId,
          )
          .one().n;
        me = { rank: ahead + 1, viewerId, totalMinor: mine.total_minor, tipCount: mine.tip_count };
      }
    }
    return { period, periodKey, top, me };
  }

  private periodKey(period: Period): string | null {
    if (period === "live") return this.meta("streamId");
    return periodKeys(Date.now(), this.config().timeZone)[period];
  }

  state(): { room: ReturnType<LiveRoom["roomState"]>; seq: number; sockets: number; windowTips: number } {
    return {
      room: this.roomState(),
      seq: this.currentSeq(),
      sockets: this.ctx.getWebSockets().length,
      windowTips: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM window_tips").one().n,
    };
  }

  /** Closes every overlay socket: the creator rotated the overlay key. */
  revokeOverlays(): number {
    const overlays = this.ctx.getWebSockets("overlay");
    for (const ws of overlays) ws.close(CLOSE.overlayRevoked, "overlay key rotated");
    return overlays.length;
  }

  // ── sockets ─────────────────────────────────────────────────────────────────────────

  /**
   * The Worker has authenticated the caller and checked Origin; it passes the role, user
   * and (overlays) the seq to resume after in headers it alone can set.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("expected a WebSocket", { status: 426 });
    const role = request.headers.get("x-giftwire-role") as SocketRole | null;
    assert(role !== null && SOCKET_ROLES.includes(role), "the Worker names a socket role");
    const userId = request.headers.get("x-giftwire-user");
    const resumeHeader = request.headers.get("x-giftwire-resume-after");

    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    if (this.ctx.getWebSockets().length >= LIMITS.roomSocketsMax) {
      this.ctx.acceptWebSocket(server, ["rejected"]);
      server.close(CLOSE.tryAgainLater, "room is full");
      return new Response(null, { status: 101, webSocket: client });
    }
    const nowMs = Date.now();
    this.ctx.acceptWebSocket(server, [role, ...(userId ? [`user:${userId}`] : [])]);
    const attachment: Attachment = { role, userId, connectedAtMs: nowMs, rateWindowStartMs: nowMs, rateCount: 0 };
    server.serializeAttachment(attachment);

    // Snapshot, then (overlays) everything after the resume point, in order: the socket
    // is registered already, so frames broadcast meanwhile queue behind these sends.
    const seq = this.currentSeq();
    let resumeFromSeq: number | null = null;
    if (role === "overlay") {
      const fromClient = resumeHeader !== null && /^[0-9]{1,15}$/.test(resumeHeader) ? Number(resumeHeader) : null;
      const acked = this.meta("overlayAckSeq");
      resumeFromSeq = Math.min(fromClient ?? (acked === null ? seq : Number(acked)), seq);
    }
    this.send(server, {
      type: "snapshot",
      seq,
      role,
      room: this.roomState(),
      leaderboard: this.leaderboard("live", userId),
      redPackets: this.desk.openPackets(nowMs),
      windowMs: this.config().windowMs,
      resumeFromSeq,
    });
    if (resumeFromSeq !== null) for (const frame of this.framesAfter(resumeFromSeq)) this.send(server, frame);
    return new Response(null, { status: 101, webSocket: client });
  }

  private framesAfter(seq: number): SequencedFrame[] {
    return this.sql
      .exec<{ frame: string }>("SELECT frame FROM events WHERE seq > ? ORDER BY seq", seq)
      .toArray()
      .map((r) => JSON.parse(r.frame) as SequencedFrame);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = ws.deserializeAttachment() as Attachment | null;
    if (!attachment) return;
    const bytes = typeof message === "string" ? new TextEncoder().encode(message).byteLength : message.byteLength;
    if (bytes > LIMITS.wsClientFrameBytesMax) {
      ws.close(CLOSE.tooBig, "frame too large");
      return;
    }
    const nowMs = Date.now();
    if (nowMs - attachment.rateWindowStartMs >= 60_000) {
      attachment.rateWindowStartMs = nowMs;
      attachment.rateCount = 0;
    }
    attachment.rateCount += 1;
    ws.serializeAttachment(attachment);
    if (attachment.rateCount > LIMITS.wsClientMessagesPerMinuteMax) {
      ws.close(CLOSE.policyViolation, "too many messages");
      return;
    }
    let parsed: ClientFrame;
    try {
      const result = ClientFrame.safeParse(
        JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message)),
      );
      if (!result.success) throw new Error("schema");
      parsed = result.data;
    } catch {
      this.send(ws, { type: "error", code: "malformed_frame", message: "Frames are JSON objects with a known type." });
      return;
    }
    await this.handleClientFrame(ws, attachment, parsed, nowMs);
  }

  private async handleClientFrame(
    ws: WebSocket,
    attachment: Attachment,
    frame: ClientFrame,
    nowMs: number,
  ): Promise<void> {
    switch (frame.type) {
      case "ping":
        this.send(ws, { type: "pong" });
        return;
      case "ack": {
        if (attachment.role !== "overlay") return this.forbidden(ws);
        const acked = Number(this.meta("overlayAckSeq") ?? 0);
        if (frame.seq > acked && frame.seq <= this.currentSeq()) this.setMeta("overlayAckSeq", frame.seq);
        return;
      }
      case "alert.skip":
      case "alert.replay": {
        if (attachment.role !== "broadcaster") return this.forbidden(ws);
        const original = this.sql
          .exec<{ frame: string }>("SELECT frame FROM events WHERE seq = ? AND type = 'gift.big'", frame.seq)
          .toArray()[0];
        if (!original) {
          this.send(ws, {
            type: "error",
            code: "alert_not_found",
            message: "No big-gift alert with that seq in the replay log.",
          });
          return;
        }
        const gift = (JSON.parse(original.frame) as Extract<SequencedFrame, { type: "gift.big" }>).gift;
        let out: SequencedFrame | undefined;
        this.ctx.storage.transactionSync(() => {
          out =
            frame.type === "alert.skip"
              ? this.append({ type: "alert.skip", alertSeq: frame.seq }, nowMs)
              : this.append({ type: "alert.replay", alertSeq: frame.seq, gift }, nowMs);
        });
        if (out) this.broadcast(out);
        return;
      }
    }
  }

  private forbidden(ws: WebSocket): void {
    this.send(ws, { type: "error", code: "forbidden", message: "Your role may not send this frame." });
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // Complete the closing handshake; 1005/1006 are reserved and may not be sent.
    try {
      ws.close(code === 1005 || code === 1006 ? CLOSE.normal : code, reason);
    } catch {
      // already closed
    }
  }

  private send(ws: WebSocket, frame: ServerFrame): void {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; its close handler cleans up.
    }
  }

  private broadcast(frame: SequencedFrame): void {
    const text = JSON.stringify(frame);
    // Hot loop: one serialization, no per-socket lookups. A socket refused as "room full"
    // is already closing; sending to it is a no-op or throws, and is caught.
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
      } catch {
        // closing
      }
    }
  }
}
