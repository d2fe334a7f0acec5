/**
 * The providers' payout APIs, for tests: each payment double of provider-apis.ts grown by
 * its provider's transfer API, checking our requests as the provider does and keeping one
 * transfer per idempotency number (the withdrawal id): the same number again answers the
 * same transfer, never a second one.
 *
 * - WeChat Pay 商家转账: `POST /v3/fund-app/mch-transfer/transfer-bills` (the Authorization
 *   signature as for payments; scene 1005 with exactly its two report infos 岗位类型 and
 *   报酬说明; at ≥ 2,000 元 `user_name` required, RSA-OAEP decrypted with the platform private
 *   key named by `Wechatpay-Serial`), query and cancel by out_bill_no; answers WAIT_USER_CONFIRM
 *   with a package_info (or what a test asked for); `finish` settles a bill and returns the
 *   MCHTRANSFER.BILL.FINISHED callback, sealed with the APIv3 key and signed with the platform key.
 * - Alipay `alipay.fund.trans.uni.transfer` (TRANS_ACCOUNT_NO_PWD, DIRECT_TRANSFER, yuan
 *   amounts with two decimals, a logon id needs the name) and `alipay.fund.trans.common.query`;
 *   `finish` returns the RSA2-signed `alipay.fund.trans.order.changed` message.
 * - Stripe `POST /v1/transfers` (Idempotency-Key required and equal to metadata[withdrawal_id],
 *   a test-only strictness: our rule is that the key is the withdrawal id), list by
 *   transfer_group; `event` returns a signed transfer.* event, `reverse` reverses a transfer.
 */
import { strictUtf8 } from "../../src/channels/encoding";
import {
  AlipayDouble,
  type AlipayDoubleOptions,
  jsonOf,
  metadataOf,
  positiveInteger,
  publicKeyOf,
  type Received,
  randomDigits,
  randomToken,
  StripeDouble,
  type StripeDoubleOptions,
  stripeError,
  WechatPayDouble,
  type WechatPayDoubleOptions,
} from "./provider-apis";
import { alipayBody, stripeSignature, wechatBody, wechatHeaders } from "./providers";

/** A callback as the provider would deliver it: the test posts it to our route. */
export interface DeliveredCallback {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Answer states a test asks for, per number (the doubles are shared by every test file). */
class Steering<T> {
  private steps: { readonly value: T; readonly match: string }[] = [];
  push(value: T, match: string): void {
    this.steps.push({ value, match });
  }
  take(id: string): T | null {
    const at = this.steps.findIndex((s) => id.includes(s.match));
    if (at < 0) return null;
    const [step] = this.steps.splice(at, 1);
    return step?.value ?? null;
  }
}

const wechatTime = (ms: number) => `${new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;

// ── WeChat Pay 商家转账 ───────────────────────────────────────────────────────────────────

export type WechatBillState =
  | "ACCEPTED"
  | "PROCESSING"
  | "WAIT_USER_CONFIRM"
  | "TRANSFERING"
  | "SUCCESS"
  | "FAIL"
  | "CANCELING"
  | "CANCELLED";

export interface WechatBill {
  /** The request as WeChat compares a repeat: the body with `user_name` decrypted. */
  readonly fingerprint: string;
  readonly outBillNo: string;
  readonly transferBillNo: string;
  readonly openid: string;
  readonly amountMinor: number;
  readonly remark: string;
  readonly notifyUrl: string | null;
  /** The payee's real name as decrypted from `user_name`; null when none was sent. */
  readonly userName: string | null;
  readonly createdMs: number;
  state: WechatBillState;
  failReason: string | null;
  updatedMs: number;
}

export interface WechatPayoutDoubleOptions extends WechatPayDoubleOptions {
  /** The platform private key as an RSA-OAEP (SHA-1) key: `user_name` is encrypted to its public half. */
  readonly platformDecryptKey: CryptoKey;
  /** The merchant's APIv3 key, which callbacks' resources are sealed with. */
  readonly notifyApiV3Key: string;
}

const TRANSFER_BILLS = "/v3/fund-app/mch-transfer/transfer-bills";
const REPORT_INFOS_1005 = ["岗位类型", "报酬说明"];

export class WechatPayoutDouble extends WechatPayDouble {
  readonly bills = new Map<string, WechatBill>();
  private readonly answers = new Steering<WechatBillState>();
  private readonly payout: WechatPayoutDoubleOptions;

  private constructor(options: WechatPayoutDoubleOptions, merchantKey: CryptoKey) {
    super(options, merchantKey);
    this.payout = options;
  }

  static async createPayout(options: WechatPayoutDoubleOptions): Promise<WechatPayoutDouble> {
    return new WechatPayoutDouble(options, await publicKeyOf(options.merchantPublicPem));
  }

  /** The next new bill whose out_bill_no contains `match` is answered with `state` (default WAIT_USER_CONFIRM). */
  answerNext(state: WechatBillState, match: string): void {
    this.answers.push(state, match);
  }

  /** The bill reaches a final state; answers the MCHTRANSFER.BILL.FINISHED callback WeChat sends. */
  async finish(outBillNo: string, state: "SUCCESS" | "FAIL" | "CANCELLED", failReason?: string) {
    const bill = this.bills.get(outBillNo);
    if (!bill) throw new Error(`no transfer bill ${outBillNo}`);
    bill.state = state;
    bill.failReason = state === "FAIL" ? (failReason ?? "OTHER_FAIL_REASON_TYPE") : null;
    bill.updatedMs = this.payout.now();
    const resource = {
      mch_id: this.payout.mchId,
      out_bill_no: bill.outBillNo,
      transfer_bill_no: bill.transferBillNo,
      transfer_amount: bill.amountMinor,
      state: bill.state,
      ...(bill.failReason ? { fail_reason: bill.failReason } : {}),
      openid: bill.openid,
      create_time: wechatTime(bill.createdMs),
      update_time: wechatTime(bill.updatedMs),
    };
    const nowMs = this.payout.now();
    const body = await wechatBody(resource, {
      apiV3Key: this.payout.notifyApiV3Key,
      platformKey: this.payout.platformKey,
      serial: this.payout.platformSerial,
      nowMs,
      eventType: "MCHTRANSFER.BILL.FINISHED",
      originalType: "mch_payment",
      associatedData: "mch_payment",
      nonce: randomToken(12),
    });
    const headers = await wechatHeaders(body, {
      platformKey: this.payout.platformKey,
      serial: this.payout.platformSerial,
      nowMs,
    });
    return { url: bill.notifyUrl ?? "", headers, body } satisfies DeliveredCallback;
  }

  /**
   * The 资金账单 (fund-flow bill) WeChat would serve for the bills of `outBillNos` (the doubles
   * are shared, so a test names its own), in the documented layout: backtick-prefixed fields,
   * the summary header and row. A SUCCESS bill is one 支出 row whose 业务凭证号 is its
   * out_bill_no; bills not yet paid are absent (their money has not left). `atMs` is the
   * 记账时间 (Beijing wall clock) of every row.
   */
  fundFlowBill(outBillNos: readonly string[], atMs: number): string {
    const at = new Date(atMs + 8 * 3_600_000).toISOString().slice(0, 19).replace("T", " ");
    const yuan = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
    const paid = outBillNos.map((no) => this.bills.get(no)).filter((b): b is WechatBill => b?.state === "SUCCESS");
    let balance = 100_000_000;
    const rows = paid.map((b, i) => {
      balance -= b.amountMinor;
      return [
        at,
        b.transferBillNo,
        `1900000001${randomDigits(18)}${i}`,
        "商家转账",
        "商家转账",
        "支出",
        yuan(b.amountMinor),
        yuan(balance),
        "API",
        b.remark,
        b.outBillNo,
      ];
    });
    const total = paid.reduce((sum, b) => sum + b.amountMinor, 0);
    const tick = (fields: readonly string[]) => fields.map((f) => `\`${f}`).join(",");
    return [
      "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号",
      ...rows.map(tick),
      "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额",
      tick([`${rows.length}.0`, "0.0", "0.00", `${rows.length}.0`, yuan(total)]),
      "",
    ].join("\r\n");
  }

  protected override async route(request: Received): Promise<Response> {
    const path = request.url.pathname;
    if (request.method === "POST" && path === TRANSFER_BILLS) return this.transfer(request);
    const byNo = /^\/v3\/fund-app\/mch-transfer\/transfer-bills\/out-bill-no\/([^/]+)(\/cancel)?$/.exec(path);
    if (byNo) {
      const bill = this.bills.get(decodeURIComponent(byNo[1] as string));
      if (request.method === "GET" && !byNo[2]) {
        if (!bill) return this.answer(404, { code: "NOT_FOUND", message: "记录不存在" });
        return this.answer(200, this.billBody(bill));
      }
      if (request.method === "POST" && byNo[2]) return this.cancel(bill);
    }
    return super.route(request);
  }

  private async transfer(request: Received): Promise<Response> {
    const paramError = (message: string) => this.answer(400, { code: "PARAM_ERROR", message });
    const body = jsonOf(request.body);
    if (!body) return paramError("请求体不是 JSON");
    const { appid, out_bill_no: outBillNo, openid, transfer_amount: amount, transfer_remark: remark } = body;
    if (appid !== this.payout.appId)
      return this.answer(400, { code: "APPID_MCHID_NOT_MATCH", message: "appid 与商户号不匹配" });
    if (typeof outBillNo !== "string" || !/^[0-9A-Za-z]{1,32}$/.test(outBillNo))
      return paramError("out_bill_no 只能由数字、大小写字母组成，不超过32位");
    if (typeof openid !== "string" || openid.length === 0 || openid.length > 64) return paramError("openid 不合法");
    if (typeof amount !== "number" || !Number.isSafeInteger(amount) || amount < 10)
      return paramError("转账金额不能低于0.1元");
    if (typeof remark !== "string" || remark.length === 0 || [...remark].length > 32)
      return paramError("transfer_remark 必填，且不超过32个字符");
    if (body.transfer_scene_id !== "1005")
      return this.answer(403, { code: "NO_AUTH", message: "商户未开通该转账场景" });
    const infos = body.transfer_scene_report_infos;
    const types = Array.isArray(infos)
      ? infos.map((i) => (typeof i === "object" && i !== null ? (i as Record<string, unknown>) : {}))
      : [];
    if (
      types.length !== REPORT_INFOS_1005.length ||
      !REPORT_INFOS_1005.every((t) =>
        types.some((i) => i.info_type === t && typeof i.info_content === "string" && i.info_content.length > 0),
      )
    )
      return paramError("需传入转账场景报备信息");
    const notifyUrl = body.notify_url;
    if (
      notifyUrl !== undefined &&
      (typeof notifyUrl !== "string" || !notifyUrl.startsWith("https://") || notifyUrl.includes("?"))
    )
      return paramError("notify_url 必须为 https 地址且不能携带参数");
    let userName: string | null = null;
    if (body.user_name !== undefined) {
      if (request.headers.get("wechatpay-serial") !== this.payout.platformSerial)
        return paramError("Wechatpay-Serial 与加密使用的微信支付公钥不一致");
      userName = await this.decrypt(body.user_name);
      if (userName === null) return paramError("user_name 解密失败");
    } else if (amount >= 200_000) {
      return paramError("转账金额>=2000元时，user_name 必填");
    }
    // WeChat compares a repeat on what was meant, so the (randomized) ciphertext is not compared.
    const fingerprint = JSON.stringify({ ...body, user_name: userName });
    const existing = this.bills.get(outBillNo);
    if (existing) {
      if (existing.fingerprint !== fingerprint)
        return this.answer(400, { code: "INVALID_REQUEST", message: "单号已存在但信息不一致,请查单后比较确认" });
      return this.answer(200, this.acceptBody(existing));
    }
    const nowMs = this.payout.now();
    const bill: WechatBill = {
      fingerprint,
      outBillNo,
      transferBillNo: `1330000${randomDigits(25)}`,
      openid,
      amountMinor: amount,
      remark,
      notifyUrl: typeof notifyUrl === "string" ? notifyUrl : null,
      userName,
      createdMs: nowMs,
      state: this.answers.take(outBillNo) ?? "WAIT_USER_CONFIRM",
      failReason: null,
      updatedMs: nowMs,
    };
    this.bills.set(outBillNo, bill);
    return this.answer(200, this.acceptBody(bill));
  }

  private async cancel(bill: WechatBill | undefined): Promise<Response> {
    if (!bill) return this.answer(404, { code: "NOT_FOUND", message: "记录不存在" });
    if (!["ACCEPTED", "WAIT_USER_CONFIRM", "CANCELING"].includes(bill.state))
      return this.answer(400, { code: "INVALID_REQUEST", message: `单据状态 ${bill.state} 不允许撤销` });
    bill.state = "CANCELING";
    bill.updatedMs = this.payout.now();
    return this.answer(200, {
      out_bill_no: bill.outBillNo,
      transfer_bill_no: bill.transferBillNo,
      state: bill.state,
      update_time: wechatTime(bill.updatedMs),
    });
  }

  private async decrypt(value: unknown): Promise<string | null> {
    if (typeof value !== "string") return null;
    try {
      const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
      const plain = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, this.payout.platformDecryptKey, bytes);
      return strictUtf8(plain);
    } catch {
      return null;
    }
  }

  private acceptBody(bill: WechatBill): Record<string, unknown> {
    return {
      out_bill_no: bill.outBillNo,
      transfer_bill_no: bill.transferBillNo,
      create_time: wechatTime(bill.createdMs),
      state: bill.state,
      ...(bill.state === "WAIT_USER_CONFIRM" ? { package_info: `affffddafdfafddffda==${bill.transferBillNo}` } : {}),
      ...(bill.failReason ? { fail_reason: bill.failReason } : {}),
    };
  }

  private billBody(bill: WechatBill): Record<string, unknown> {
    return {
      mch_id: this.payout.mchId,
      out_bill_no: bill.outBillNo,
      transfer_bill_no: bill.transferBillNo,
      appid: this.payout.appId,
      state: bill.state,
      transfer_amount: bill.amountMinor,
      transfer_remark: bill.remark,
      ...(bill.failReason ? { fail_reason: bill.failReason } : {}),
      openid: bill.openid,
      create_time: wechatTime(bill.createdMs),
      update_time: wechatTime(bill.updatedMs),
    };
  }
}

// ── Alipay uni.transfer ──────────────────────────────────────────────────────────────────

export type AlipayTransferStatus = "SUCCESS" | "DEALING" | "FAIL" | "REFUND";

export interface AlipayTransfer {
  readonly fingerprint: string;
  readonly outBizNo: string;
  readonly orderId: string;
  readonly payFundOrderId: string;
  readonly transAmount: string;
  readonly payee: Record<string, string>;
  status: AlipayTransferStatus;
  errorCode: string | null;
}

export interface AlipayPayoutDoubleOptions extends AlipayDoubleOptions {
  /** The app's 应用网关, where 消息服务 messages such as order.changed are delivered. */
  readonly appGatewayUrl: string;
}

const UNI_TRANSFER = "alipay.fund.trans.uni.transfer";
const COMMON_QUERY = "alipay.fund.trans.common.query";

export class AlipayPayoutDouble extends AlipayDouble {
  readonly transfers = new Map<string, AlipayTransfer>();
  private readonly answers = new Steering<AlipayTransferStatus>();
  private readonly payout: AlipayPayoutDoubleOptions;

  private constructor(options: AlipayPayoutDoubleOptions, appKey: CryptoKey) {
    super(options, appKey);
    this.payout = options;
  }

  static async createPayout(options: AlipayPayoutDoubleOptions): Promise<AlipayPayoutDouble> {
    return new AlipayPayoutDouble(options, await publicKeyOf(options.appPublicPem));
  }

  /** The next new transfer whose out_biz_no contains `match` is answered with `status` (default SUCCESS). */
  answerNext(status: AlipayTransferStatus, match: string): void {
    this.answers.push(status, match);
  }

  /**
   * The 账务明细 (bill_type=signcustomer) Alipay would serve for the transfers of `outBizNos`,
   * decoded from GBK as the operator uploads it: `#` lines, the header, a row per movement
   * (values ending in a tab), `#` footer lines. A SUCCESS transfer is money out under its
   * out_biz_no; a REFUND one (退票) is money out and then the same amount back in.
   */
  accountDetailBill(outBizNos: readonly string[], atMs: number): string {
    const at = new Date(atMs + 8 * 3_600_000).toISOString().slice(0, 19).replace("T", " ");
    const row = (t: AlipayTransfer, income: string, expense: string) =>
      [
        `20261121200040011100${randomDigits(12)}`,
        t.orderId,
        t.outBizNo,
        "giftwire 主播收益提现",
        at,
        "cre***@example.com",
        income,
        expense,
        "",
        "支付宝",
        "转账",
        "",
        "",
        "",
        "",
        "",
      ]
        .map((f) => `${f}\t`)
        .join(",");
    const rows: string[] = [];
    for (const no of outBizNos) {
      const t = this.transfers.get(no);
      if (t?.status === "SUCCESS" || t?.status === "REFUND") rows.push(row(t, "", `-${t.transAmount}`));
      if (t?.status === "REFUND") rows.push(row(t, `+${t.transAmount}`, ""));
    }
    return [
      "#支付宝账务明细查询",
      "#账号：[20880000000000000156]",
      "#起始日期：[2026年11月21日 00:00:00]   终止日期：[2026年11月22日 00:00:00]",
      "#-----------------------------------------账务明细列表----------------------------------------",
      "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注,业务描述,业务账单来源,业务基础订单号,业务订单号",
      ...rows,
      "#-----------------------------------------账务明细列表结束------------------------------------",
      "#导出时间：[2026年11月22日 09:12:40]",
      "",
    ].join("\r\n");
  }

  /** The transfer changes state; answers the signed order.changed message Alipay sends the app gateway. */
  async finish(outBizNo: string, status: AlipayTransferStatus, errorCode?: string): Promise<DeliveredCallback> {
    const t = this.transfers.get(outBizNo);
    if (!t) throw new Error(`no Alipay transfer ${outBizNo}`);
    t.status = status;
    t.errorCode = status === "FAIL" ? (errorCode ?? "PAYEE_ACCOUNT_STATUS_ERROR") : null;
    const biz = {
      pay_fund_order_id: t.payFundOrderId,
      out_biz_no: t.outBizNo,
      order_id: t.orderId,
      product_code: "TRANS_ACCOUNT_NO_PWD",
      biz_scene: "DIRECT_TRANSFER",
      origin_interface: UNI_TRANSFER,
      status: t.status,
      action_type: "FINISH",
      trans_amount: t.transAmount,
      pay_date: "2026-11-22 10:05:00",
      ...(t.errorCode ? { error_code: t.errorCode, fail_reason: "收款账户状态异常" } : {}),
    };
    const body = await alipayBody(
      {
        msg_method: "alipay.fund.trans.order.changed",
        app_id: this.payout.appId,
        utc_timestamp: String(this.payout.now()),
        version: "1.1",
        charset: "utf-8",
        notify_id: `${randomToken(24).toLowerCase()}`,
        biz_content: JSON.stringify(biz),
      },
      { alipayKey: this.payout.alipayKey },
    );
    return { url: this.payout.appGatewayUrl, headers: { "content-type": "application/x-www-form-urlencoded" }, body };
  }

  protected override get methods(): readonly string[] {
    return [...super.methods, UNI_TRANSFER, COMMON_QUERY];
  }

  protected override dispatch(
    method: string,
    node: string,
    biz: Record<string, unknown>,
    params: ReadonlyMap<string, string>,
  ): Promise<Response> {
    if (method === UNI_TRANSFER) return this.transfer(node, biz);
    if (method === COMMON_QUERY) return this.queryTransfer(node, biz);
    return super.dispatch(method, node, biz, params);
  }

  private transfer(node: string, biz: Record<string, unknown>): Promise<Response> {
    const invalid = (msg: string) => this.businessFailed(node, "INVALID_PARAMETER", msg);
    const { out_biz_no: outBizNo, trans_amount: amount, payee_info: payee } = biz;
    if (typeof outBizNo !== "string" || outBizNo.length === 0 || outBizNo.length > 64)
      return invalid("out_biz_no 不合法");
    if (biz.product_code !== "TRANS_ACCOUNT_NO_PWD" || biz.biz_scene !== "DIRECT_TRANSFER")
      return invalid("product_code 或 biz_scene 不合法");
    // Yuan with exactly two decimals, at least 0.10 (TRANS_ACCOUNT_NO_PWD's minimum).
    if (
      typeof amount !== "string" ||
      !/^(0|[1-9][0-9]{0,8})\.[0-9]{2}$/.test(amount) ||
      Number(amount.replace(".", "")) < 10
    )
      return invalid("trans_amount 格式错误或低于0.1元");
    const info = typeof payee === "object" && payee !== null ? (payee as Record<string, unknown>) : null;
    const identityType = info?.identity_type;
    if (!info || typeof info.identity !== "string" || info.identity.length === 0)
      return invalid("payee_info.identity 必填");
    if (identityType !== "ALIPAY_USER_ID" && identityType !== "ALIPAY_LOGON_ID" && identityType !== "ALIPAY_OPEN_ID")
      return invalid("payee_info.identity_type 不合法");
    if (identityType === "ALIPAY_USER_ID" && !/^2088[0-9]{12}$/.test(info.identity))
      return this.businessFailed(node, "PAYEE_NOT_EXIST", "收款账号不存在");
    if (identityType === "ALIPAY_LOGON_ID" && (typeof info.name !== "string" || info.name.length === 0))
      return invalid("identity_type 为 ALIPAY_LOGON_ID 时 name 必填");
    const fingerprint = JSON.stringify(biz);
    const existing = this.transfers.get(outBizNo);
    if (existing) {
      if (existing.fingerprint !== fingerprint)
        return this.businessFailed(node, "PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是参数不一致");
      return this.answer(node, this.transferBody(existing));
    }
    const t: AlipayTransfer = {
      fingerprint,
      outBizNo,
      orderId: `20261122110070000006${randomDigits(12)}`,
      payFundOrderId: `20261122110070001506${randomDigits(12)}`,
      transAmount: amount,
      payee: Object.fromEntries(Object.entries(info).map(([k, v]) => [k, String(v)])),
      status: this.answers.take(outBizNo) ?? "SUCCESS",
      errorCode: null,
    };
    this.transfers.set(outBizNo, t);
    return this.answer(node, this.transferBody(t));
  }

  private queryTransfer(node: string, biz: Record<string, unknown>): Promise<Response> {
    const outBizNo = typeof biz.out_biz_no === "string" ? biz.out_biz_no : null;
    if (outBizNo !== null && (biz.product_code !== "TRANS_ACCOUNT_NO_PWD" || biz.biz_scene !== "DIRECT_TRANSFER"))
      return this.businessFailed(node, "INVALID_PARAMETER", "按 out_biz_no 查询时 product_code、biz_scene 必填");
    const t = outBizNo === null ? undefined : this.transfers.get(outBizNo);
    if (!t) return this.businessFailed(node, "ORDER_NOT_EXIST", "转账订单不存在");
    return this.answer(node, {
      code: "10000",
      msg: "Success",
      order_id: t.orderId,
      pay_fund_order_id: t.payFundOrderId,
      out_biz_no: t.outBizNo,
      trans_amount: t.transAmount,
      status: t.status,
      pay_date: "2026-11-22 10:05:00",
      arrival_time_end: "2026-11-22 10:05:00",
      order_fee: "0.00",
      ...(t.errorCode ? { error_code: t.errorCode, fail_reason: "收款账户状态异常" } : {}),
    });
  }

  private transferBody(t: AlipayTransfer): Record<string, unknown> {
    return {
      code: "10000",
      msg: "Success",
      out_biz_no: t.outBizNo,
      order_id: t.orderId,
      pay_fund_order_id: t.payFundOrderId,
      status: t.status,
      trans_date: "2026-11-22 10:05:00",
    };
  }
}

// ── Stripe Connect transfers ─────────────────────────────────────────────────────────────

export interface StripeTransferObject {
  id: string;
  object: "transfer";
  amount: number;
  amount_reversed: number;
  balance_transaction: string;
  created: number;
  currency: string;
  description: string | null;
  destination: string;
  destination_payment: string;
  livemode: boolean;
  metadata: Record<string, string>;
  reversals: { object: "list"; data: unknown[]; has_more: false };
  reversed: boolean;
  source_transaction: null;
  transfer_group: string | null;
}

export interface StripePayoutDoubleOptions extends StripeDoubleOptions {
  /** The signing secret of the endpoint that receives transfer events. */
  readonly payoutWebhookSecret: string;
  readonly webhookUrl: string;
}

export class StripePayoutDouble extends StripeDouble {
  readonly transfers = new Map<string, StripeTransferObject>();
  private readonly payout: StripePayoutDoubleOptions;

  constructor(options: StripePayoutDoubleOptions) {
    super(options);
    this.payout = options;
  }

  transferFor(withdrawalId: string): StripeTransferObject {
    const found = [...this.transfers.values()].find((t) => t.metadata.withdrawal_id === withdrawalId);
    if (!found) throw new Error(`no transfer for ${withdrawalId}`);
    return found;
  }

  /** The platform reverses the transfer in full (the money comes back from the connected account). */
  reverse(withdrawalId: string): void {
    const t = this.transferFor(withdrawalId);
    t.reversed = true;
    t.amount_reversed = t.amount;
  }

  /**
   * The event Stripe sends the endpoint about the withdrawal's transfer, signed: `transfer.*`
   * with the transfer; Connect `payout.paid` / `payout.failed` / `payout.canceled` with the
   * connected account's bank payout of it, from that account (`account`), naming the withdrawal
   * in its metadata as the platform sets it.
   */
  async event(withdrawalId: string, type: string, failureCode?: string): Promise<DeliveredCallback> {
    const transfer = this.transferFor(withdrawalId);
    const nowMs = this.payout.now();
    const object = type.startsWith("payout.")
      ? {
          id: `po_${randomToken(24)}`,
          object: "payout",
          amount: transfer.amount,
          currency: transfer.currency,
          status: type.slice("payout.".length),
          failure_code: type === "payout.failed" ? (failureCode ?? "account_closed") : null,
          metadata: { withdrawal_id: withdrawalId },
        }
      : transfer;
    const body = JSON.stringify({
      id: `evt_${randomToken(24)}`,
      object: "event",
      api_version: "2025-10-29.clover",
      created: Math.floor(nowMs / 1000),
      type,
      livemode: transfer.livemode,
      ...(type.startsWith("payout.") ? { account: transfer.destination } : {}),
      pending_webhooks: 1,
      data: { object },
    });
    const signature = await stripeSignature(this.payout.payoutWebhookSecret, body, nowMs);
    return {
      url: this.payout.webhookUrl,
      headers: { "content-type": "application/json", "stripe-signature": signature },
      body,
    };
  }

  protected override async route(request: Received): Promise<Response> {
    const path = request.url.pathname;
    if (request.method === "POST" && path === "/v1/transfers") return this.createTransfer(request);
    if (request.method === "GET" && path === "/v1/transfers") return this.listTransfers(request.url);
    return super.route(request);
  }

  private createTransfer(request: Received): Response {
    const form = new URLSearchParams(request.body);
    const metadata = metadataOf(form);
    const key = request.headers.get("idempotency-key");
    if (key === null || key !== metadata.withdrawal_id) {
      return stripeError(400, {
        type: "invalid_request_error",
        message: `test double: Idempotency-Key ${key ?? "(none)"} is not the withdrawal id ${metadata.withdrawal_id ?? "(none)"}`,
      });
    }
    const amount = positiveInteger(form.get("amount"));
    if (amount === null) {
      return stripeError(400, {
        type: "invalid_request_error",
        code: "parameter_invalid_integer",
        param: "amount",
        message: "Invalid integer: amount",
      });
    }
    const currency = form.get("currency") ?? "";
    if (!/^[a-z]{3}$/.test(currency)) {
      return stripeError(400, { type: "invalid_request_error", param: "currency", message: "Invalid currency" });
    }
    const destination = form.get("destination") ?? "";
    if (!/^acct_[0-9A-Za-z]+$/.test(destination)) {
      return stripeError(400, {
        type: "invalid_request_error",
        code: "resource_missing",
        param: "destination",
        message: `No such destination: '${destination}'`,
      });
    }
    const transfer: StripeTransferObject = {
      id: `tr_${randomToken(24)}`,
      object: "transfer",
      amount,
      amount_reversed: 0,
      balance_transaction: `txn_${randomToken(24)}`,
      created: Math.floor(this.payout.now() / 1000),
      currency,
      description: form.get("description"),
      destination,
      destination_payment: `py_${randomToken(24)}`,
      livemode: this.payout.secretKey.includes("_live_"),
      metadata,
      reversals: { object: "list", data: [], has_more: false },
      reversed: false,
      source_transaction: null,
      transfer_group: form.get("transfer_group"),
    };
    this.transfers.set(transfer.id, transfer);
    return Response.json(transfer);
  }

  private listTransfers(url: URL): Response {
    const group = url.searchParams.get("transfer_group");
    const data = [...this.transfers.values()].filter((t) => group === null || t.transfer_group === group);
    return Response.json({ object: "list", url: "/v1/transfers", has_more: false, data: data.slice(0, 10) });
  }
}
