/**
 * The providers' APIs as the Worker under test sees them: Miniflare's `outboundService`
 * sends every outbound `fetch` of the workerd tests here (in Node), and this routes it by
 * host to the WeChat Pay, Alipay and Stripe doubles (test/support/provider-apis.ts), built
 * with the same test-only keys the workers project's PAYMENT_CHANNELS trusts. Tests steer
 * the doubles through `https://doubles.test/{provider}/{action}` — a pay, an outage — and
 * anything else is refused loudly, so no test can reach the internet by accident. Cloudflare
 * Access's certs for the tests' team are served here too (`accessCerts`).
 *
 * Controls (POST a JSON body; `match` scopes a control to calls whose URL or body contains
 * it, because every test file of a run shares these doubles):
 *   fail {count, status?, match?}     the next calls answer 503 (or `status`) in front of the provider
 *   hang {count, match?}              the next calls never answer (the client's deadline ends them)
 *   reset {match?}                    forget injected failures and hangs (and refund refusals)
 *   pay {orderNo, atMs?}              the payer paid (at atMs: Stripe, Alipay); answers { transactionId } where the provider has one
 *   refund-refuse {count, code?, status?, match?}   WeChat: the next refunds are refused with a business code
 *   received {match?}                 the requests received, with their bodies
 *   transfers {match?}                payouts: the transfers the provider holds
 *   transfer-answer {state, match}    payouts (WeChat, Alipay): the next new transfer for a matching number answers `state`
 *   hooks/received?match=             alert webhooks that https://hooks.test/… received (hook-receiver.ts)
 *   hooks/fail {count, match}         the next alert webhooks whose URL or body contains `match` answer 503
 *   host-login/{name}                 a host's login key set at https://login.host.test/{name}/jwks.json:
 *                                     PUT {keys, status?} sets it, GET counts its fetches (host-login.ts)
 *   transfer-finish {withdrawalId, state?|type?, reason?}  payouts: the transfer ends; answers the signed callback
 *                                     {url, headers, body} the provider sends (Stripe: the `type` event; transfer.reversed reverses)
 *   fund-flow-bill {numbers, atMs}    payouts (WeChat, Alipay): the fund-flow bill text listing those transfers
 *   extra-charge {orderNo, atMs, amountMinor, currency?}  Stripe, Alipay: the day's statement lists a charge
 *                                     no order of the double explains; answers { transactionId }
 *   report-ready {untilMs}            Stripe: balance data is available up to untilMs (data_available_end)
 *   report-pending {polls, match?}    Stripe: the next report run created (form containing `match`) stays pending for `polls` retrievals
 *   bill-ready {date}                 Alipay: that day's bill is generated (by default only days before today, Beijing)
 *   bill-not-ready {date}             Alipay: that day's bill is not generated yet, until bill-ready
 *   bill-spoil {date, how}            Alipay: the next bill zip of that day has a wrong CRC-32 (`crc`) or is cut short (`truncated`)
 */
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { base64Bytes } from "../../src/channels/encoding";
import { HOOKS_HOST, HookReceiver } from "./hook-receiver";
import { HOST_LOGIN_HOST, HostLogin } from "./host-login";
import { AlipayPayoutDouble, StripePayoutDouble, WechatPayoutDouble } from "./payout-apis";
import { AlipayDouble, BILL_HOST, StripeDouble, WechatPayDouble } from "./provider-apis";

/** Each provider's payment double, grown by its payout API (test/support/payout-apis.ts). */
interface Doubles {
  readonly wechatpay: WechatPayoutDouble;
  readonly alipay: AlipayPayoutDouble;
  readonly stripe: StripePayoutDouble;
}

/** Where the providers deliver payout callbacks: our routes (the tests post them there). */
const PAYOUT_CALLBACKS = "https://giftwire.test/v1/payouts/callbacks";
export const TEST_WECHAT_APIV3_KEY = "test-apiv3-key-0123456789abcdefg";
export const TEST_STRIPE_PAYOUT_WEBHOOK_SECRET = "whsec_test_payouts_0123456789abcdef";

export const DOUBLES_ORIGIN = "https://doubles.test";

const pem = (b64: string) =>
  `-----BEGIN PUBLIC KEY-----\n${b64.replace(/(.{64})/g, "$1\n")}\n-----END PUBLIC KEY-----\n`;

async function privateKey(b64: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "pkcs8",
    base64Bytes(b64) as Uint8Array<ArrayBuffer>,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

async function build(): Promise<Doubles> {
  const keys = JSON.parse(readFileSync("test/fixtures/provider-keys.json", "utf8")) as Record<
    string,
    { publicSpkiBase64: string; privatePkcs8Base64: string }
  >;
  const wechat = keys.wechatPlatform;
  const ali = keys.alipay;
  if (!wechat || !ali) throw new Error("test/fixtures/provider-keys.json lacks a key pair");
  const now = () => Date.now();
  return {
    // The fixture pair stands in for both the merchant's key and WeChat's platform key.
    wechatpay: await WechatPayoutDouble.createPayout({
      mchId: "1900000109",
      appId: "wx-test-app",
      merchantSerial: "TEST_MERCHANT_SERIAL_0001",
      merchantPublicPem: pem(wechat.publicSpkiBase64),
      platformKey: await privateKey(wechat.privatePkcs8Base64),
      platformSerial: "PUB_KEY_ID_0114000000",
      now,
      platformDecryptKey: await crypto.subtle.importKey(
        "pkcs8",
        base64Bytes(wechat.privatePkcs8Base64) as Uint8Array<ArrayBuffer>,
        { name: "RSA-OAEP", hash: "SHA-1" },
        false,
        ["decrypt"],
      ),
      notifyApiV3Key: TEST_WECHAT_APIV3_KEY,
    }),
    alipay: await AlipayPayoutDouble.createPayout({
      appId: "2021000000000001",
      sellerId: "2088000000000001",
      appPublicPem: pem(ali.publicSpkiBase64),
      alipayKey: await privateKey(ali.privatePkcs8Base64),
      now,
      appGatewayUrl: `${PAYOUT_CALLBACKS}/alipay`,
    }),
    stripe: new StripePayoutDouble({
      secretKey: "sk_test_0123456789abcdef",
      now,
      payoutWebhookSecret: TEST_STRIPE_PAYOUT_WEBHOOK_SECRET,
      webhookUrl: `${PAYOUT_CALLBACKS}/stripe`,
    }),
  };
}

let doubles: Promise<Doubles> | null = null;
/** Alert webhooks' receiver (hook-receiver.ts): https://hooks.test/…, read at https://doubles.test/hooks/…. */
const hooks = new HookReceiver();
/** A host's login key sets (host-login.ts): https://login.host.test/…, steered at https://doubles.test/host-login/…. */
const hostLogin = new HostLogin();

const HOSTS: Record<string, keyof Doubles> = {
  "api.mch.weixin.qq.com": "wechatpay",
  "openapi.alipay.com": "alipay",
  "api.stripe.com": "stripe",
  // Where Stripe's report files and Alipay's bill zips are downloaded from.
  "files.stripe.com": "stripe",
  [BILL_HOST]: "alipay",
};

export async function providerNetwork(request: Request): Promise<Response> {
  try {
    return await route(request);
  } catch (error) {
    // A hang that outlived its caller ends here, quietly.
    if (error instanceof DOMException && error.name === "TimeoutError") return new Response(null, { status: 504 });
    // Miniflare turns a throw into a bare 500; say what broke.
    console.error("provider network:", error);
    return new Response(`provider network: ${String(error)}`, { status: 598 });
  }
}

async function route(incoming: Request): Promise<Response> {
  doubles ??= build();
  // Miniflare hands over its own undici Request; rebuild it as this realm's.
  const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD";
  const request = new Request(incoming.url, {
    method: incoming.method,
    headers: Object.fromEntries(incoming.headers),
    ...(hasBody ? { body: await incoming.arrayBuffer() } : {}),
  });
  const d = await doubles;
  const url = new URL(request.url);
  if (url.hostname === HOOKS_HOST) return hooks.fetch(request);
  if (url.origin === DOUBLES_ORIGIN && url.pathname.startsWith("/hooks/")) return hooksControl(url, request);
  if (url.hostname === HOST_LOGIN_HOST) return hostLogin.fetch(request);
  if (url.origin === DOUBLES_ORIGIN && url.pathname.startsWith("/host-login/")) return hostLogin.control(url, request);
  if (url.origin === DOUBLES_ORIGIN) return control(d, url, request);
  if (url.origin === TEST_ACCESS_TEAM_DOMAIN && url.pathname === "/cdn-cgi/access/certs") return accessCerts();
  const name = HOSTS[url.hostname];
  if (!name) return new Response(`no test double for ${url.origin}`, { status: 599 });
  // Hangs end when the worker gives up (its abort closes the connection) or, at the latest,
  // after a while here: a double must never keep the test run waiting.
  const signal = AbortSignal.any([incoming.signal, AbortSignal.timeout(HANG_MAX_MS)]);
  return d[name].fetch(request, { signal });
}

const HANG_MAX_MS = 15_000;

/** hooks/received?match= (what the receiver got), hooks/fail {count, match} (the next requests answer 503). */
async function hooksControl(url: URL, request: Request): Promise<Response> {
  const action = url.pathname.split("/")[2];
  if (action === "received") return Response.json(hooks.matching(url.searchParams.get("match")));
  if (action === "fail") {
    const args = (await request.json()) as { count?: number; match?: string };
    hooks.failNext(args.count ?? 1, args.match ?? "");
    return Response.json({ ok: true });
  }
  return new Response("unknown action", { status: 404 });
}

/**
 * Cloudflare Access's certs for the tests' team: the fixture's `accessTeam` public key as a JWK
 * set, shaped as Access publishes it (`keys`, plus the PEM forms the Worker ignores). Tests sign
 * assertions with the fixture's private key under kid {@link TEST_ACCESS_KID}.
 */
export const TEST_ACCESS_TEAM_DOMAIN = "https://giftwire-test.cloudflareaccess.com";
export const TEST_ACCESS_KID = "giftwire-test-access-1";

function accessCerts(): Response {
  const keys = JSON.parse(readFileSync("test/fixtures/provider-keys.json", "utf8")) as {
    accessTeam: { publicSpkiBase64: string };
  };
  const key = createPublicKey({
    key: Buffer.from(keys.accessTeam.publicSpkiBase64, "base64"),
    format: "der",
    type: "spki",
  });
  const jwk = { ...key.export({ format: "jwk" }), kid: TEST_ACCESS_KID, alg: "RS256", use: "sig" };
  const cert = pem(keys.accessTeam.publicSpkiBase64);
  return Response.json({
    keys: [jwk],
    public_cert: { kid: TEST_ACCESS_KID, cert },
    public_certs: [{ kid: TEST_ACCESS_KID, cert }],
  });
}

async function control(d: Doubles, url: URL, request: Request): Promise<Response> {
  const [, provider, action] = url.pathname.split("/") as [string, keyof Doubles, string];
  const double = d[provider];
  if (!double) return new Response("unknown provider", { status: 404 });
  const args = (request.method === "POST" ? await request.json() : {}) as {
    count?: number;
    status?: number;
    orderNo?: string;
    match?: string;
    code?: string;
    /** Payouts: the withdrawal id (out_bill_no, out_biz_no, metadata[withdrawal_id]). */
    withdrawalId?: string;
    state?: string;
    reason?: string;
    type?: string;
    /** fund-flow-bill: the transfers' numbers, and the rows' time. */
    numbers?: string[];
    atMs?: number;
    amountMinor?: number;
    currency?: string;
    untilMs?: number;
    polls?: number;
    date?: string;
    how?: "crc" | "truncated";
  };
  const match = args.match ?? null;
  switch (action) {
    case "fail":
      double.failNext(args.count ?? 1, args.status ?? 503, match);
      break;
    case "hang":
      double.hangNext(args.count ?? 1, match);
      break;
    case "reset":
      double.reset(match);
      if (double instanceof WechatPayDouble) double.resetRefundRefusals(match);
      break;
    case "pay": {
      const orderNo = args.orderNo ?? "";
      if (double instanceof StripeDouble) {
        const intent = double.intentFor(orderNo);
        double.pay(intent.id);
        if (args.atMs !== undefined) intent.paidAtMs = args.atMs;
        return Response.json({ ok: true, transactionId: intent.id });
      }
      double.pay(orderNo);
      if (double instanceof AlipayDouble && args.atMs !== undefined) {
        (double.orders.get(orderNo) as { paidAtMs?: number }).paidAtMs = args.atMs;
      }
      const transactionId = double instanceof WechatPayDouble ? double.transactionIdOf(orderNo) : null;
      return Response.json({ ok: true, transactionId });
    }
    case "refund-refuse":
      if (!(double instanceof WechatPayDouble)) return new Response("refund-refuse is WeChat's", { status: 404 });
      double.refuseRefundsNext(args.count ?? 1, args.code, args.status, match);
      break;
    case "transfer-answer":
      // The next new transfer for numbers containing `match` answers `state` (WeChat / Alipay).
      if (double instanceof WechatPayoutDouble) double.answerNext(args.state as never, match ?? "");
      else if (double instanceof AlipayPayoutDouble) double.answerNext(args.state as never, match ?? "");
      else return new Response("transfer-answer is WeChat's and Alipay's", { status: 404 });
      break;
    case "transfer-finish": {
      // The transfer reaches a final state; answers the callback the provider sends.
      const id = args.withdrawalId ?? "";
      if (double instanceof WechatPayoutDouble)
        return Response.json(await double.finish(id, args.state as never, args.reason));
      if (double instanceof AlipayPayoutDouble)
        return Response.json(await double.finish(id, args.state as never, args.reason));
      if (args.type === "transfer.reversed") double.reverse(id);
      return Response.json(await double.event(id, args.type ?? "transfer.created", args.reason));
    }
    case "transfers": {
      // Payouts: what the provider holds for numbers containing `match` (WeChat's decrypted user_name included).
      const held =
        double instanceof WechatPayoutDouble
          ? [...double.bills.values()].map((b) => ({ ...b, fingerprint: undefined }))
          : double instanceof AlipayPayoutDouble
            ? [...double.transfers.values()].map((t) => ({ ...t, fingerprint: undefined }))
            : [...double.transfers.values()];
      return Response.json(held.filter((t) => match === null || JSON.stringify(t).includes(match)));
    }
    case "fund-flow-bill": {
      // Payouts: the provider's fund-flow bill for the named transfers (WeChat 资金账单, Alipay 账务明细).
      const numbers = args.numbers ?? [];
      const atMs = args.atMs ?? Date.now();
      if (double instanceof WechatPayoutDouble) return new Response(double.fundFlowBill(numbers, atMs));
      if (double instanceof AlipayPayoutDouble) return new Response(double.accountDetailBill(numbers, atMs));
      return new Response("fund-flow-bill is WeChat's and Alipay's", { status: 404 });
    }
    case "extra-charge": {
      const atMs = args.atMs ?? Date.now();
      const orderNo = args.orderNo ?? "";
      const amountMinor = args.amountMinor ?? 100;
      if (double instanceof StripeDouble) {
        const intentId = `pi_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
        double.extraCharges.push({ atMs, orderNo, amountMinor, currency: args.currency ?? "cny", intentId });
        return Response.json({ ok: true, transactionId: intentId });
      }
      if (double instanceof AlipayDouble) {
        double.extraTrades.push({ atMs, orderNo, totalMinor: amountMinor });
        return Response.json({ ok: true, transactionId: null });
      }
      return new Response("extra-charge is Stripe's and Alipay's", { status: 404 });
    }
    case "report-ready":
      if (!(double instanceof StripeDouble)) return new Response("report-ready is Stripe's", { status: 404 });
      double.dataAvailableUntil(args.untilMs ?? Date.now());
      break;
    case "report-pending":
      if (!(double instanceof StripeDouble)) return new Response("report-pending is Stripe's", { status: 404 });
      double.reportPendingPolls.push({ polls: args.polls ?? 1, match });
      break;
    case "bill-ready":
      if (!(double instanceof AlipayDouble)) return new Response("bill-ready is Alipay's", { status: 404 });
      double.notReadyBillDates.delete(args.date ?? "");
      double.readyBillDates.add(args.date ?? "");
      break;
    case "bill-not-ready":
      if (!(double instanceof AlipayDouble)) return new Response("bill-not-ready is Alipay's", { status: 404 });
      double.notReadyBillDates.add(args.date ?? "");
      break;
    case "bill-spoil":
      if (!(double instanceof AlipayDouble)) return new Response("bill-spoil is Alipay's", { status: 404 });
      double.spoilBills.set(args.date ?? "", args.how ?? "crc");
      break;
    case "received": {
      const received = match === null ? double.received : double.receivedMatching(match);
      return Response.json(
        received.map((r) => ({
          method: r.method,
          url: r.url.href,
          headers: Object.fromEntries(r.headers),
          body: r.body,
        })),
      );
    }
    default:
      return new Response("unknown action", { status: 404 });
  }
  return Response.json({ ok: true });
}
