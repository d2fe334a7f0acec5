import { z } from "zod";
import { USER_ID_PATTERN } from "./accounts";
import { fail, ok, type Result } from "./errors";
import { LIMITS } from "./limits";
import { formatMinor } from "./money";
import { WITHDRAWAL_STATES } from "./withdrawal-states";

/**
 * The creator's inbox (站内信): the kinds of notice, the variables each carries (typed, checked
 * by zod at the producer and again at the queue's consumer), and the templates that turn them
 * into a title and a body in the reader's locale. Templates are rendered at READ time, so an
 * operator's edit changes every message already in every inbox, and a creator who switches
 * locale reads their history in the new one.
 *
 * A template names display variables in braces (`{amount}`), never the stored ones: the stored
 * `grossMinor` is shown as `{amount}` = "¥188.00", an instant as a business-time clock. Each
 * kind's display variables are exactly the keys its `display` returns; a template using any
 * other name is refused (`template_variable_unknown`), so a typo never reaches a creator as a
 * literal "{amuont}".
 */

export const NOTICE_LOCALES = ["zh-CN", "en"] as const;
export type NoticeLocale = (typeof NOTICE_LOCALES)[number];
export const DEFAULT_NOTICE_LOCALE: NoticeLocale = "zh-CN";

export function noticeLocaleOf(value: string | null | undefined): NoticeLocale {
  return (NOTICE_LOCALES as readonly string[]).includes(value ?? "") ? (value as NoticeLocale) : DEFAULT_NOTICE_LOCALE;
}

const Minor = z
  .number()
  .int()
  .nonnegative()
  .max(LIMITS.amountMaxMinor * LIMITS.noticeTipsPerMinuteMax);
const AtMs = z.number().int().nonnegative();
const Reason = z.string().max(LIMITS.reasonMaxLength).nullable();
const UserId = z.string().regex(USER_ID_PATTERN);

/** The stored variables of each kind (inbox_messages.vars). */
export const NOTICE_VARS = {
  /** The room's tips in one business-time minute, merged (produced by the room when the minute closes). */
  tips_merged: z.object({
    roomId: z.string().min(1).max(64),
    minuteStartMs: AtMs,
    tipCount: z.number().int().min(1).max(LIMITS.noticeTipsPerMinuteMax),
    giftCount: z
      .number()
      .int()
      .min(1)
      .max(LIMITS.noticeTipsPerMinuteMax * LIMITS.giftQuantityMax),
    grossMinor: Minor,
  }),
  /** One tip in the big-gift lane. */
  big_gift: z.object({
    tipId: z.string().min(1).max(64),
    roomId: z.string().min(1).max(64),
    viewerId: UserId,
    giftName: z.string().max(LIMITS.nameMaxLength).nullable(),
    quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax),
    amountMinor: Minor,
    atMs: AtMs,
  }),
  /** A business day's earnings moved from pending to available. */
  settlement_done: z.object({
    day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    tipCount: z.number().int().nonnegative(),
    grossMinor: Minor,
    netMinor: Minor,
  }),
  /** A withdrawal reached a new state. */
  withdrawal_state: z.object({
    withdrawalId: z.string().min(1).max(64),
    state: z.enum(WITHDRAWAL_STATES),
    amountMinor: Minor,
    reason: Reason,
  }),
  /** An operator reviewed the creator's real-name verification. */
  verification_result: z.object({
    result: z.enum(["verified", "rejected"]),
    reason: Reason,
  }),
} as const;

export type NoticeKind = keyof typeof NOTICE_VARS;
export const NOTICE_KINDS = Object.keys(NOTICE_VARS) as [NoticeKind, ...NoticeKind[]];
export type NoticeVars<K extends NoticeKind> = z.infer<(typeof NOTICE_VARS)[K]>;

function noticeOf<K extends NoticeKind>(kind: K) {
  return z.object({
    /** Deterministic per event (`tips:{creator}:{minute}`, `big:{tipId}`…): one inbox row however often it is sent. */
    id: z.string().min(1).max(LIMITS.noticeIdMaxLength),
    creatorId: UserId,
    kind: z.literal(kind),
    vars: NOTICE_VARS[kind],
    atMs: AtMs,
  });
}

/** A notice as produced: its id, whose inbox, what, when. */
export const CreatorNotice = z.discriminatedUnion("kind", [
  noticeOf("tips_merged"),
  noticeOf("big_gift"),
  noticeOf("settlement_done"),
  noticeOf("withdrawal_state"),
  noticeOf("verification_result"),
]);
export type CreatorNotice = z.infer<typeof CreatorNotice>;

/** " Reason: …." when there is one, else nothing: templates place it after a sentence. */
function reasonNote(reason: string | null, locale: string): string {
  if (reason === null) return "";
  return locale === "en" ? ` Reason: ${reason}.` : `原因：${reason}`;
}

/** "¥188.00": how every amount reads in a notice. */
export function yuan(amountMinor: number): string {
  return `¥${formatMinor(amountMinor)}`;
}

const clocks = new Map<string, Intl.DateTimeFormat>();

/** "2026-11-22 20:31" in the business time zone. */
export function businessClock(atMs: number, timeZone: string): string {
  let f = clocks.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    clocks.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(atMs)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

const WORDS: Record<NoticeLocale, Record<string, string>> = {
  "zh-CN": {
    requested: "已申请",
    approved: "已批准",
    rejected: "已拒绝",
    paying: "打款中",
    paid: "已到账",
    failed: "打款失败",
    verified: "已通过",
    verificationRejected: "未通过",
    customTip: "打赏",
    none: "无",
  },
  en: {
    requested: "requested",
    approved: "approved",
    rejected: "rejected",
    paying: "being paid",
    paid: "paid",
    failed: "failed",
    verified: "approved",
    verificationRejected: "rejected",
    customTip: "a custom tip",
    none: "none",
  },
};

interface DisplayContext {
  locale: NoticeLocale;
  timeZone: string;
}

type Display<K extends NoticeKind> = (vars: NoticeVars<K>, ctx: DisplayContext) => Record<string, string>;

/** Each kind's display variables: the only names its templates may use. */
const DISPLAY: { [K in NoticeKind]: Display<K> } = {
  tips_merged: (v, ctx) => ({
    gifts: String(v.giftCount),
    tips: String(v.tipCount),
    amount: yuan(v.grossMinor),
    time: businessClock(v.minuteStartMs, ctx.timeZone),
    room: v.roomId,
  }),
  big_gift: (v, ctx) => ({
    viewer: v.viewerId,
    gift: v.giftName ?? WORDS[ctx.locale].customTip ?? "",
    quantity: String(v.quantity),
    amount: yuan(v.amountMinor),
    time: businessClock(v.atMs, ctx.timeZone),
    room: v.roomId,
  }),
  settlement_done: (v) => ({
    day: v.day,
    tips: String(v.tipCount),
    gross: yuan(v.grossMinor),
    net: yuan(v.netMinor),
  }),
  withdrawal_state: (v, ctx) => ({
    withdrawal: v.withdrawalId,
    state: WORDS[ctx.locale][v.state] ?? v.state,
    amount: yuan(v.amountMinor),
    reason: v.reason ?? WORDS[ctx.locale].none ?? "",
    reasonNote: reasonNote(v.reason, ctx.locale),
  }),
  verification_result: (v, ctx) => ({
    result: (v.result === "verified" ? WORDS[ctx.locale].verified : WORDS[ctx.locale].verificationRejected) ?? "",
    reason: v.reason ?? WORDS[ctx.locale].none ?? "",
    reasonNote: reasonNote(v.reason, ctx.locale),
  }),
};

/** A sample of each kind's variables: what the operators' template listing shows and validation renders. */
const SAMPLE_VARS: { [K in NoticeKind]: NoticeVars<K> } = {
  tips_merged: { roomId: "room_sample", minuteStartMs: 0, tipCount: 23, giftCount: 23, grossMinor: 18_800 },
  big_gift: {
    tipId: "tip_sample",
    roomId: "room_sample",
    viewerId: "viewer-1",
    giftName: "Rocket",
    quantity: 1,
    amountMinor: 500_000,
    atMs: 0,
  },
  settlement_done: { day: "2026-11-22", tipCount: 120, grossMinor: 100_000, netMinor: 70_000 },
  withdrawal_state: { withdrawalId: "wd_sample", state: "paid", amountMinor: 50_000, reason: null },
  verification_result: { result: "verified", reason: null },
};

/** The display variables a kind's templates may use. */
export function templateVariables(kind: NoticeKind): string[] {
  return Object.keys(
    (DISPLAY[kind] as Display<NoticeKind>)(SAMPLE_VARS[kind] as never, { locale: "en", timeZone: "UTC" }),
  );
}

export interface Template {
  title: string;
  body: string;
}

/** The built-in templates, used for any (kind, locale) operators have not overridden. */
export const DEFAULT_TEMPLATES: { [K in NoticeKind]: Record<NoticeLocale, Template> } = {
  tips_merged: {
    "zh-CN": { title: "打赏汇总", body: "最近一分钟收到 {gifts} 个礼物，共 {amount}（{time}）" },
    en: { title: "Tips this minute", body: "{gifts} gifts, {amount} in the last minute ({time})" },
  },
  big_gift: {
    "zh-CN": { title: "收到大额礼物", body: "{viewer} 送出 {gift} ×{quantity}，价值 {amount}" },
    en: { title: "A big gift", body: "{viewer} sent {gift} ×{quantity}, worth {amount}" },
  },
  settlement_done: {
    "zh-CN": { title: "结算完成", body: "{day} 的收入已结算：{tips} 笔打赏，流水 {gross}，到账 {net}" },
    en: {
      title: "Settlement done",
      body: "Earnings of {day} settled: {tips} tips, {gross} gross, {net} to your balance",
    },
  },
  withdrawal_state: {
    "zh-CN": { title: "提现状态更新", body: "提现 {amount}（{withdrawal}）{state}。{reasonNote}" },
    en: { title: "Withdrawal update", body: "Your withdrawal of {amount} ({withdrawal}) is {state}.{reasonNote}" },
  },
  verification_result: {
    "zh-CN": { title: "实名认证结果", body: "你的实名认证{result}。{reasonNote}" },
    en: { title: "Verification result", body: "Your verification was {result}.{reasonNote}" },
  },
};

const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * An operator's template checked: every `{name}` must be one of the kind's display variables.
 * Braces that enclose nothing valid are refused too (`{}`, `{ amount }`): say it exactly.
 */
export function validateTemplate(kind: NoticeKind, template: Template): Result<Template> {
  const known = new Set(templateVariables(kind));
  const unknown = new Set<string>();
  for (const text of [template.title, template.body]) {
    for (const m of text.matchAll(PLACEHOLDER)) if (!known.has(m[1] ?? "")) unknown.add(m[0]);
  }
  if (unknown.size > 0) {
    return fail(
      "template_variable_unknown",
      `Unknown placeholder(s) ${[...unknown].join(", ")}; ${kind} knows {${[...known].join("}, {")}}.`,
    );
  }
  return ok(template);
}

/** A stored notice rendered with a template, in the reader's locale and the business time zone. */
export function renderNotice(
  kind: NoticeKind,
  vars: unknown,
  template: Template,
  ctx: DisplayContext,
): Template | null {
  const parsed = NOTICE_VARS[kind].safeParse(vars);
  // A row written by a newer producer with variables this reader does not know: shown by its kind.
  if (!parsed.success) return null;
  const values = (DISPLAY[kind] as Display<NoticeKind>)(parsed.data as never, ctx);
  const fill = (text: string) => text.replace(PLACEHOLDER, (all, name: string) => values[name] ?? all);
  return { title: fill(template.title), body: fill(template.body) };
}

export function isNoticeKind(value: string): value is NoticeKind {
  return Object.hasOwn(NOTICE_VARS, value);
}
