/**
 * Alerts, decided from the scheduled checks' findings (src/worker/checks): which incidents
 * open and which resolve, per rule and subject; whether a target may be sent one more message
 * now (rate limit); and what each kind of target receives, signed as it expects.
 *
 * An incident is one rule firing for one subject (a channel, a withdrawal, a shard …): its key
 * is `{rule}|{subject}`. While it is open, the rule firing again for that subject on every run
 * changes nothing (one message, not one per run); when a run of the rule's check no longer
 * fires it, it resolves (one resolve message). A check that threw this time says nothing
 * either way: its incidents stay as they are, and `check_failed` fires instead.
 */

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const TARGET_KINDS = ["slack", "feishu", "wecom", "generic"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** What a check found: `kind` is stable (rules name it), `subject` names the thing it is about. */
export interface CheckFinding {
  readonly kind: string;
  readonly severity: Severity;
  readonly subject: string;
  /** A count or a measure (an error rate in %); 1 when the finding is just "there". */
  readonly value: number;
  readonly detail: string;
}

/** The latest run of one check, as alerting reads it. */
export interface CheckResult {
  readonly check: string;
  readonly ok: boolean;
  /** Null when the check threw: its rules neither open nor resolve anything. */
  readonly findings: readonly CheckFinding[] | null;
}

export interface AlertRule {
  readonly id: string;
  readonly check: string;
  /** The finding kind the rule fires on; null: any kind of that check. */
  readonly kind: string | null;
  /** Fires for a subject when Σ of its matching findings' values ≥ threshold. */
  readonly threshold: number;
  readonly severity: Severity;
}

export interface OpenIncident {
  readonly id: string;
  readonly ruleId: string;
  readonly subject: string;
}

export interface IncidentToOpen {
  readonly ruleId: string;
  readonly subject: string;
  readonly key: string;
  readonly severity: Severity;
  readonly value: number;
  readonly summary: string;
}

export interface AlertDecision {
  readonly open: readonly IncidentToOpen[];
  /** Ids of open incidents whose rule no longer fires for their subject. */
  readonly resolve: readonly string[];
}

export const incidentKey = (ruleId: string, subject: string): string => `${ruleId}|${subject}`;

/** What a rule fires for, subject by subject, in the order the findings name them. */
export function firing(
  rule: AlertRule,
  findings: readonly CheckFinding[],
): Map<string, { value: number; details: string[] }> {
  const out = new Map<string, { value: number; details: string[] }>();
  for (const f of findings) {
    if (rule.kind !== null && f.kind !== rule.kind) continue;
    const entry = out.get(f.subject) ?? { value: 0, details: [] };
    entry.value += f.value;
    if (entry.details.length < 3) entry.details.push(`${f.kind}: ${f.detail}`);
    out.set(f.subject, entry);
  }
  for (const [subject, entry] of out) if (entry.value < rule.threshold) out.delete(subject);
  return out;
}

/**
 * The incidents to open and to resolve, given every rule, the latest result of each check and
 * the incidents open now. Rules of a check with no result, or whose latest run threw, leave
 * their incidents alone.
 */
export function decideAlerts(
  rules: readonly AlertRule[],
  results: readonly CheckResult[],
  open: readonly OpenIncident[],
): AlertDecision {
  const byCheck = new Map(results.map((r) => [r.check, r]));
  const openByKey = new Map(open.map((i) => [incidentKey(i.ruleId, i.subject), i]));
  const toOpen: IncidentToOpen[] = [];
  const stillFiring = new Set<string>();
  const decided = new Set<string>();
  for (const rule of rules) {
    const result = byCheck.get(rule.check);
    if (!result || result.findings === null) continue;
    decided.add(rule.id);
    for (const [subject, { value, details }] of firing(rule, result.findings)) {
      const key = incidentKey(rule.id, subject);
      stillFiring.add(key);
      if (openByKey.has(key)) continue;
      toOpen.push({ ruleId: rule.id, subject, key, severity: rule.severity, value, summary: details.join("; ") });
    }
  }
  const resolve = open
    .filter((i) => decided.has(i.ruleId) && !stillFiring.has(incidentKey(i.ruleId, i.subject)))
    .map((i) => i.id);
  return { open: toOpen, resolve };
}

/**
 * Whether a target that was sent messages at `sentAtMs` may be sent one more at `nowMs`:
 * at most `perHour` in any hour (a sliding window).
 */
export function withinRate(sentAtMs: readonly number[], nowMs: number, perHour: number): boolean {
  const recent = sentAtMs.filter((t) => t > nowMs - 3_600_000 && t <= nowMs).length;
  return recent < perHour;
}

/** One message about one incident. */
export interface AlertEvent {
  readonly event: "open" | "resolve";
  readonly incidentId: string;
  readonly rule: string;
  readonly subject: string;
  readonly severity: Severity;
  readonly summary: string;
  readonly openedAtMs: number;
  readonly resolvedAtMs: number | null;
}

export function alertText(e: AlertEvent): { title: string; body: string } {
  const title =
    e.event === "open" ? `[${e.severity.toUpperCase()}] ${e.rule}: ${e.subject}` : `[RESOLVED] ${e.rule}: ${e.subject}`;
  const since = new Date(e.openedAtMs).toISOString();
  const body =
    e.event === "open"
      ? `${e.summary}\nopened ${since} · incident ${e.incidentId}`
      : `cleared ${new Date(e.resolvedAtMs ?? e.openedAtMs).toISOString()} (opened ${since}) · incident ${e.incidentId}`;
  return { title, body };
}

/** The HTTP request a target receives: body text and extra headers. */
export interface AlertRequest {
  readonly body: string;
  readonly headers: Record<string, string>;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

async function hmac(key: string, message: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", utf8(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, utf8(message)));
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Feishu/Lark custom bot signature: HMAC-SHA256 keyed with `timestamp + "\n" + secret` over
 * nothing, base64; `timestamp` in seconds, within an hour of Feishu's clock.
 */
export async function feishuSign(timestampS: number, secret: string): Promise<string> {
  return base64(await hmac(`${timestampS}\n${secret}`, ""));
}

/** The generic target's header: `t={seconds},v1={hex HMAC-SHA256(secret, "{t}.{body}")}`. */
export const GENERIC_SIGNATURE_HEADER = "X-Giftwire-Signature";

export async function genericSign(timestampS: number, secret: string, body: string): Promise<string> {
  return `t=${timestampS},v1=${hex(await hmac(secret, `${timestampS}.${body}`))}`;
}

/** The request for `kind`, signed with `secret` where the kind signs (Feishu, generic). */
export async function alertRequest(
  kind: TargetKind,
  e: AlertEvent,
  secret: string | null,
  nowMs: number,
): Promise<AlertRequest> {
  const { title, body } = alertText(e);
  const ts = Math.floor(nowMs / 1000);
  const json = { "content-type": "application/json" };
  switch (kind) {
    case "slack":
      return { body: JSON.stringify({ text: `*${title}*\n${body}` }), headers: json };
    case "wecom":
      return {
        body: JSON.stringify({ msgtype: "markdown", markdown: { content: `**${title}**\n${body}` } }),
        headers: json,
      };
    case "feishu": {
      const message: Record<string, unknown> = { msg_type: "text", content: { text: `${title}\n${body}` } };
      if (secret !== null) {
        message.timestamp = String(ts);
        message.sign = await feishuSign(ts, secret);
      }
      return { body: JSON.stringify(message), headers: json };
    }
    case "generic": {
      const text = JSON.stringify({ ...e, title, text: body });
      const headers: Record<string, string> = { ...json };
      if (secret !== null) headers[GENERIC_SIGNATURE_HEADER] = await genericSign(ts, secret, text);
      return { body: text, headers };
    }
  }
}

/**
 * Whether a target's answer means delivered. Feishu and WeCom answer HTTP 200 with an error
 * code in the body when they refuse (bad signature, rate limited): those are failures too.
 */
export function deliveredBy(kind: TargetKind, status: number, text: string): boolean {
  if (status < 200 || status >= 300) return false;
  if (kind !== "feishu" && kind !== "wecom") return true;
  try {
    const parsed = JSON.parse(text) as { code?: unknown; errcode?: unknown; StatusCode?: unknown };
    const code = parsed.code ?? parsed.errcode ?? parsed.StatusCode ?? 0;
    return code === 0;
  } catch {
    return false;
  }
}

/** When a scheduled check runs: every `everyMs` (aligned to multiples of it), or daily from a local hour. */
export type CheckSchedule = { readonly everyMs: number } | { readonly dailyFromHour: number };

/**
 * Whether a check last started at `lastStartedAtMs` (null: never) is due at `nowMs`. Interval
 * schedules run once per slot (an hourly check runs in the first cron tick of each hour);
 * daily ones once per local day, from `dailyFromHour` in `timeZone` (`localDayStartMs`).
 */
export function isDue(
  schedule: CheckSchedule,
  lastStartedAtMs: number | null,
  nowMs: number,
  localDayStartMs: (atMs: number) => number,
): boolean {
  if ("everyMs" in schedule) {
    return (
      lastStartedAtMs === null || Math.floor(nowMs / schedule.everyMs) > Math.floor(lastStartedAtMs / schedule.everyMs)
    );
  }
  const from = localDayStartMs(nowMs) + schedule.dailyFromHour * 3_600_000;
  return nowMs >= from && (lastStartedAtMs === null || lastStartedAtMs < from);
}
