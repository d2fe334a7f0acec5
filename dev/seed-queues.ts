import { formatSandboxStatement } from "../src/channels/sandbox/statement";
import type { Ledger } from "../src/db/shards";
import { assert } from "../src/domain/limits";
import { createLogger } from "../src/platform/logger";
import type { createApp } from "../src/worker/app";
import { handleDeadLettersBatch } from "../src/worker/queues/dead-letters";
import { DEVICE_HEADER } from "../src/worker/risk";
import { signSandbox } from "./sandbox-provider/src/signature";
import { DEMO_PIN } from "./seed";
import { DEMO_ARTICLES } from "./seed-content";

/**
 * Something in each of the operator console's work queues, made the way production makes it:
 * through the API as the demo's people would —
 *   - a reconciliation finding: ops-mei reconciles a sandbox statement for a past day that
 *     lists a payment giftwire has no order for;
 *   - a withdrawal in review: creator-lin asks for 50.00 while ops-mei has her under a risk
 *     hold (lifted right after; the withdrawal keeps waiting, `risk_flagged`);
 *   - a held tip message: ops-mei puts a hold-level word on the list, a fan tips with it;
 *   - a held tip (risk review; `npm start` only): ops-kai sends tips from listed devices to
 *     review and lists one device; the fan tips from it, in the room and on the demo's first
 *     article (a content tip held the same way, issue 19);
 *   - a creator verification: a second creator, creator-yu, submits her real name;
 *   - a subsidy campaign (the configuration page's) with one subsidy issued to viewer-ana;
 *   - a proposal waiting for a second operator: ops-mei's 1,200.00 goodwill credit to viewer-ana
 *     (above the four-eyes threshold);
 *   - a payment flag: the sandbox channel reports (signed, to the callback route) a payment for
 *     an order giftwire never made, which the callbacks consumer flags `unknown_order`;
 * — and a dead letter through the dead-letter consumer itself (a creator notice, harmless to
 * replay: it lands in creator-lin's inbox once). Idempotent: fixed Idempotency-Keys, the same
 * statement for the same day, a word already listed, one dead letter per message id.
 */

type App = ReturnType<typeof createApp>;

const STATEMENT_DATE = "2026-01-05";
export const DEMO_HOLD_WORD = "私聊";
const REVIEW_WITHDRAWAL = "50.00";
const REVIEW_WITHDRAWAL_KEY = "demo-withdrawal-in-review";
const DEMO_REVIEW_RULE = "demo-review-listed-devices";
const DEMO_PROPOSAL_REASON = "Demo: goodwill credit after a failed stream";
export const DEMO_REVIEW_DEVICE = "demo-shared-device-01";
/** A GB 11643 ID number with a valid check digit (not a real person's). */
const DEMO_PENDING_ID_NUMBER = "110105199003074325";

function sandboxChannelOf(env: Env): { secret?: unknown; merchantId?: unknown } | null {
  try {
    const channels = JSON.parse(String(env.PAYMENT_CHANNELS ?? "{}")) as Record<string, unknown>;
    const sandbox = channels.sandbox;
    return sandbox !== null && typeof sandbox === "object" ? sandbox : null;
  } catch {
    return null;
  }
}
const sandboxSecretOf = (env: Env) => {
  const secret = sandboxChannelOf(env)?.secret;
  return typeof secret === "string" ? secret : null;
};
const sandboxMerchantOf = (env: Env) => {
  const merchant = sandboxChannelOf(env)?.merchantId;
  return typeof merchant === "string" ? merchant : "giftwire-sandbox";
};

export async function seedDemoQueues(
  app: App,
  ledger: Ledger,
  creatorId: string,
  env: Env,
  ctx: Parameters<App["request"]>[3],
  tokens: { operator: string; risk: string; creator: string; newCreator: string; viewer: string },
  roomId: string,
  /**
   * The held tip, with how long an isolate keeps its copy of the risk rules (the config's
   * `switchCacheTtlMs`); null leaves it out. Only the development entry (`npm start`) makes it:
   * its review rule reads the whole device list, which the integration tests, sharing one
   * control database, fill with their own devices and rules.
   */
  heldTip: { riskCacheTtlMs: number } | null,
): Promise<void> {
  const call = async (
    path: string,
    token: string,
    body: unknown,
    idempotencyKey?: string,
    method = "POST",
    extra: Record<string, string> = {},
  ) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...extra,
    };
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    const res = await app.request(`/v1${path}`, { method, headers, body: JSON.stringify(body) }, env, ctx);
    return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
  };

  let reviewRuleSetAtMs: number | null = null;
  if (heldTip) {
    // Tips from a listed device wait for a risk reviewer (outcome `review`), holding their money.
    // Set first: an isolate reads the rules again once its copy is `riskCacheTtlMs` old, so the
    // demo's tip from the device comes last, once that much time has passed.
    const rule = await call(
      `/admin/risk/rules/${DEMO_REVIEW_RULE}`,
      tokens.risk,
      {
        kind: "blacklist",
        list: "device",
        outcome: "review",
        enabled: true,
        description: "Demo: tips from a listed device wait for a reviewer",
      },
      undefined,
      "PUT",
    );
    assert(rule.status === 200, `the demo review rule is set (${rule.status} ${rule.body.error?.code})`);
    const listed = await call("/admin/risk/lists/device", tokens.risk, {
      value: DEMO_REVIEW_DEVICE,
      reason: "Demo: a device shared by many accounts",
    });
    assert(listed.status === 200, `the demo device is listed (${listed.status} ${listed.body.error?.code})`);
    reviewRuleSetAtMs = Date.now();
  }

  const dayStart = Date.parse(`${STATEMENT_DATE}T04:00:00.000Z`);
  const reconciled = await call("/admin/reconciliations", tokens.operator, {
    channel: "sandbox",
    date: STATEMENT_DATE,
    statement: formatSandboxStatement([
      {
        kind: "payment",
        merchantOrderNo: "order_01DEMD0000000000UNKNOWN0",
        providerTxnId: "sbx_txn_demo_unknown",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 18_80,
        currency: "CNY",
        occurredAtMs: dayStart,
        status: "succeeded",
        line: 2,
      } as Parameters<typeof formatSandboxStatement>[0][number],
    ]),
  });
  assert(reconciled.status === 200 || reconciled.status === 201, `the demo reconciliation ran (${reconciled.status})`);

  // Asked while the creator was under a risk hold (lifted right after): it waits, `risk_flagged`.
  const asked = await ledger
    .forOwner(creatorId)
    .db.prepare("SELECT 1 FROM withdrawals WHERE creator_id = ? AND idempotency_key = ?")
    .bind(creatorId, REVIEW_WITHDRAWAL_KEY)
    .first();
  if (!asked) {
    const hold = (on: boolean) =>
      call(
        `/admin/creators/${creatorId}/risk-hold`,
        tokens.operator,
        on ? { hold: true, reason: "Demo: chargebacks under review" } : { hold: false },
        undefined,
        "PUT",
      );
    assert((await hold(true)).status === 200, "the demo risk hold is set");
    const withdrawal = await call(
      "/creators/me/withdrawals",
      tokens.creator,
      { amount: REVIEW_WITHDRAWAL, pin: DEMO_PIN },
      REVIEW_WITHDRAWAL_KEY,
    );
    assert((await hold(false)).status === 200, "the demo risk hold is lifted");
    // Refused (not enough available yet, a daily limit) leaves the queue without one; it says why.
    if (withdrawal.status >= 400) console.warn(`demo withdrawal not made: ${withdrawal.body.error?.code}`);
  }

  const word = await call("/admin/moderation/words", tokens.operator, { word: DEMO_HOLD_WORD, level: "hold" });
  assert(word.status === 201 || word.body.error?.code === "moderation_word_exists", "the demo hold word is listed");
  const tip = await call(
    `/rooms/${roomId}/tips`,
    tokens.viewer,
    { kind: "custom", amount: "6.60", message: `${DEMO_HOLD_WORD}吗？` },
    "demo-held-message",
  );
  if (tip.status >= 400) console.warn(`demo held message not made: ${tip.body.error?.code}`);

  // A subsidy campaign with one subsidy issued, for the configuration page (fixed keys: once).
  const campaign = await call(
    "/admin/campaigns",
    tokens.operator,
    { name: "Demo: Spring Festival red packets", budget: "5000.00" },
    "demo-campaign-spring",
  );
  assert(campaign.status === 201, `the demo campaign is created (${campaign.status} ${campaign.body.error?.code})`);
  const campaignId = (campaign.body as { campaign?: { id: string } }).campaign?.id;
  const subsidy = await call(
    `/admin/campaigns/${campaignId}/subsidies`,
    tokens.operator,
    { externalId: "demo/spring/viewer-ana", userId: "viewer-ana", amount: "8.88" },
    "demo-subsidy-viewer-ana",
  );
  assert(subsidy.status === 201 || subsidy.status === 200, `the demo subsidy is issued (${subsidy.status})`);

  // A proposal waiting for a second operator: ops-mei credits viewer-ana above the four-eyes
  // threshold (202, nothing moves until another operator approves). Once: not if one waits.
  const waiting = await call("/admin/proposals?state=pending", tokens.operator, undefined, undefined, "GET");
  const proposals = (waiting.body as { items?: { summary: string }[] }).items ?? [];
  if (!proposals.some((p) => p.summary.includes(DEMO_PROPOSAL_REASON))) {
    const proposed = await call(
      "/users/viewer-ana/wallet/adjustments",
      tokens.operator,
      { direction: "credit", amount: "1200.00", reason: DEMO_PROPOSAL_REASON },
      "demo-proposal-goodwill",
    );
    assert(
      proposed.status === 202,
      `the demo proposal waits for approval (${proposed.status} ${proposed.body.error?.code})`,
    );
  }

  // A second creator's real-name verification, waiting for review (already waiting: 409).
  const verification = await call("/creators/me/verification", tokens.newCreator, {
    realName: "于小雨",
    idType: "resident_id",
    idNumber: DEMO_PENDING_ID_NUMBER,
  });
  assert(
    verification.status === 201 ||
      verification.body.error?.code === "verification_pending" ||
      verification.body.error?.code === "already_verified",
    `the demo verification is submitted (${verification.status} ${verification.body.error?.code})`,
  );

  // The sandbox channel reports a payment for an order giftwire never made: verified, stored,
  // and flagged `unknown_order` by the callbacks consumer (once: the event id is fixed).
  const sandboxSecret = sandboxSecretOf(env);
  if (sandboxSecret) {
    const event = JSON.stringify({
      id: "evt_demounknownorder0001",
      type: "payment.succeeded",
      merchant_id: sandboxMerchantOf(env),
      order_no: "order_01DEMD0000000000NOORDER00",
      txn_id: "sbx_txn_demo_no_order",
      amount_minor: 9_90,
      currency: "CNY",
    });
    const reported = await app.request(
      "/v1/payments/callbacks/sandbox",
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "sandbox-signature": await signSandbox(sandboxSecret, event, Date.now()),
        },
        body: event,
      },
      env,
      ctx,
    );
    assert(reported.status < 300, `the demo sandbox callback is taken (${reported.status})`);
  }

  const atMs = Date.now();
  const body = {
    id: "demo:dead-letter:verification",
    creatorId: "creator-lin",
    kind: "verification_result",
    vars: { result: "verified", reason: null },
    atMs,
  };
  const batch = {
    queue: "giftwire-creator-notices-dlq",
    messages: [
      {
        id: "demo-dead-letter-0001",
        timestamp: new Date(atMs),
        attempts: 1,
        body,
        ack: () => undefined,
        retry: () => undefined,
      },
    ],
    ackAll: () => undefined,
    retryAll: () => undefined,
  } as unknown as MessageBatch<unknown>;
  await handleDeadLettersBatch(batch, env, createLogger({ seed: "queues" }));

  if (heldTip && reviewRuleSetAtMs !== null) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, reviewRuleSetAtMs + heldTip.riskCacheTtlMs + 100 - Date.now())),
    );
    const held = await call(
      `/rooms/${roomId}/tips`,
      tokens.viewer,
      { kind: "custom", amount: "18.80" },
      "demo-held-tip",
      "POST",
      { [DEVICE_HEADER]: DEMO_REVIEW_DEVICE },
    );
    if (held.status !== 202) console.warn(`demo held tip not made: ${held.status} ${held.body.error?.code}`);
    const heldOnContent = await call(
      `/content/${DEMO_ARTICLES[0].id}/tips`,
      tokens.viewer,
      { amount: "3.30" },
      "demo-held-content-tip",
      "POST",
      { [DEVICE_HEADER]: DEMO_REVIEW_DEVICE },
    );
    if (heldOnContent.status !== 202) {
      console.warn(`demo held content tip not made: ${heldOnContent.status} ${heldOnContent.body.error?.code}`);
    }
  }
}
