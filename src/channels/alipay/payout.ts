/**
 * Alipay 单笔转账到支付宝账户, per ../shared/PAYOUTS-AND-PLATFORM.md §1b:
 * `alipay.fund.trans.uni.transfer` with product_code TRANS_ACCOUNT_NO_PWD, biz_scene
 * DIRECT_TRANSFER, trans_amount a yuan string with exactly two decimals ("12.34"), payee
 * `{identity, identity_type, name?}` (ALIPAY_LOGON_ID needs the name), out_biz_no = our
 * withdrawal id; query with `alipay.fund.trans.common.query` (out_biz_no + product_code +
 * biz_scene). Signed like every gateway call (api.ts): the sorted parameters, RSA2; the answer's
 * node verified with the Alipay public key over its exact bytes.
 *
 * Retry rule: on timeout, code 20000 or sub_code SYSTEM_ERROR query, and if not found retry
 * the identical request (same out_biz_no): `unknown`. Decide on sub_code, never sub_msg; a
 * sub_code not listed as definite is `unknown` too.
 */
import { z } from "zod";
import { formatMinor, parseAmountMinor } from "../../domain/money";
import { type ClientDeps, parseJson } from "../client";
import { type PayoutClient, type PayoutOutcome, type PayoutRequest, refusalOutcome, WITHDRAWAL_ID } from "../payout";
import { alipayGateway } from "./api";

export interface AlipayPayoutConfig {
  readonly appId: string;
  readonly appPrivateKey: string;
  readonly alipayPublicKey: string;
  readonly gateway?: string;
}

export const TRANSFER_METHOD = "alipay.fund.trans.uni.transfer";
export const QUERY_METHOD = "alipay.fund.trans.common.query";
export const PRODUCT_CODE = "TRANS_ACCOUNT_NO_PWD";
export const BIZ_SCENE = "DIRECT_TRANSFER";
/** TRANS_ACCOUNT_NO_PWD range [0.1, 100000000] 元. */
export const MIN_TRANSFER_FEN = 10;
export const MAX_TRANSFER_FEN = 10_000_000_000;

/** sub_codes after which the transfer did not and will not happen under this out_biz_no. */
const DEFINITE_REFUSALS = new Set([
  "INVALID_PARAMETER",
  "MISSING_PARAMETER",
  "PAYEE_NOT_EXIST",
  "PAYEE_USER_INFO_ERROR",
  "PAYEE_ACCOUNT_STATUS_ERROR",
  "PAYER_BALANCE_NOT_ENOUGH",
  "BALANCE_IS_NOT_ENOUGH",
  "EXCEED_LIMIT_SM_AMOUNT",
  "EXCEED_LIMIT_DM_AMOUNT",
  "PERMIT_CHECK_PERM_IDENTITY_THEFT",
  "PAYEE_CERT_INFO_ERROR",
]);

const Transfer = z.object({
  out_biz_no: z.string().min(1).max(64),
  order_id: z.string().min(1).max(64).optional(),
  pay_fund_order_id: z.string().max(64).optional(),
  status: z.string().min(1).max(32),
  error_code: z.string().max(128).optional(),
  fail_reason: z.string().max(512).optional(),
});
type Transfer = z.infer<typeof Transfer>;

/** The payee of a request: a 2088… user id, or a logon id (email/phone) that must carry the name. */
export function alipayPayee(payee: string, name: string | null): Record<string, string> {
  const isUserId = /^2088[0-9]{12}$/.test(payee);
  const info: Record<string, string> = {
    identity: payee,
    identity_type: isUserId ? "ALIPAY_USER_ID" : "ALIPAY_LOGON_ID",
  };
  if (name) info.name = name;
  return info;
}

/** A transfer's status as a provider-neutral outcome (also for the notify). */
export function alipayTransferOutcome(t: {
  readonly status: string;
  readonly order_id?: string | undefined;
  readonly error_code?: string | undefined;
}): PayoutOutcome {
  const ref = t.order_id ?? null;
  switch (t.status) {
    case "SUCCESS":
      return ref ? { state: "paid", providerRef: ref } : { state: "unknown", detail: "SUCCESS without order_id" };
    case "DEALING":
      return ref ? { state: "accepted", providerRef: ref } : { state: "unknown", detail: "DEALING without order_id" };
    case "FAIL":
      return { state: "failed", providerRef: ref, reason: t.error_code ?? "FAIL" };
    case "REFUND":
      return { state: "failed", providerRef: ref, reason: "REFUND" };
    default:
      return { state: "unknown", detail: `status ${t.status.slice(0, 32)} is not documented` };
  }
}

export function alipayPayoutClient(config: AlipayPayoutConfig, deps: ClientDeps): PayoutClient {
  const gatewayCall = alipayGateway(config, deps);

  /** One signed call; the verified answer node, or the outcome that stands for it. */
  async function call(method: string, biz: Record<string, unknown>): Promise<Transfer | PayoutOutcome> {
    const answer = await gatewayCall(method, biz, null);
    // Timeouts, a gateway that is not 200, an answer that is not signed where it must be: unknown.
    if (!answer.ok) return { state: "unknown", detail: answer.failure.detail };
    const { common, raw, signed } = answer.value;
    if (common.code !== "10000") {
      const sub = common.sub_code ?? common.code;
      // Unsigned refusals say nothing definite about money.
      if (!signed) return { state: "unknown", detail: `unsigned ${sub}` };
      return refusalOutcome(sub, `${common.code} ${common.msg ?? ""}`.trim(), DEFINITE_REFUSALS);
    }
    const transfer = parseJson(raw, Transfer);
    return transfer ?? { state: "unknown", detail: `${method} answer is not the documented shape` };
  }

  function outcomeFor(withdrawalId: string, result: Transfer | PayoutOutcome): PayoutOutcome {
    if (!("out_biz_no" in result)) return result;
    if (result.out_biz_no !== withdrawalId) return { state: "unknown", detail: "the answer is about another transfer" };
    return alipayTransferOutcome(result);
  }

  return {
    name: "alipay",

    async pay(request: PayoutRequest): Promise<PayoutOutcome> {
      const refuse = (reason: string): PayoutOutcome => ({ state: "failed", providerRef: null, reason });
      if (!WITHDRAWAL_ID.test(request.withdrawalId)) return refuse("invalid_out_biz_no");
      if (request.currency !== "CNY") return refuse("unsupported_currency");
      if (
        !Number.isSafeInteger(request.amountMinor) ||
        request.amountMinor < MIN_TRANSFER_FEN ||
        request.amountMinor > MAX_TRANSFER_FEN
      )
        return refuse("amount_out_of_range");
      const payee = alipayPayee(request.payee, request.payeeName);
      if (payee.identity_type === "ALIPAY_LOGON_ID" && !payee.name) return refuse("payee_name_required");
      const result = await call(TRANSFER_METHOD, {
        out_biz_no: request.withdrawalId,
        trans_amount: formatMinor(request.amountMinor),
        product_code: PRODUCT_CODE,
        biz_scene: BIZ_SCENE,
        order_title: [...request.remark].slice(0, 32).join(""),
        payee_info: payee,
      });
      return outcomeFor(request.withdrawalId, result);
    },

    async query(withdrawalId: string): Promise<PayoutOutcome> {
      const result = await call(QUERY_METHOD, {
        out_biz_no: withdrawalId,
        product_code: PRODUCT_CODE,
        biz_scene: BIZ_SCENE,
      });
      return outcomeFor(withdrawalId, result);
    },
  };
}

/** A yuan decimal string as fen, or null (never through a float). */
export function yuanToFen(value: string | undefined): number | null {
  if (value === undefined) return null;
  const parsed = parseAmountMinor(value, Number.MAX_SAFE_INTEGER);
  return parsed.ok ? parsed.value : null;
}
