import { z } from "zod";
import { CHANNELS, type ChannelName } from "../channels/channel";
import { LIMITS } from "../domain/limits";
import { isTimeZone } from "../domain/room/periods";
import { WITHHOLDING_BPS_DEFAULT } from "../domain/withholding";

/**
 * Typed configuration, parsed from the deployment's vars once per env object. The Worker and
 * the Durable Objects read it alike (the room takes its merge window and leaderboard time zone
 * from here), so it lives in the neutral platform module. A bad deploy config fails loudly on
 * the first request rather than misbehaving quietly.
 */
const minorString = z
  .string()
  .regex(/^[1-9][0-9]*$/)
  .transform(Number)
  .pipe(z.number().int().max(LIMITS.amountMaxMinor));

const ConfigSchema = z
  .object({
    ENVIRONMENT: z.enum(["production", "staging", "development", "test"]),
    JWT_ISSUER: z.string().min(1),
    JWT_AUDIENCE: z.string().min(1),
    JWT_SECRET: z.string().default(""),
    JWT_PUBLIC_JWK: z.string().default(""),
    // Host identity through JWKS (issue 18): the host's key set URL; tokens are then verified
    // against its keys by `kid` (RS256, ES256, EdDSA), `iss` JWT_ISSUER, `aud` JWT_AUDIENCE.
    HOST_JWKS_URL: z.string().default(""),
    HOST_JWKS_COOLDOWN_MS: z
      .string()
      .regex(/^[0-9]+$/)
      .default(String(LIMITS.hostJwksCooldownDefaultMs))
      .transform(Number)
      .pipe(z.number().int().min(0).max(LIMITS.hostJwksCooldownMaxMs)),
    HOST_JWKS_CACHE_MAX_AGE_MS: z
      .string()
      .regex(/^[0-9]+$/)
      .default(String(LIMITS.hostJwksCacheMaxAgeDefaultMs))
      .transform(Number)
      .pipe(z.number().int().min(LIMITS.hostJwksCacheMaxAgeMinMs).max(LIMITS.hostJwksCacheMaxAgeMaxMs)),
    // Cloudflare Access in front of the operator API (issue 15): the team domain and the
    // application's AUD tag. Both or neither; production requires both.
    ACCESS_TEAM_DOMAIN: z
      .string()
      .regex(/^(https:\/\/[a-z0-9-]+\.cloudflareaccess\.com)?$/, "https://<team>.cloudflareaccess.com")
      .default(""),
    ACCESS_AUD: z
      .string()
      .regex(/^([0-9a-f]{64})?$/, "the Access application's 64-hex AUD tag")
      .default(""),
    PLATFORM_SHARE_BPS: z
      .string()
      .regex(/^[0-9]+$/)
      .transform(Number)
      .pipe(z.number().int().min(0).max(LIMITS.bpsMax)),
    TIP_CUSTOM_MIN_MINOR: minorString,
    TIP_CUSTOM_MAX_MINOR: minorString,
    CORS_ORIGINS: z.string().default(""),
    WS_ORIGINS: z.string().default(""),
    BUSINESS_TIME_ZONE: z.string().refine(isTimeZone, "an IANA time zone"),
    ROOM_MERGE_WINDOW_MS: z
      .string()
      .regex(/^[0-9]+$/)
      .transform(Number)
      .pipe(z.number().int().min(LIMITS.mergeWindowMinMs).max(LIMITS.mergeWindowMaxMs)),
    // Fan-out (docs/ARCHITECTURE.md, "Fan-out shards"): the viewer sockets a room holds itself,
    // then how many RoomFanOut shards take the rest.
    ROOM_FAN_OUT_THRESHOLD: z
      .string()
      .regex(/^[0-9]+$/)
      .transform(Number)
      .pipe(z.number().int().min(0).max(LIMITS.fanOutThresholdMax)),
    ROOM_FAN_OUT_SHARDS: z
      .string()
      .regex(/^[0-9]+$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(LIMITS.fanOutShardsMax)),
    PAYMENT_METHODS: z
      .string()
      .default("{}")
      .transform((v, ctx) => {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          ctx.addIssue({ code: "custom", message: "PAYMENT_METHODS is JSON" });
          return z.NEVER;
        }
      })
      .pipe(z.record(z.string().regex(/^[a-z_]{1,32}$/), z.array(z.enum(CHANNELS)).min(1).max(4))),
    AUTOPAY_PER_TIP_DEFAULT_MINOR: minorString,
    AUTOPAY_PER_DAY_DEFAULT_MINOR: minorString,
    TIP_COMMIT: z.enum(["room", "direct"]).default("room"),
    PAYMENT_NOTIFICATION_RETENTION_DAYS: z
      .string()
      .regex(/^[0-9]+$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(3_650)),
    // Settlement T+N (issue 14): N in days and the withholding tax rate in basis points.
    SETTLEMENT_DAYS: z
      .string()
      .regex(/^[0-9]+$/)
      .default(String(LIMITS.settlementDaysDefault))
      .transform(Number)
      .pipe(z.number().int().min(LIMITS.settlementDaysMin).max(LIMITS.settlementDaysMax)),
    WITHHOLDING_BPS: z
      .string()
      .regex(/^[0-9]+$/)
      .default(String(WITHHOLDING_BPS_DEFAULT))
      .transform(Number)
      .pipe(z.number().int().min(0).max(LIMITS.bpsMax)),
    // Withdrawal fee (issue 14): fixed part in fen plus a rate in basis points; 0 and 0 = free.
    WITHDRAWAL_FEE_FIXED_MINOR: z
      .string()
      .regex(/^[0-9]+$/)
      .default("0")
      .transform(Number)
      .pipe(
        z
          .number()
          .int()
          .min(0)
          .max(LIMITS.withdrawalMinMinor - 1),
      ),
    // Four-eyes thresholds (issue 15), in fen: an adjustment, refund or withdrawal approval above
    // its threshold needs a second operator. Tip reversals, revenue-share changes, switch changes
    // and operator role grants always do.
    // The big-gift (instant) lane: a tip at least this gross, any gift or custom (domain/room/lanes.ts).
    BIG_GIFT_THRESHOLD_MINOR: minorString.default(LIMITS.bigGiftThresholdDefaultMinor),
    FOUR_EYES_ADJUSTMENT_MINOR: minorString.default(100_000),
    FOUR_EYES_REFUND_MINOR: minorString.default(100_000),
    FOUR_EYES_WITHDRAWAL_MINOR: minorString.default(500_000),
    WITHDRAWAL_FEE_BPS: z
      .string()
      .regex(/^[0-9]+$/)
      .default("0")
      .transform(Number)
      .pipe(z.number().int().min(0).max(LIMITS.withdrawalFeeBpsMax)),
    // Runtime switches: how long an isolate keeps its copy of the switch set (domain/switches.ts).
    SWITCH_CACHE_TTL_MS: z
      .string()
      .regex(/^[0-9]+$/)
      .default(String(LIMITS.switchCacheTtlDefaultMs))
      .transform(Number)
      .pipe(z.number().int().min(0).max(LIMITS.switchCacheTtlMaxMs)),
    // Partner webhooks: http and loopback endpoints, for the local demo receiver only (domain/webhooks.ts).
    WEBHOOK_ALLOW_LOOPBACK: z.enum(["true", "false"]).default("false"),
    // Content grants (issue 19): the ES256 private key (a JWK with `kid`) grant tokens are
    // signed with; its public half is published at /v1/content/grants/jwks.json. Optional
    // secret: without it, entitlement checks answer without a grant token.
    GRANT_SIGNING_JWK: z.string().default(""),
  })
  .refine((c) => c.TIP_CUSTOM_MIN_MINOR <= c.TIP_CUSTOM_MAX_MINOR, "TIP_CUSTOM_MIN_MINOR <= TIP_CUSTOM_MAX_MINOR")
  .refine(
    (c) => c.JWT_PUBLIC_JWK !== "" || c.HOST_JWKS_URL !== "" || c.JWT_SECRET.length >= 32,
    "JWT_SECRET must be at least 32 characters",
  )
  .refine(
    (c) => c.JWT_PUBLIC_JWK === "" || c.HOST_JWKS_URL === "",
    "JWT_PUBLIC_JWK and HOST_JWKS_URL are two ways to give the host's keys: set one",
  )
  .refine(
    (c) => c.HOST_JWKS_URL === "" || isJwksUrl(c.HOST_JWKS_URL, c.ENVIRONMENT),
    "HOST_JWKS_URL is an https:// URL (http:// only to localhost, outside production and staging)",
  )
  .refine(
    (c) => (c.ACCESS_TEAM_DOMAIN === "") === (c.ACCESS_AUD === ""),
    "ACCESS_TEAM_DOMAIN and ACCESS_AUD go together",
  )
  .refine(
    (c) => c.ENVIRONMENT !== "production" || c.WEBHOOK_ALLOW_LOOPBACK === "false",
    "production webhooks never go to loopback: WEBHOOK_ALLOW_LOOPBACK must be false",
  )
  .refine(
    (c) => c.ENVIRONMENT !== "production" || c.ACCESS_TEAM_DOMAIN !== "",
    "production operators sign in through Cloudflare Access: set ACCESS_TEAM_DOMAIN and ACCESS_AUD",
  );

/**
 * The host's key set is fetched over HTTPS; a login service on this machine (development) may
 * be plain http on a loopback name. No credentials or fragments in the URL.
 */
function isJwksUrl(value: string, environment: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.username !== "" || url.password !== "" || url.hash !== "") return false;
  if (url.protocol === "https:") return true;
  const local = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
  return url.protocol === "http:" && local && environment !== "production" && environment !== "staging";
}

/** Host identity through JWKS (src/worker/auth/jwks.ts). */
export interface HostJwksSettings {
  readonly url: string;
  /** At most one refetch per this long for a token naming an unknown `kid`. */
  readonly cooldownMs: number;
  /** The key set is fetched again once this old: a removed key stops within this bound. */
  readonly cacheMaxAgeMs: number;
}

/** Cloudflare Access in front of the operator API (src/worker/auth/access.ts). */
export interface AccessSettings {
  /** `https://<team>.cloudflareaccess.com`, no trailing slash: the issuer, and where the certs are. */
  readonly teamDomain: string;
  /** The Access application's Application Audience (AUD) tag. */
  readonly aud: string;
}

export interface Config {
  readonly environment: "production" | "staging" | "development" | "test";
  readonly jwt: {
    readonly issuer: string;
    readonly audience: string;
    readonly secret: string;
    readonly publicJwk: string;
    /** The host's key set URL, or null: then `publicJwk` (ES256) or `secret` (HS256). */
    readonly jwks: HostJwksSettings | null;
  };
  /**
   * Cloudflare Access in front of the operator API, or null: then the bearer token's subject
   * names the operator (development and tests only; production requires Access).
   */
  readonly access: AccessSettings | null;
  readonly platformShareBps: number;
  readonly customTip: { readonly minMinor: number; readonly maxMinor: number };
  readonly corsOrigins: readonly string[];
  readonly wsOrigins: readonly string[];
  /** The business day's time zone: leaderboard periods, the 小额免密 day, the reconciliation day. */
  readonly businessTimeZone: string;
  readonly mergeWindowMs: number;
  /** The platform's big-gift threshold: a tip at least this gross goes out at once; a room may lower it. */
  readonly bigGiftThresholdMinor: number;
  /** Viewer sockets a room holds itself; beyond it, new viewers go to its fan-out shards. */
  readonly fanOut: { readonly threshold: number; readonly shards: number };
  /** Payment methods the payer picks (`qr`, `card`…) → channels, primary first, then backups. */
  readonly paymentMethods: Readonly<Record<string, readonly ChannelName[]>>;
  /** 小额免密 limits for users who have not set their own. */
  readonly autopayDefaults: { readonly perTipMaxMinor: number; readonly perDayMaxMinor: number };
  /** How long raw payment callbacks are kept (disputes, reconciliation). */
  readonly paymentNotificationRetentionMs: number;
  /**
   * Wallet tips: `room` = the room's group commit (durable-objects/live-room.tips.ts);
   * `direct` = each tip its own batches from the Worker (the per-tip baseline bench/tips.ts measures).
   */
  readonly tipCommit: "room" | "direct";
  /** Settlement T+N: day D's earnings become available at the start of D+N; withholding at settlement. */
  readonly settlement: { readonly settleAfterDays: number; readonly withholdingBps: number };
  /** Four-eyes: amounts above which an adjustment, a refund, a withdrawal approval needs a second operator. */
  readonly fourEyes: {
    readonly adjustmentMinor: number;
    readonly refundMinor: number;
    readonly withdrawalMinor: number;
  };
  /** What a withdrawal costs the creator: a fixed part plus a rate of the amount (both may be 0). */
  readonly withdrawalFee: { readonly fixedMinor: number; readonly bps: number };
  /** How long an isolate keeps its copy of the runtime switches (≤ LIMITS.switchCacheTtlMaxMs). */
  readonly switchCacheTtlMs: number;
  /** Partner webhooks: whether endpoints may be http and loopback (development only). */
  readonly webhooks: { readonly allowLoopback: boolean };
  /** The ES256 private JWK content grants are signed with; "" when not configured. */
  readonly grantSigningJwk: string;
}

const cache = new WeakMap<object, Config>();

function list(value: string): string[] {
  return value
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
}

export function configFrom(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const c = ConfigSchema.parse(env);
  const config: Config = {
    environment: c.ENVIRONMENT,
    jwt: {
      issuer: c.JWT_ISSUER,
      audience: c.JWT_AUDIENCE,
      secret: c.JWT_SECRET,
      publicJwk: c.JWT_PUBLIC_JWK,
      jwks:
        c.HOST_JWKS_URL === ""
          ? null
          : {
              url: c.HOST_JWKS_URL,
              cooldownMs: c.HOST_JWKS_COOLDOWN_MS,
              cacheMaxAgeMs: c.HOST_JWKS_CACHE_MAX_AGE_MS,
            },
    },
    access: c.ACCESS_TEAM_DOMAIN === "" ? null : { teamDomain: c.ACCESS_TEAM_DOMAIN, aud: c.ACCESS_AUD },
    platformShareBps: c.PLATFORM_SHARE_BPS,
    customTip: { minMinor: c.TIP_CUSTOM_MIN_MINOR, maxMinor: c.TIP_CUSTOM_MAX_MINOR },
    corsOrigins: list(c.CORS_ORIGINS),
    wsOrigins: list(c.WS_ORIGINS),
    businessTimeZone: c.BUSINESS_TIME_ZONE,
    mergeWindowMs: c.ROOM_MERGE_WINDOW_MS,
    bigGiftThresholdMinor: c.BIG_GIFT_THRESHOLD_MINOR,
    fanOut: { threshold: c.ROOM_FAN_OUT_THRESHOLD, shards: c.ROOM_FAN_OUT_SHARDS },
    paymentMethods: c.PAYMENT_METHODS,
    autopayDefaults: {
      perTipMaxMinor: c.AUTOPAY_PER_TIP_DEFAULT_MINOR,
      perDayMaxMinor: c.AUTOPAY_PER_DAY_DEFAULT_MINOR,
    },
    paymentNotificationRetentionMs: c.PAYMENT_NOTIFICATION_RETENTION_DAYS * 24 * 60 * 60 * 1000,
    tipCommit: c.TIP_COMMIT,
    settlement: { settleAfterDays: c.SETTLEMENT_DAYS, withholdingBps: c.WITHHOLDING_BPS },
    withdrawalFee: { fixedMinor: c.WITHDRAWAL_FEE_FIXED_MINOR, bps: c.WITHDRAWAL_FEE_BPS },
    switchCacheTtlMs: c.SWITCH_CACHE_TTL_MS,
    webhooks: { allowLoopback: c.WEBHOOK_ALLOW_LOOPBACK === "true" },
    grantSigningJwk: c.GRANT_SIGNING_JWK,
    fourEyes: {
      adjustmentMinor: c.FOUR_EYES_ADJUSTMENT_MINOR,
      refundMinor: c.FOUR_EYES_REFUND_MINOR,
      withdrawalMinor: c.FOUR_EYES_WITHDRAWAL_MINOR,
    },
  };
  cache.set(env, config);
  return config;
}
