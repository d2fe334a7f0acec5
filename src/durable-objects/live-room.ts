/**
 * One LiveRoom per room, addressed by the room id. It owns the room's realtime state:
 * sockets (Hibernation API), leaderboards, the merged-broadcast window, the sequenced event
 * log overlays resume from, and the claims on the room's red packets. Everything durable is
 * in the object's SQLite (tables, and small settings in its KV API); memory holds only caches
 * and queues rebuilt on demand, so eviction or hibernation loses nothing.
 *
 * This class is the object's surface: RPC methods, the alarm and the socket handlers. Each
 * idea is a synchronous module over the same SQLite, composed here inside `transactionSync`:
 * live-room.event-log (seq, replay, applied event ids), live-room.window (merge window and
 * combos), live-room.leaderboards, live-room.packets (claims and the credit outbox),
 * live-room.sockets (attachments, limits, sending) and live-room.settings (KV).
 *
 * Events arrive from the Worker (`deliver`, from the D1 outbox) at least once; each event id
 * is applied at most once, inside one synchronous SQLite transaction. Frames are broadcast
 * only after the transaction that numbered them commits.
 */

import { DurableObject } from "cloudflare:workers";
import { emitOperationEvents } from "../db/business-events";
import { sendCreatorNotices } from "../db/messages/creator-notices";
import { PacketInfo, type RoomEvent, RoomEvents, type TipEvent } from "../db/messages/room-events";
import { refundOperationId, settleExpiredPacket } from "../db/operations/packet-refund";
import { markSubsidyUsed } from "../db/operations/packet-send";
import { findPacket, findPacketWithCreator, packetInfoOf } from "../db/reads/packets";
import { type Ledger, openLedger } from "../db/shards";
import { currentSwitches } from "../db/switches";
import { newId } from "../domain/ids";
import { assert, LIMITS } from "../domain/limits";
import { cryptoRandomInt } from "../domain/red-packet";
import { type Period, periodKeys } from "../domain/room/periods";
import { claimInFlightCap, effectsDegraded, refusalFor } from "../domain/switches";
import { configFrom } from "../platform/config";
import { createLogger } from "../platform/logger";
import {
  answerClaimFrame,
  type ClaimAnswer,
  CreditPacer,
  claimAllowanceRefusal,
  ExhaustedPackets,
} from "./live-room.claims";
import { EVENT_LOG_SCHEMA, EventLog } from "./live-room.event-log";
import { FanOut } from "./live-room.fan-out";
import { LEADERBOARD_SCHEMA, Leaderboards } from "./live-room.leaderboards";
import { CreatorNotices } from "./live-room.notices";
import { type ClaimOutcome, InFlightClaims, PACKET_SCHEMA, RedPacketDesk, type RoomClaim } from "./live-room.packets";
import {
  CLOSE,
  ClaimFrameArgs,
  ClaimPacketArgs,
  type ClientFrame,
  CloseExpiredPacketArgs,
  type Leaderboard,
  LeaderboardArgs,
  PacketArgs,
  type PacketClaimResultFrame,
  PacketClaimsArgs,
  type PacketView,
  type SequencedFrame,
  type ServerFrame,
  type SocketRole,
} from "./live-room.protocol";
import { type RiskRefusal, type SocketSignals, socketClaimRisk } from "./live-room.risk";
import { importLegacyMeta, type RoomIdentity, RoomSettings } from "./live-room.settings";
import {
  type Attachment,
  acceptSocket,
  broadcast,
  closeHandshake,
  HEARTBEAT,
  readHandshake,
  receive,
  send,
} from "./live-room.sockets";
import { quoteOutside, type RateAnswer, RateRequest, roomTierPorts, TierDesk, type TipFate } from "./live-room.tiers";
import { type TipAnswer, TipBatcher, TipSubmission } from "./live-room.tips";
import { MergeWindow, WINDOW_SCHEMA } from "./live-room.window";
import {
  ClientFrameArgs,
  FAN_OUT_HEADER,
  FramesAfterArgs,
  type FrameText,
  ROOM_HEADER,
  ViewerSnapshotArgs,
} from "./room-fan-out.protocol";

/** Decides a claim's risk for `userId`: null to go on, or the refusal. */
type ClaimRisk = (userId: string) => Promise<RiskRefusal | null>;

export interface DeliveryResult {
  applied: string[];
  duplicates: string[];
}

export type { ClaimAnswer } from "./live-room.claims";

interface QueuedClaim {
  packetId: string;
  userId: string;
  follows: readonly string[];
  resolve: (answer: ClaimAnswer) => void;
  reject: (error: unknown) => void;
}

type Applied = { frames: SequencedFrame[]; windowGrew: boolean };

export class LiveRoom extends DurableObject<Env> {
  private readonly settings: RoomSettings;
  private readonly events: EventLog;
  private readonly window: MergeWindow;
  private readonly boards: Leaderboards;
  private readonly desk: RedPacketDesk;
  private readonly inFlight = new InFlightClaims();
  private readonly fanOut: FanOut;
  /** Wallet tips waiting for, or in, the room's group commit (public for the restart tests). */
  readonly tips: TipBatcher;
  /** The creator's inbox notices: tips merged per minute, big gifts (public for the tests). */
  readonly notices: CreatorNotices;
  /** Prices every tip of the room's creator by the month's gross (live-room.tiers.ts; public for tests). */
  readonly tiers: TierDesk;
  /** Exhausted packets described for the Worker's edge answers (live-room.claims). */
  private readonly exhausted: ExhaustedPackets;
  /** Claim RPCs this object answered since it started (tests and benchmarks read it). */
  private claimsAsked = 0;
  /** Group commits of claims, and the claims they carried, since this object started. */
  private claimBatches = 0;
  private batchedClaims = 0;
  private readonly creditPacer = new CreditPacer(() => void this.kickCreditFlush());
  /** Claims admitted and waiting for the next group commit (see claimPacket). */
  private claimQueue: QueuedClaim[] = [];
  private creditFlush: Promise<void> | null = null;
  private creditFlushAgain = false;
  /**
   * An `effects_degraded` switch covers this room: the merge window closes without its merged-tips
   * frame (big gifts still go out). Read from the isolate's switch copy at each alarm.
   */
  private effectsDegraded = false;
  /** The alarm time this object last set (undefined until read once after waking). */
  private alarmAtMs: number | null | undefined = undefined;
  private readonly log = createLogger({ component: "LiveRoom" });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    for (const statement of [...EVENT_LOG_SCHEMA, ...WINDOW_SCHEMA, ...LEADERBOARD_SCHEMA, ...PACKET_SCHEMA]) {
      sql.exec(statement);
    }
    this.settings = new RoomSettings(ctx.storage.kv);
    ctx.storage.transactionSync(() => importLegacyMeta(sql, this.settings));
    this.events = new EventLog(sql, this.settings);
    this.window = new MergeWindow(sql);
    this.boards = new Leaderboards(sql);
    this.desk = new RedPacketDesk(sql, (nowMs) => newId("claim", nowMs), cryptoRandomInt);
    this.tiers = new TierDesk(roomTierPorts(env, this.settings, this.log));
    this.tips = new TipBatcher(
      env,
      { applyTips: async (events) => void (await this.applyEvents(events)), waitUntil: (p) => ctx.waitUntil(p) },
      this.log,
      this.tiers,
    );
    this.exhausted = new ExhaustedPackets(sql, this.desk);
    this.notices = new CreatorNotices(ctx.storage);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT.request, HEARTBEAT.response));
    this.fanOut = new FanOut(env.ROOM_FAN_OUT, this.settings, this.events, this.log);
    // After a restart, each shard is asked where it stands and sent what it missed.
    if (this.fanOut.shardCount() > 0) this.fanOut.kick();
  }

  private config() {
    const config = configFrom(this.env);
    return { windowMs: config.mergeWindowMs, timeZone: config.businessTimeZone, fanOut: config.fanOut };
  }

  // ── RPC: events from the Worker ──────────────────────────────────────────────────────

  /**
   * Applies events from the D1 outbox. Safe to call again with the same events: ids already
   * applied are reported as duplicates and change nothing.
   */
  async deliver(input: unknown): Promise<DeliveryResult> {
    return this.applyEvents(RoomEvents.parse(input));
  }

  /**
   * A wallet tip, validated by the Worker, for the room's group commit (live-room.tips.ts):
   * answered once its batch committed, and applied here at once.
   */
  tip(input: unknown): Promise<TipAnswer> {
    return this.tips.submit(TipSubmission.parse(input));
  }

  /**
   * The rate of a tip that commits outside the room (the direct wallet path, pay-to-tip), at
   * the room's instant and in its pricing order; answer with `settleTipRate` (live-room.tiers.ts).
   */
  quoteTipRate(input: unknown): Promise<RateAnswer> {
    return quoteOutside(this.tiers, RateRequest.parse(input), () => Date.now());
  }

  /** Whether a quoted tip committed ("unknown": the room reads it after the quote's time). */
  settleTipRate(tipId: string, fate: TipFate): void {
    this.tiers.settle(tipId, fate);
  }

  private async applyEvents(events: readonly RoomEvent[]): Promise<DeliveryResult> {
    const nowMs = Date.now();
    const result: DeliveryResult = { applied: [], duplicates: [] };
    const outgoing: SequencedFrame[] = [];
    let windowGrew = false;
    this.ctx.storage.transactionSync(() => {
      for (const event of events) {
        if (!this.events.firstDelivery(event.id, nowMs)) {
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
    this.announce(outgoing);
    if (windowGrew || result.applied.length > 0) await this.scheduleAlarm(nowMs);
    return result;
  }

  private apply(event: RoomEvent, nowMs: number): Applied {
    switch (event.type) {
      case "stream.started": {
        this.settings.put("roomId", event.roomId);
        this.settings.put("creatorId", event.creatorId);
        this.settings.put("title", event.title);
        this.settings.put("status", "live");
        this.settings.put("streamId", event.streamId);
        this.window.resetCombos();
        const frame = this.events.append({ type: "room.live", room: this.settings.identity() }, nowMs);
        return { frames: [frame], windowGrew: false };
      }
      case "stream.ended": {
        // A late "ended" for an older stream must not take a newer stream offline.
        if (this.settings.get("streamId") !== event.streamId) return { frames: [], windowGrew: false };
        const frames = this.closeWindow(nowMs);
        this.settings.put("status", "offline");
        frames.push(this.events.append({ type: "room.ended", room: this.settings.identity() }, nowMs));
        return { frames, windowGrew: false };
      }
      case "tip":
        return this.applyTip(event, nowMs);
      case "tip.message": {
        const message = { tipId: event.tipId, viewerId: event.viewerId, text: event.text, atMs: event.atMs };
        return { frames: [this.events.append({ type: "tip.message", message }, nowMs)], windowGrew: false };
      }
      case "packet.sent": {
        if (this.settings.get("roomId") === null) this.settings.put("roomId", event.roomId);
        if (!this.desk.open(event.packet)) return { frames: [], windowGrew: false };
        const view = this.desk.view(event.packet.id, nowMs);
        assert(view, "an opened packet has a view");
        return { frames: [this.events.append({ type: "packet.sent", packet: view }, nowMs)], windowGrew: false };
      }
      case "packet.greeting": {
        // A room that has not heard of the packet learns it from the ledger, greeting included.
        if (!this.desk.setGreeting(event.packetId, event.greeting)) return { frames: [], windowGrew: false };
        const frame = this.events.append(
          { type: "packet.greeting", packetId: event.packetId, greeting: event.greeting },
          nowMs,
        );
        return { frames: [frame], windowGrew: false };
      }
    }
  }

  /** Every tip counts on the boards at once; a small one waits for the window, a big one goes out now. */
  private applyTip(tip: TipEvent, nowMs: number): Applied {
    if (this.settings.get("roomId") === null) this.settings.put("roomId", tip.roomId);
    if (this.settings.get("creatorId") === null) this.settings.put("creatorId", tip.creatorId);
    this.boards.add(tip, this.config().timeZone, nowMs);
    this.notices.add(tip, nowMs);
    if (!tip.big) {
      this.window.add(tip);
      return { frames: [], windowGrew: true };
    }
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
      combo: this.window.nextCombo(tip),
      message: tip.message,
    };
    const frames = [this.events.append({ type: "gift.big", gift }, nowMs)];
    // A big gift usually reorders the top of the board: say so at once.
    frames.push(this.events.append({ type: "leaderboard", leaderboard: this.board("live", null) }, nowMs));
    return { frames, windowGrew: false };
  }

  /**
   * Closes the merge window: at most one frame of red-packet progress since the last window,
   * then one frame of the window's tips merged with the live board they produced, so a storm
   * costs each viewer one frame per window, not two. Call inside `transactionSync`.
   */
  private closeWindow(nowMs: number): SequencedFrame[] {
    const frames: SequencedFrame[] = [];
    const progress = this.desk.takeProgress();
    if (progress.length > 0) frames.push(this.events.append({ type: "packet.progress", packets: progress }, nowMs));
    const merged = this.window.take();
    if (merged === null) return frames;
    // Degraded (a runtime switch): the window's tips count on the boards, but no merged frame goes out.
    if (this.effectsDegraded) return frames;
    const leaderboard = this.board("live", null);
    frames.push(
      this.events.append({ type: "tips.merged", merged: structuredClone(merged) as never, leaderboard }, nowMs),
    );
    return frames;
  }

  // ── the alarm ───────────────────────────────────────────────────────────────────────

  /**
   * One alarm serves every periodic job: closing the merged window (every windowMs while
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
    if (this.window.size() > 0 || this.boards.hasDirty() || this.desk.hasProgress()) {
      candidates.push(nowMs + this.config().windowMs);
    }
    const expiry = this.desk.nextExpiryMs();
    if (expiry !== null) candidates.push(Math.max(expiry, nowMs));
    if (this.desk.hasUnsentCredits() || this.desk.hasUnsettled()) candidates.push(nowMs + LIMITS.roomRetryMs);
    const notice = this.notices.nextDueMs(nowMs + LIMITS.roomRetryMs);
    if (notice !== null) candidates.push(Math.max(notice, nowMs));
    return candidates.length === 0 ? null : Math.min(...candidates);
  }

  override async alarm(): Promise<void> {
    const nowMs = Date.now();
    this.alarmAtMs = null; // this alarm has fired; the next one is set below
    await this.readEffectsSwitch(nowMs);
    let frames: SequencedFrame[] = [];
    this.ctx.storage.transactionSync(() => {
      frames = this.closeWindow(nowMs);
      frames.push(...this.expireFrames(this.desk.expireDue(nowMs), nowMs));
    });
    this.announce(frames);
    await this.persistLeaderboards();
    await this.kickCreditFlush();
    await this.settleExpired(nowMs);
    await this.sendNotices(nowMs);
    this.events.forgetApplied(nowMs);
    const due = this.nextDueMs(nowMs);
    if (due !== null) {
      this.alarmAtMs = Math.max(due, nowMs + 1);
      await this.ctx.storage.setAlarm(this.alarmAtMs);
    }
  }

  /** Whether an `effects_degraded` switch covers this room now; on a failed read the last answer stands. */
  private async readEffectsSwitch(nowMs: number): Promise<void> {
    try {
      const switches = await currentSwitches(this.env.CONTROL, configFrom(this.env).switchCacheTtlMs);
      this.effectsDegraded = effectsDegraded(switches, this.settings.get("roomId"), nowMs);
    } catch (error) {
      this.log.warn("room_switches_read_failed", { error: String(error) });
    }
  }

  /** The creator's closed minutes and big gifts to the inbox queue; a failure retries on the next alarm. */
  private async sendNotices(nowMs: number): Promise<void> {
    try {
      await this.notices.flush((n) => sendCreatorNotices(this.env.CREATOR_NOTICES, n), nowMs);
    } catch (error) {
      this.log.error("room_notices_send_failed", { error: String(error) });
    }
  }

  /**
   * Upserts changed rows into the control database (leaderboards are not money); a failure
   * leaves them dirty for the next alarm (which retries).
   */
  private async persistLeaderboards(): Promise<void> {
    const roomId = this.settings.get("roomId");
    const creatorId = this.settings.get("creatorId");
    if (roomId === null || creatorId === null) return;
    const rows = this.boards.dirtyRows();
    if (rows.length === 0) return;
    await this.env.CONTROL.batch(this.boards.upserts(this.env.CONTROL, roomId, creatorId, rows));
    this.ctx.storage.transactionSync(() => this.boards.markWritten(rows));
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
  async claimPacket(...args: ClaimPacketArgs): Promise<ClaimAnswer> {
    const [packetId, userId, follows] = ClaimPacketArgs.parse(args);
    this.claimsAsked++;
    // Once the packet is exhausted the answer carries what the Worker needs to answer later
    // claimers itself (live-room.claims).
    return this.exhausted.attach(packetId, await this.claim(packetId, userId, follows));
  }

  /** Claim RPCs answered since this object started: how many claims the edge did not answer. */
  claimStats(): { asked: number; batches: number; batchedClaims: number } {
    return { asked: this.claimsAsked, batches: this.claimBatches, batchedClaims: this.batchedClaims };
  }

  /**
   * A claim frame from a viewer's socket, here or on a fan-out shard: its answer frame. A
   * packet the room has not heard of yet (its announcement still on the way) is learned from
   * the ledger first, as the HTTP route does.
   */
  async answerClaimFrame(...args: ClaimFrameArgs): Promise<PacketClaimResultFrame> {
    const [sender, frame] = ClaimFrameArgs.parse(args);
    return answerClaimFrame(sender, frame, (packetId, userId, follows) =>
      this.claimLearning(packetId, userId, follows, this.socketRisk(sender.risk ?? null)),
    );
  }

  /**
   * Risk on a socket's claim, from the signals its upgrade carried (live-room.risk.ts). HTTP
   * claims are decided by the Worker before they reach the room.
   */
  private socketRisk(signals: SocketSignals | null): ClaimRisk {
    return (userId) => socketClaimRisk(this.env, this.log, (p) => this.ctx.waitUntil(p), userId, signals);
  }

  private async claimLearning(
    packetId: string,
    userId: string,
    follows: readonly string[],
    risk?: ClaimRisk,
  ): Promise<ClaimAnswer> {
    const answer = await this.claim(packetId, userId, follows, risk);
    if (answer.kind !== "unknown") return answer;
    const roomId = this.settings.get("roomId");
    if (roomId === null) return answer;
    const packet = await findPacketWithCreator(await openLedger(this.env), packetId);
    if (packet === null || packet.room_id !== roomId) return answer;
    await this.ensurePacket(packetInfoOf(packet, packet.creator_id));
    return this.claim(packetId, userId, follows, risk);
  }

  private async claim(
    packetId: string,
    userId: string,
    follows: readonly string[],
    risk?: ClaimRisk,
  ): Promise<ClaimAnswer> {
    // The runtime switches from the isolate's copy (a read only when it is older than its TTL),
    // before the checks: no await sits between them and the claim's write.
    const switches = await currentSwitches(this.env.CONTROL, configFrom(this.env).switchCacheTtlMs);
    const nowMs = Date.now();
    const pre = this.desk.precheck(packetId, userId, follows, nowMs);
    if (pre.kind !== "admit") return pre;
    // A repeat got its claim above; a new one is refused while packets are paused here.
    const roomId = this.settings.get("roomId");
    const paused = refusalFor(switches, { kind: "packet_claim", roomId }, nowMs);
    if (paused !== null) {
      return {
        kind: "rejected",
        code: paused.code === "switch_read_only" ? "switch_read_only" : "switch_packets_paused",
      };
    }
    // Risk only for a claim the room would admit (a repeat, an exhausted or expired packet was
    // answered above without it). The claim's checks run again in its own transaction.
    if (risk !== undefined) {
      const refused = await risk(userId);
      if (refused !== null) return { kind: "rejected", code: refused.code, decisionId: refused.decisionId };
    }
    if (!this.inFlight.admit(packetId, pre.remainingShares, claimInFlightCap(switches, roomId, nowMs))) {
      return { kind: "rejected", code: "packet_busy", retryAfterMs: 200 + Math.floor(Math.random() * 800) };
    }
    return new Promise<ClaimAnswer>((resolve, reject) => {
      this.claimQueue.push({ packetId, userId, follows, resolve, reject });
      if (this.claimQueue.length === 1) setTimeout(() => void this.commitClaims(), 0);
    });
  }

  /** Draws and writes every queued claim in one transaction, then answers them all. */
  private async commitClaims(): Promise<void> {
    const batch = this.claimQueue;
    this.claimQueue = [];
    this.claimBatches++;
    this.batchedClaims += batch.length;
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
            const seed = this.desk.revealedSeed(c.packetId, nowMs);
            frames.push(this.events.append({ type: "packet.exhausted", packetId: c.packetId, luckiest, seed }, nowMs));
          }
        }
      });
    } catch (error) {
      for (const c of batch) c.reject(error);
      return;
    } finally {
      for (const c of batch) this.inFlight.release(c.packetId);
    }
    this.announce(frames);
    for (const [i, c] of batch.entries()) c.resolve(outcomes[i] as ClaimOutcome);
    if (outcomes.some((o) => o.kind === "claimed" && o.fresh)) {
      // Credits leave when claims pause or a packet runs out (CreditPacer), not per batch.
      this.creditPacer.committed(
        nowMs,
        outcomes.some((o) => o.kind === "claimed" && o.fresh && o.exhausted),
      );
      // Claims only add work due a window (progress) or a retry (credits) from now; an alarm
      // already set before that covers it, so a storm does not recompute the due time per batch.
      const soonestNewMs = nowMs + Math.min(this.config().windowMs, LIMITS.roomRetryMs);
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
      if (view) frame = this.events.append({ type: "packet.sent", packet: view }, nowMs);
    });
    if (frame) this.announce([frame]);
    await this.scheduleAlarm(nowMs);
    return frame !== null;
  }

  packet(...args: PacketArgs): { packet: PacketView; myClaim: RoomClaim | null } | null {
    const [packetId, userId] = PacketArgs.parse(args);
    const view = this.desk.view(packetId, Date.now());
    if (!view) return null;
    return { packet: view, myClaim: userId === null ? null : this.desk.claimOf(packetId, userId) };
  }

  packetClaims(...args: PacketClaimsArgs) {
    const [packetId, afterIndex, limit] = PacketClaimsArgs.parse(args);
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
    ...args: CloseExpiredPacketArgs
  ): Promise<{ claimCount: number; claimedMinor: number; status: string } | null> {
    const [info, resendCredits] = CloseExpiredPacketArgs.parse(args);
    const nowMs = Date.now();
    const frames: SequencedFrame[] = [];
    this.ctx.storage.transactionSync(() => {
      if (this.desk.open(info)) {
        const view = this.desk.view(info.id, nowMs);
        if (view) frames.push(this.events.append({ type: "packet.sent", packet: view }, nowMs));
      }
      frames.push(...this.expireFrames(this.desk.expireDue(nowMs, info.id), nowMs));
      if (resendCredits) this.desk.resend(info.id);
    });
    this.announce(frames);
    if (resendCredits) await this.kickCreditFlush();
    await this.scheduleAlarm(nowMs);
    const final = this.desk.finalOf(info.id);
    return final ? { claimCount: final.claimCount, claimedMinor: final.claimedMinor, status: final.status } : null;
  }

  private expireFrames(
    expired: readonly { packetId: string; claimCount: number; remainingMinor: number }[],
    nowMs: number,
  ): SequencedFrame[] {
    return expired.map((e) =>
      this.events.append(
        {
          type: "packet.expired",
          packetId: e.packetId,
          claimed: e.claimCount,
          remainingMinor: e.remainingMinor,
          seed: this.desk.revealedSeed(e.packetId, nowMs),
        },
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
      const credits = this.desk.unsentCredits(LIMITS.packetCreditsPerSendMax);
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

  /**
   * Posts the refund of every expired packet not yet settled, in the packet's ledger shard
   * (its sender's: the id routes); failures retry on the next alarm.
   */
  private async settleExpired(nowMs: number): Promise<void> {
    const unsettled = this.desk.unsettled();
    if (unsettled.length === 0) return;
    let ledger: Ledger;
    try {
      ledger = await openLedger(this.env);
    } catch (error) {
      for (const packetId of unsettled) this.refundFailed(packetId, error);
      return;
    }
    for (const packetId of unsettled) {
      const final = this.desk.finalOf(packetId);
      assert(final, "an unsettled packet is closed");
      try {
        const shard = ledger.forId(packetId);
        const row = await findPacket(shard.db, packetId);
        if (row === null) throw new Error("the ledger has no such packet");
        const outcome = await settleExpiredPacket(shard, row, final, nowMs);
        const settled =
          outcome.kind === "nothing_to_refund" ||
          outcome.verdict.kind !== "rejected" ||
          // Already finished in the ledger (refunded by the sweeper, or exhausted).
          outcome.verdict.code === "packet_not_open";
        if (!settled) throw new Error(`refund rejected: ${JSON.stringify(outcome)}`);
        if (outcome.kind === "refunded" && outcome.verdict.kind !== "rejected") {
          // red_packet.refunded (never throws: a lost send is the business-event sweeper's).
          await emitOperationEvents(
            this.env,
            shard,
            [{ id: refundOperationId(packetId), kind: "packet_refund" }],
            this.log,
          );
        }
        // A subsidy packet's subsidy row says "used" (mends a failed write at send time).
        await markSubsidyUsed(ledger, row, row.created_at_ms);
        this.desk.markSettled(packetId);
      } catch (error) {
        this.refundFailed(packetId, error);
      }
    }
  }

  private refundFailed(packetId: string, error: unknown): void {
    const attempts = this.desk.settleFailed(packetId);
    const fields = { packetId, attempts, error: String(error) };
    if (attempts >= LIMITS.alertAfterAttempts) this.log.error("alert_packet_refund_failing", fields);
    else this.log.warn("packet_refund_failed", fields);
  }

  // ── RPC: reads ──────────────────────────────────────────────────────────────────────

  leaderboard(...args: LeaderboardArgs): Leaderboard {
    const [period, viewerId, limit] = LeaderboardArgs.parse(args);
    return this.board(period, viewerId, limit);
  }

  private board(period: Period, viewerId: string | null, limit: number = LIMITS.leaderboardTopDefault): Leaderboard {
    // `live` is this stream (null before the first); day, week and month are today's, now.
    const periodKey =
      period === "live" ? this.settings.get("streamId") : periodKeys(Date.now(), this.config().timeZone)[period];
    return this.boards.read(period, periodKey, viewerId, limit);
  }

  state(): { room: RoomIdentity; seq: number; sockets: number; fanOutShards: number; windowTips: number } {
    return {
      room: this.settings.identity(),
      seq: this.events.seq(),
      sockets: this.ctx.getWebSockets().length,
      fanOutShards: this.fanOut.shardCount(),
      windowTips: this.window.size(),
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
    const handshake = readHandshake(request);
    // A hot room spreads new viewers over its fan-out shards; the Worker opens the socket there.
    const placement = this.fanOut.place(
      handshake.role,
      this.ctx.getWebSockets("viewer").length,
      this.config().fanOut,
      request.headers.get(ROOM_HEADER),
    );
    if (placement.kind === "shard") {
      return new Response(null, { status: 307, headers: { [FAN_OUT_HEADER]: String(placement.index) } });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const nowMs = Date.now();
    if (!acceptSocket(this.ctx, server, handshake, nowMs))
      return new Response(null, { status: 101, webSocket: client });

    // Snapshot, then everything after the resume point, in order: the socket is registered
    // already, so frames broadcast meanwhile queue behind these sends.
    const { snapshot, resumeFromSeq } = this.snapshot(handshake.role, handshake.userId, handshake.resumeAfter, nowMs);
    send(server, snapshot);
    if (resumeFromSeq !== null) for (const frame of this.events.after(resumeFromSeq)) send(server, frame);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * What a new socket is sent first. Overlays resume after the seq they name, else after what
   * overlays acknowledged; a viewer that names a seq (it reconnects) resumes after it, and one
   * that names none gets the snapshot alone.
   */
  private snapshot(role: SocketRole, userId: string | null, resumeAfter: number | null, nowMs: number) {
    const resumeFromSeq =
      role === "overlay" ? this.events.overlayResumePoint(resumeAfter) : this.events.viewerResumePoint(resumeAfter);
    const snapshot = {
      type: "snapshot",
      seq: this.events.seq(),
      role,
      room: this.settings.identity(),
      leaderboard: this.board("live", userId),
      redPackets: this.desk.openPackets(nowMs),
      windowMs: this.config().windowMs,
      resumeFromSeq,
    } satisfies ServerFrame;
    return { snapshot, resumeFromSeq };
  }

  // ── RPC: the fan-out shards ─────────────────────────────────────────────────────────

  /** A viewer socket opening on a shard: its snapshot, and (resuming) the frames it missed, as stored. */
  viewerSnapshot(...args: ViewerSnapshotArgs): {
    snapshot: Extract<ServerFrame, { type: "snapshot" }>;
    replay: FrameText[];
  } {
    const [userId, resumeAfter] = ViewerSnapshotArgs.parse(args);
    const { snapshot, resumeFromSeq } = this.snapshot("viewer", userId, resumeAfter, Date.now());
    const replay = resumeFromSeq === null ? [] : this.events.textsAfter(resumeFromSeq, LIMITS.replayLogMax);
    return { snapshot, replay };
  }

  /** A shard's gap: kept frames after `seq`, as stored. */
  framesAfter(...args: FramesAfterArgs): FrameText[] {
    const [seq, limit] = FramesAfterArgs.parse(args);
    return this.events.textsAfter(seq, limit);
  }

  /**
   * A frame a client sent on a shard's socket, with the sender's attachment: answered exactly
   * as on the room's own sockets; the reply frames go back on that socket.
   */
  async clientFrame(...args: ClientFrameArgs): Promise<ServerFrame[]> {
    const [attachment, frame] = ClientFrameArgs.parse(args);
    return this.answerClientFrame(attachment, frame, Date.now());
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const nowMs = Date.now();
    const received = receive(ws, message, nowMs);
    if (received === null) return;
    const refusal = claimAllowanceRefusal(ws, received.attachment, received.frame, nowMs);
    if (refusal !== null) return send(ws, refusal);
    for (const reply of await this.answerClientFrame(received.attachment, received.frame, nowMs)) send(ws, reply);
  }

  /** Every client frame, from the room's own sockets or a shard's: the replies for the sender. */
  private async answerClientFrame(
    attachment: Pick<Attachment, "role" | "userId" | "follows" | "risk">,
    frame: ClientFrame,
    nowMs: number,
  ): Promise<ServerFrame[]> {
    const forbidden: ServerFrame = { type: "error", code: "forbidden", message: "Your role may not send this frame." };
    switch (frame.type) {
      case "ping":
        // Only a ping spelled other than the client's heartbeat gets here (see HEARTBEAT).
        return [{ type: "pong" }];
      case "ack":
        if (attachment.role !== "overlay") return [forbidden];
        this.events.overlayAck(frame.seq);
        return [];
      case "packet.claim":
        // The socket's claim allowance was spent where the socket lives (claimAllowanceRefusal).
        return [
          await answerClaimFrame(
            { role: attachment.role, userId: attachment.userId, follows: attachment.follows ?? [] },
            frame,
            (p, u, f) => this.claimLearning(p, u, f, this.socketRisk(attachment.risk ?? null)),
          ),
        ];
      case "alert.skip":
      case "alert.replay": {
        if (attachment.role !== "broadcaster") return [forbidden];
        const gift = this.events.bigGift(frame.seq);
        if (gift === null) {
          return [
            { type: "error", code: "alert_not_found", message: "No big-gift alert with that seq in the replay log." },
          ];
        }
        let out: SequencedFrame | undefined;
        this.ctx.storage.transactionSync(() => {
          out =
            frame.type === "alert.skip"
              ? this.events.append({ type: "alert.skip", alertSeq: frame.seq }, nowMs)
              : this.events.append({ type: "alert.replay", alertSeq: frame.seq, gift }, nowMs);
        });
        if (out) this.announce([out]);
        return [];
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    closeHandshake(ws, code, reason);
  }

  /**
   * Sends frames, in order, to every socket of the room and to each of its fan-out shards;
   * only after they are committed.
   */
  private announce(frames: readonly SequencedFrame[]): void {
    for (const frame of frames) broadcast(this.ctx.getWebSockets(), frame);
    // Each fan-out shard gets them once, from the log, in order.
    if (frames.length > 0) this.fanOut.kick();
  }
}
