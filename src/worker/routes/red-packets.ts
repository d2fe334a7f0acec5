import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  composePacketSend,
  markSubsidyUsed,
  type PreparedPacket,
  preparePacketSend,
} from "../../db/operations/packet-send";
import { findPacketWithCreator, type PacketLedgerRow, packetInfoOf } from "../../db/reads/packets";
import type { Ledger } from "../../db/shards";
import { switchRefusal } from "../../db/switches";
import { accountAddress } from "../../domain/accounts";
import { fail, ok } from "../../domain/errors";
import { ID_BODY_PATTERN } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { formatMinor, parseAmountMinor } from "../../domain/money";
import { AUDIENCES, DEFAULT_PACKET_GREETING, SPLIT_MODES } from "../../domain/red-packet";
import type { ClaimAnswer } from "../../durable-objects/live-room";
import { PacketView } from "../../durable-objects/live-room.protocol";
import type { Principal } from "../auth/jwt";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { balancePatch, runIdempotent } from "../idempotency";
import { operatorMay } from "../middleware/auth";
import { moderatedGreeting } from "../moderation";
import { money } from "../money-view";
import { requirePin } from "../pin";
import { assessRisk } from "../risk";
import { edgeClaims } from "../rooms/exhausted-packets";
import { knownRooms } from "../rooms/known-rooms";
import { deliverAfterCommit } from "../rooms/outbox";
import {
  AmountMinor,
  Currency,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PageQuery,
  Pin,
  PrefixedId,
  UserId,
} from "../schemas";
import { defineRoute } from "./define";
import { RoomId } from "./rooms";

export const PacketId = PrefixedId("packet");
export const SubsidyId = PrefixedId("subsidy");

/** What a packet is, whoever pays for it: the wallet or a subsidy (here), or the cashier (a packet order, payments.ts). */
export const PacketAskFields = {
  shares: z.number().int().min(1).max(LIMITS.packetSharesMax),
  split: z.enum(SPLIT_MODES).default("lucky"),
  greeting: z
    .string()
    .trim()
    .max(LIMITS.packetGreetingMaxLength)
    .default(DEFAULT_PACKET_GREETING)
    .openapi({
      description:
        "Moderated: shown, shown masked, or held for review — then the packet goes out with the default " +
        "greeting and yours replaces it once an operator approves it (the money never waits).",
    }),
  audience: z
    .enum(AUDIENCES)
    .default("everyone")
    .openapi({ description: "`followers`: only users whose token lists the creator in its `follows` claim." }),
  ttlSeconds: z
    .number()
    .int()
    .min(LIMITS.packetTtlMinMs / 1000)
    .max(LIMITS.packetTtlMaxMs / 1000)
    .default(LIMITS.packetTtlDefaultMs / 1000),
};

export const SendPacketRequest = z
  .strictObject({
    total: DecimalAmount.optional().openapi({ description: "Required unless a subsidy pays (then its amount)." }),
    subsidyId: SubsidyId.optional().openapi({
      description: "Spend one of your subsidies (B2C) instead of your wallet.",
    }),
    ...PacketAskFields,
    pin: Pin.optional().openapi({
      description:
        "Your payment PIN, to answer a risk challenge (428 `risk_challenge`): send the same request again, same " +
        "Idempotency-Key, with it. Checked only when given (a wrong one counts a try); not part of the fingerprint.",
    }),
  })
  .refine((b) => (b.total === undefined) !== (b.subsidyId === undefined), {
    message: "Give either total (paid from your wallet) or subsidyId, not both.",
  })
  .openapi("SendPacketRequest", { example: { total: "88.88", shares: 10, split: "lucky", greeting: "大吉大利" } });

const LedgerView = z.object({
  status: z.enum(["open", "exhausted", "refunded"]),
  creditedCount: z.number().int(),
  creditedMinor: AmountMinor,
  refundedMinor: AmountMinor,
});

export const PacketSchema = z
  .object({
    id: PacketId,
    roomId: RoomId,
    senderId: UserId,
    funding: z.enum(["wallet", "subsidy"]),
    currency: Currency,
    totalMinor: AmountMinor,
    total: z.string(),
    shares: z.number().int(),
    split: z.enum(SPLIT_MODES),
    greeting: z.string(),
    audience: z.enum(AUDIENCES),
    createdAtMs: z.number().int(),
    expiresAtMs: z.number().int(),
    commitment: z
      .string()
      .nullable()
      .openapi({
        description:
          "SHA-256 (hex) of the packet's secret seed, published at send: every share is drawn from the seed in " +
          "claim order (docs/adr/0008). Null for packets sent before provably fair shares.",
      }),
    seed: z
      .string()
      .nullable()
      .openapi({
        description:
          "The seed (hex), once the ledger has closed the packet (exhausted or refunded); `live.seed` shows it as " +
          "soon as the room has. Recompute every share with `npm run packet:verify`.",
      }),
  })
  .openapi("RedPacket");

const SentSchema = z
  .object({
    packet: PacketSchema,
    greetingStatus: z.enum(["shown", "masked", "held"]).openapi({
      description:
        "`held`: your greeting waits for an operator's review; the room shows the default greeting until it is approved.",
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("RedPacketSent");

const ClaimSchema = z
  .object({
    id: z.string(),
    packetId: PacketId,
    userId: UserId,
    index: z.number().int().openapi({ description: "0-based order of the claim." }),
    amountMinor: AmountMinor,
    amount: z.string(),
    claimedAtMs: z.number().int(),
  })
  .openapi("RedPacketClaim");

const ClaimResultSchema = z
  .object({
    claim: ClaimSchema,
    alreadyClaimed: z.boolean().openapi({ description: "True when this is your earlier claim, answered again." }),
    creditedWithinSeconds: z.literal(true).openapi({
      description: "The amount reaches your wallet through the ledger queue, normally within seconds.",
    }),
  })
  .openapi("RedPacketClaimResult");

const DetailSchema = z
  .object({ packet: PacketSchema, live: PacketView, myClaim: ClaimSchema.nullable(), ledger: LedgerView })
  .openapi("RedPacketDetail");

const ClaimsPageSchema = z
  .object({
    claims: z.array(ClaimSchema.extend({ luckiest: z.boolean() })),
    finished: z.boolean(),
    luckiestIndex: z.number().int().nullable().openapi({ description: "手气最佳, once the packet is finished." }),
    nextAfter: z.number().int().nullable(),
  })
  .openapi("RedPacketClaims");

const roomParams = z.object({ roomId: RoomId.openapi({ param: { name: "roomId", in: "path" } }) });
const packetParams = roomParams.extend({ packetId: PacketId.openapi({ param: { name: "packetId", in: "path" } }) });

function packetBody(row: PacketLedgerRow) {
  return {
    id: row.id,
    roomId: row.room_id,
    senderId: row.sender_id,
    funding: row.funding,
    currency: row.currency,
    totalMinor: row.total_minor,
    total: formatMinor(row.total_minor),
    shares: row.shares,
    split: row.split,
    greeting: row.greeting,
    audience: row.audience,
    createdAtMs: row.created_at_ms,
    expiresAtMs: row.expires_at_ms,
    commitment: row.commitment_hex,
    // The ledger closes a packet only after its last share is claimed or it expired.
    seed: row.status === "open" ? null : row.seed_hex,
  };
}

function claimBody(claim: {
  id: string;
  packetId: string;
  userId: string;
  index: number;
  amountMinor: number;
  claimedAtMs: number;
}) {
  return { ...claim, ...money(claim.amountMinor) };
}

/** May this principal see (and claim) a packet with this audience in this creator's room? */
function inAudience(
  principal: Principal,
  packet: { audience: "everyone" | "followers"; senderId: string },
  creatorId: string,
): boolean {
  return (
    packet.audience === "everyone" ||
    principal.userId === packet.senderId ||
    principal.userId === creatorId ||
    principal.follows?.has(creatorId) === true
  );
}

export const redPackets = new OpenAPIHono<AppEnv>();

redPackets.openapi(
  defineRoute({
    method: "post",
    path: "/rooms/{roomId}/red-packets",
    auth: "signed-in",
    rateLimit: { user: "packets", ip: "moneyIp" },
    tags: ["red packets"],
    summary: "Send a red packet into a live room, from your wallet or a subsidy",
    description:
      "Moves the total into the packet's escrow atomically and announces the packet in the room at once. " +
      "Every share is at least 0.01; unclaimed money returns to the sender (or the campaign) at expiry.",
    request: { params: roomParams, headers: IdempotencyKeyHeader, body: jsonBody(SendPacketRequest) },
    responses: {
      201: jsonResponse(SentSchema, "The packet is in the room"),
      ...errorResponses(400, 401, 403, 404, 409, 422, 423, 428, 503),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    // The PIN is never part of the request's fingerprint: the same key is reused after `risk_challenge`.
    const { pin, ...body } = c.req.valid("json");
    const senderId = c.var.principal.userId;
    const ledger = c.var.ledger;
    // The greeting is shown to the whole room at once: masked, or held for review (the packet
    // goes out with the default greeting meanwhile; the money never waits for a greeting).
    const greeting = await moderatedGreeting(c, body.greeting);
    // The packet lives in its sender's shard: its id carries the sender's bucket, and the
    // Idempotency-Key is kept there beside it.
    const shard = ledger.forOwner(senderId);
    const outcome: { posted: PreparedPacket | null } = { posted: null };
    const response = await runIdempotent(
      c,
      { shard, bucket: ledger.bucketOf(senderId) },
      "packet",
      { roomId, ...body },
      async (id, nowMs) => {
        // Red packets paused here, or money read-only (runtime switches): refused, nothing held.
        const paused = await switchRefusal(ledger.control, c.var.config.switchCacheTtlMs, {
          kind: "packet_send",
          roomId,
        });
        if (paused !== null) return fail(paused.code);
        // A PIN answers a risk challenge: checked only when the packet runs (a replay of its key
        // spends no try), and a wrong one frees the key for the corrected retry.
        const pinVerified = pin !== undefined;
        if (pinVerified) await requirePin(shard, senderId, pin, nowMs);
        // Risk before any money is held (a subsidy-paid packet has no amount of the sender's here).
        const total = body.total === undefined ? null : parseAmountMinor(body.total);
        await assessRisk(c, { action: "packet_send", amountMinor: total?.ok ? total.value : null, pinVerified });
        const packet = await preparePacketSend(
          ledger,
          {
            id,
            roomId,
            senderId,
            total: body.total ?? null,
            subsidyId: body.subsidyId ?? null,
            shares: body.shares,
            split: body.split,
            greeting: greeting.greeting,
            heldGreeting: greeting.held,
            audience: body.audience,
            ttlMs: body.ttlSeconds * 1000,
          },
          nowMs,
        );
        if (!packet.ok) return packet;
        return ok({
          compose: (attach) => composePacketSend(shard, packet.value, nowMs, attach),
          status: 201,
          onPosted: () => {
            outcome.posted = packet.value;
            c.executionCtx.waitUntil(deliverAfterCommit(c.env, ledger, shard.index, [id], c.var.log));
          },
          body: { packet: packetBody(packet.value.row), greetingStatus: greeting.status, walletBalanceMinor: 0 },
          patches: [balancePatch("$.walletBalanceMinor", accountAddress.userWallet(senderId))],
        });
      },
    );
    const sent = outcome.posted;
    if (sent !== null && sent.row.funding === "subsidy") {
      // The subsidy's row is in its campaign's shard; it is told before we answer, so the
      // user's list shows the subsidy used. If this fails the packet stands (its money moved
      // with the grant), and the packet's expiry settlement writes the row again.
      await markSubsidyUsed(ledger, sent.row, sent.row.created_at_ms).catch((error: unknown) =>
        c.var.log.error("subsidy_mark_used_failed", { packetId: sent.row.id, error: String(error) }),
      );
    }
    return response;
  },
);

redPackets.openapi(
  defineRoute({
    method: "post",
    path: "/rooms/{roomId}/red-packets/{packetId}/claims",
    auth: "signed-in",
    rateLimit: { user: "packets", ip: "moneyIp" },
    tags: ["red packets"],
    summary: "Grab a share of a red packet",
    description:
      "Claims are serialized in the room: one per user per packet, never more than the shares. Asking again " +
      "answers your earlier claim (200). The amount is final when you hear it; your wallet is credited " +
      "through the ledger queue within seconds. Under a storm, `packet_busy` (429, Retry-After) asks you to retry. " +
      "Once the packet is exhausted, claimers who did not win are answered without the room. " +
      "Viewers on the room socket may claim with a `packet.claim` frame instead (same answer).",
    request: { params: packetParams },
    responses: {
      200: jsonResponse(ClaimResultSchema, "Your earlier claim"),
      201: jsonResponse(ClaimResultSchema, "You grabbed a share"),
      ...errorResponses(401, 403, 404, 409),
      ...errorResponses(428, 429, 503),
    },
  }),
  async (c) => {
    const { roomId, packetId } = c.req.valid("param");
    // After the room said the packet is exhausted, most claimers are answered here (edgeClaims).
    // Risk only for claims that reach the room (an answer the edge already knows moves nothing new).
    const answer: ClaimAnswer =
      edgeClaims.answer(roomId, packetId, c.var.principal.userId) ??
      (await assessRisk(c, { action: "packet_claim", amountMinor: null }).then(() => claimInRoom(c, roomId, packetId)));
    switch (answer.kind) {
      case "unknown":
        throw new ApiError("packet_not_found");
      case "rejected":
        if (answer.code === "packet_busy") {
          c.header("Retry-After", String(Math.max(1, Math.ceil((answer.retryAfterMs ?? 1000) / 1000))));
          throw new ApiError("packet_busy", undefined, { retryAfterMs: answer.retryAfterMs ?? 1000 });
        }
        throw new ApiError(answer.code);
      case "claimed":
        return c.json(
          { claim: claimBody(answer.claim), alreadyClaimed: !answer.fresh, creditedWithinSeconds: true as const },
          answer.fresh ? 201 : 200,
        );
    }
  },
);

/** The room's answer to a claim; the edge learns from it (the packet exhausted, the user's claim). */
async function claimInRoom(
  c: { env: Env; var: { principal: Principal; ledger: Ledger } },
  roomId: string,
  packetId: string,
): Promise<ClaimAnswer> {
  const { userId } = c.var.principal;
  // An unknown room has no packets: answered without creating its object.
  if (!(await knownRooms.exists(c.var.ledger.control, roomId))) throw new ApiError("packet_not_found");
  const stub = c.env.LIVE_ROOM.getByName(roomId);
  const follows = c.var.principal.follows === null ? [] : [...c.var.principal.follows];
  let answer: ClaimAnswer = await stub.claimPacket(packetId, userId, follows);
  if (answer.kind === "unknown") {
    // The room has not heard of the packet yet (its announcement is still on the way).
    const packet = await findPacketWithCreator(c.var.ledger, packetId);
    if (!packet || packet.room_id !== roomId) throw new ApiError("packet_not_found");
    await stub.ensurePacket(packetInfoOf(packet, packet.creator_id));
    answer = await stub.claimPacket(packetId, userId, follows);
  }
  edgeClaims.learn(roomId, packetId, userId, answer);
  return answer;
}

redPackets.openapi(
  defineRoute({
    method: "get",
    path: "/rooms/{roomId}/red-packets",
    auth: "signed-in",
    tags: ["red packets"],
    summary: "The room's open red packets, newest first",
    request: { params: roomParams },
    responses: {
      200: jsonResponse(z.object({ packets: z.array(PacketView) }), "Open packets"),
      ...errorResponses(401, 404),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    await knownRooms.require(c.var.ledger.control, roomId);
    const state = await c.env.LIVE_ROOM.getByName(roomId).openPacketViews();
    return c.json({ packets: state }, 200);
  },
);

/**
 * A packet the caller may read, and its room. Reads ask the room first; only a room that has
 * not heard of the packet yet (its announcement still on the way) is told about it, so a
 * read never writes to the room otherwise.
 */
async function readablePacket(c: Context<AppEnv>, roomId: string, packetId: string) {
  const packet = await findPacketWithCreator(c.var.ledger, packetId);
  if (!packet || packet.room_id !== roomId) throw new ApiError("packet_not_found");
  if (
    !inAudience(c.var.principal, { audience: packet.audience, senderId: packet.sender_id }, packet.creator_id) &&
    !(await operatorMay(c, "room.moderate"))
  )
    throw new ApiError("packet_followers_only");
  const stub = c.env.LIVE_ROOM.getByName(roomId);
  const fromRoom = async <T>(read: () => Promise<T | null>): Promise<T> => {
    const known = await read();
    if (known !== null) return known;
    await stub.ensurePacket(packetInfoOf(packet, packet.creator_id));
    const told = await read();
    if (told === null) throw new ApiError("packet_not_found");
    return told;
  };
  return { packet, stub, fromRoom };
}

redPackets.openapi(
  defineRoute({
    method: "get",
    path: "/rooms/{roomId}/red-packets/{packetId}",
    auth: "signed-in",
    tags: ["red packets"],
    summary: "A red packet: shares left, your claim, and the ledger's view (credited, refunded)",
    request: { params: packetParams },
    responses: { 200: jsonResponse(DetailSchema, "The packet"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { roomId, packetId } = c.req.valid("param");
    const { packet, stub, fromRoom } = await readablePacket(c, roomId, packetId);
    const live = await fromRoom(() => stub.packet(packetId, c.var.principal.userId));
    return c.json(
      {
        packet: packetBody(packet),
        live: live.packet,
        myClaim: live.myClaim ? claimBody(live.myClaim) : null,
        ledger: {
          status: packet.status,
          creditedCount: packet.credited_count,
          creditedMinor: packet.credited_minor,
          refundedMinor: packet.refunded_minor,
        },
      },
      200,
    );
  },
);

redPackets.openapi(
  defineRoute({
    method: "get",
    path: "/rooms/{roomId}/red-packets/{packetId}/claims",
    auth: "signed-in",
    tags: ["red packets"],
    summary: "Who grabbed what, in claim order; the luckiest (手气最佳) is marked once the packet is finished",
    request: {
      params: packetParams,
      query: z.object({
        after: z.coerce.number().int().min(-1).max(LIMITS.packetSharesMax).default(-1),
        limit: z.coerce.number().int().min(1).max(LIMITS.packetClaimsPageMax).default(LIMITS.pageSizeMax),
      }),
    },
    responses: { 200: jsonResponse(ClaimsPageSchema, "Claims"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { roomId, packetId } = c.req.valid("param");
    const { after, limit } = c.req.valid("query");
    const { stub, fromRoom } = await readablePacket(c, roomId, packetId);
    const page = await fromRoom(() => stub.packetClaims(packetId, after, limit));
    const last = page.claims.at(-1);
    return c.json(
      {
        claims: page.claims.map((cl) => ({ ...claimBody(cl), luckiest: cl.index === page.luckiestIndex })),
        finished: page.finished,
        luckiestIndex: page.luckiestIndex,
        nextAfter: page.claims.length === limit && last ? last.index : null,
      },
      200,
    );
  },
);

redPackets.openapi(
  defineRoute({
    method: "get",
    path: "/me/red-packets",
    auth: "signed-in",
    tags: ["red packets"],
    summary: "Red packets you sent, newest first, with what was claimed and refunded",
    request: { query: PageQuery },
    responses: {
      200: jsonResponse(
        z.object({
          packets: z.array(PacketSchema.extend({ ledger: LedgerView })),
          nextCursor: z.string().nullable(),
        }),
        "Your packets",
      ),
      ...errorResponses(400, 401),
    },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    // Packet ids sort by creation time; the cursor is the last id's time-and-random part.
    if (cursor !== undefined && !ID_BODY_PATTERN.test(cursor))
      throw new ApiError("malformed_request", "The cursor is not valid.");
    const before = cursor === undefined ? "packet_~" : `packet_${cursor}`;
    const userId = c.var.principal.userId;
    // A sender's packets are all in the sender's shard.
    const { results } = await c.var.ledger
      .forOwner(userId)
      .db.prepare("SELECT * FROM red_packets WHERE sender_id = ? AND id < ? ORDER BY id DESC LIMIT ?")
      .bind(userId, before, limit + 1)
      .all<PacketLedgerRow>();
    const page = results.slice(0, limit);
    const last = page.at(-1);
    return c.json(
      {
        packets: page.map((p) => ({
          ...packetBody(p),
          ledger: {
            status: p.status,
            creditedCount: p.credited_count,
            creditedMinor: p.credited_minor,
            refundedMinor: p.refunded_minor,
          },
        })),
        nextCursor: results.length > limit && last ? last.id.slice("packet_".length) : null,
      },
      200,
    );
  },
);
