import type { ErrorCode } from "./errors";
import { LIMITS } from "./limits";

/**
 * Payout accounts a creator binds: where a withdrawal is paid. Checked when bound, shown only
 * masked (creator console, operator console, statements, notifications).
 *
 * - WeChat 商家转账: the creator's `openid` under our app id.
 * - Alipay: a `user_id` (2088 + 12 digits) or a `logon_id` (email or mobile) with the payee's
 *   real name, which Alipay checks against the logon id (required for logon ids, optional for
 *   user ids).
 * - Stripe Connect: the connected account id (`acct_…`).
 * - sandbox: any short id, for the simulator.
 */
export type PayoutAccount =
  | { readonly channel: "wechat"; readonly openid: string }
  | {
      readonly channel: "alipay";
      readonly identity: "user_id" | "logon_id";
      readonly id: string;
      readonly name: string | null;
    }
  | { readonly channel: "stripe"; readonly accountId: string }
  | { readonly channel: "sandbox"; readonly id: string };

export type PayoutAccountProblem =
  | "openid_invalid"
  | "alipay_user_id_invalid"
  | "alipay_logon_id_invalid"
  | "payee_name_required"
  | "payee_name_invalid"
  | "stripe_account_invalid"
  | "sandbox_id_invalid";

export type PayoutAccountCheck =
  | { readonly ok: true; readonly value: PayoutAccount }
  | { readonly ok: false; readonly code: ErrorCode; readonly problem: PayoutAccountProblem };

const OPENID = /^[A-Za-z0-9_-]{8,128}$/;
const ALIPAY_USER_ID = /^2088[0-9]{12}$/;
const MOBILE = /^1[3-9][0-9]{9}$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;
const STRIPE_ACCOUNT = /^acct_[A-Za-z0-9]{8,64}$/;
const SANDBOX_ID = /^[A-Za-z0-9_-]{1,64}$/;

const bad = (problem: PayoutAccountProblem): PayoutAccountCheck => ({ ok: false, code: "malformed_request", problem });

function nameOk(name: string): boolean {
  const chars = [...name.trim()];
  return chars.length > 0 && chars.length <= LIMITS.payeeNameMaxLength && !/[\p{Cc}]/u.test(name);
}

export function validatePayoutAccount(a: PayoutAccount): PayoutAccountCheck {
  switch (a.channel) {
    case "wechat":
      return OPENID.test(a.openid) ? { ok: true, value: a } : bad("openid_invalid");
    case "alipay": {
      if (a.identity === "user_id" && !ALIPAY_USER_ID.test(a.id)) return bad("alipay_user_id_invalid");
      if (
        a.identity === "logon_id" &&
        !(a.id.length <= LIMITS.payoutAccountIdMaxLength && (MOBILE.test(a.id) || EMAIL.test(a.id)))
      ) {
        return bad("alipay_logon_id_invalid");
      }
      if (a.name === null) return a.identity === "logon_id" ? bad("payee_name_required") : { ok: true, value: a };
      return nameOk(a.name) ? { ok: true, value: { ...a, name: a.name.trim() } } : bad("payee_name_invalid");
    }
    case "stripe":
      return STRIPE_ACCOUNT.test(a.accountId) ? { ok: true, value: a } : bad("stripe_account_invalid");
    case "sandbox":
      return SANDBOX_ID.test(a.id) ? { ok: true, value: a } : bad("sandbox_id_invalid");
  }
}

/**
 * Masks an opaque identifier: at most half of it shows. Shorter than 8: all hidden; 8–15: the
 * last 4; 16 or more: the first 4 and the last 4.
 */
export function maskId(id: string): string {
  if (id.length < 8) return "****";
  if (id.length < 16) return `****${id.slice(-4)}`;
  return `${id.slice(0, 4)}****${id.slice(-4)}`;
}

/** 13812345678 → 138****5678; alice@example.com → a***@example.com (the domain shows). */
function maskLogonId(id: string): string {
  if (MOBILE.test(id)) return `${id.slice(0, 3)}****${id.slice(-4)}`;
  const at = id.lastIndexOf("@");
  if (at > 0) return `${id.slice(0, 1)}***${id.slice(at)}`;
  return maskId(id);
}

/** 张三丰 → **丰, 张三 → *三, 王 → *, Alice Smith → *h: only the last character shows (per code point). */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length <= 1) return "*";
  return `${"*".repeat(Math.min(chars.length - 1, 3))}${chars[chars.length - 1]}`;
}

export interface MaskedPayoutAccount {
  readonly channel: PayoutAccount["channel"];
  readonly display: string;
  readonly name: string | null;
}

export function maskPayoutAccount(a: PayoutAccount): MaskedPayoutAccount {
  switch (a.channel) {
    case "wechat":
      return { channel: a.channel, display: maskId(a.openid), name: null };
    case "alipay":
      return {
        channel: a.channel,
        display: a.identity === "logon_id" ? maskLogonId(a.id) : maskId(a.id),
        name: a.name === null ? null : maskName(a.name),
      };
    case "stripe":
      return { channel: a.channel, display: `acct_${maskId(a.accountId.slice("acct_".length))}`, name: null };
    case "sandbox":
      return { channel: a.channel, display: maskId(a.id), name: null };
  }
}
