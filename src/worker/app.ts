import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { AuditChainBusyError } from "../db/audit";
import { AssertionError, LIMITS } from "../domain/limits";
import type { AppEnv } from "./context";
import { ApiError, errorResponse } from "./errors";
import { authenticate } from "./middleware/auth";
import { requestContext } from "./middleware/request-context";
import { setProposalDispatcher } from "./proposals";
import { admin } from "./routes/admin";
import { adminPartners } from "./routes/admin-partners";
import { adminRisk } from "./routes/admin-risk";
import { adminRiskReviews } from "./routes/admin-risk-reviews";
import { adminSearch } from "./routes/admin-search";
import { adminSwitches } from "./routes/admin-switches";
import { adminWithdrawalRoutes } from "./routes/admin-withdrawals";
import { alerts } from "./routes/alerts";
import { audit } from "./routes/audit";
import { autopay } from "./routes/autopay";
import { campaigns } from "./routes/campaigns";
import { content } from "./routes/content";
import { contentTips } from "./routes/content-tips";
import { creatorEarnings } from "./routes/creator-earnings";
import { creatorInsights } from "./routes/creator-insights";
import { creatorWithdrawalRoutes } from "./routes/creator-withdrawals";
import { dashboard } from "./routes/dashboard";
import { gifts } from "./routes/gifts";
import { inbox } from "./routes/inbox";
import { live } from "./routes/live";
import { moderation } from "./routes/moderation";
import { notificationTemplates } from "./routes/notification-templates";
import { operators } from "./routes/operators";
import { partnerApi } from "./routes/partner";
import { partnerCampaigns } from "./routes/partner-campaigns";
import { partnerWebhooks } from "./routes/partner-webhooks";
import { paymentCallbacks } from "./routes/payment-callbacks";
import { paymentPin } from "./routes/payment-pin";
import { payments } from "./routes/payments";
import { payoutAccounts } from "./routes/payout-accounts";
import { payoutCallbacks } from "./routes/payout-callbacks";
import { piiReseal } from "./routes/pii-reseal";
import { proposals } from "./routes/proposals";
import { reconciliations, STATEMENT_UPLOAD_PATH } from "./routes/reconciliations";
import { redPackets } from "./routes/red-packets";
import { revenueSchedules } from "./routes/revenue-schedules";
import { rooms } from "./routes/rooms";
import { settlements } from "./routes/settlements";
import { statements } from "./routes/statements";
import { tipReversals } from "./routes/tip-reversals";
import { tips } from "./routes/tips";
import { unlockRefunds } from "./routes/unlock-refunds";
import { verification } from "./routes/verification";
import { verificationReview } from "./routes/verification-review";
import { wallets } from "./routes/wallets";
import { workQueues } from "./routes/work-queues";

export const API_VERSION = "0.1.0";

/**
 * The Hono application. Validation failures from any route's zod schemas become
 * `malformed_request` envelopes through `defaultHook`; every thrown error becomes an
 * envelope in `onError`; nothing else writes error bodies.
 */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        return errorResponse(c, "malformed_request", "The request does not match the schema.", issues);
      }
    },
  });

  app.use("*", requestContext);

  app.get("/healthz", authenticate("public"), (c) => c.json({ status: "ok", version: API_VERSION }, 200));

  const v1 = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        return errorResponse(c, "malformed_request", "The request does not match the schema.", issues);
      }
    },
  });
  v1.use("*", async (c, next) => {
    const origins = c.var.config.corsOrigins;
    // WebSocket upgrades answer 101 with immutable headers: header-changing middleware skips them.
    if (origins.length === 0 || c.req.header("upgrade")?.toLowerCase() === "websocket") return next();
    return cors({ origin: [...origins], exposeHeaders: ["X-Request-Id", "Idempotent-Replayed"], maxAge: 600 })(c, next);
  });
  const defaultBodyLimit = bodyLimit({
    maxSize: LIMITS.bodyMaxBytes,
    onError: (c) => errorResponse(c, "payload_too_large"),
  });
  // A reconciliation statement is the one large body; that route sets its own, larger limit.
  v1.use("*", (c, next) =>
    c.req.method === "POST" && c.req.path === STATEMENT_UPLOAD_PATH ? next() : defaultBodyLimit(c, next),
  );
  v1.route("/", wallets);
  v1.route("/", gifts);
  v1.route("/", rooms);
  v1.route("/", tips);
  v1.route("/", live);
  v1.route("/", redPackets);
  v1.route("/", campaigns);
  v1.route("/", payments);
  v1.route("/", autopay);
  v1.route("/", paymentPin);
  v1.route("/", admin);
  v1.route("/", revenueSchedules);
  v1.route("/", reconciliations);
  v1.route("/", creatorInsights);
  v1.route("/", settlements);
  v1.route("/", tipReversals);
  v1.route("/", unlockRefunds);
  v1.route("/", creatorEarnings);
  v1.route("/", inbox);
  v1.route("/", statements);
  v1.route("/", notificationTemplates);
  v1.route("/", verification);
  v1.route("/", verificationReview);
  v1.route("/", payoutAccounts);
  v1.route("/", piiReseal);
  v1.route("/", creatorWithdrawalRoutes);
  v1.route("/", adminWithdrawalRoutes);
  v1.route("/", alerts);
  v1.route("/", audit);
  v1.route("/", dashboard);
  v1.route("/", adminSwitches);
  v1.route("/", moderation);
  v1.route("/", adminRisk);
  v1.route("/", adminRiskReviews);
  v1.route("/", operators);
  v1.route("/", proposals);
  v1.route("/", adminSearch);
  v1.route("/", workQueues);
  v1.route("/", adminPartners);
  v1.route("/", partnerApi);
  v1.route("/", partnerCampaigns);
  v1.route("/", partnerWebhooks);
  v1.route("/", content);
  v1.route("/", contentTips);

  v1.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  v1.openAPIRegistry.registerComponent("securitySchemes", "partnerKey", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "gw_live_… / gw_test_… partner API key",
  });
  v1.openAPIRegistry.registerComponent("securitySchemes", "partnerApiKey", {
    type: "apiKey",
    in: "header",
    name: "X-Api-Key",
  });
  // Registered by hand rather than with `doc31` so that this route, too, declares its auth.
  v1.get("/openapi.json", authenticate("public"), (c) => c.json(apiDocument(v1), 200));
  documents.set(app, () => apiDocument(v1));

  // Provider callbacks: raw bytes, their own size limit, no CORS, no bearer auth (signatures instead).
  app.route("/v1/payments/callbacks", paymentCallbacks);
  app.route("/v1/payouts/callbacks", payoutCallbacks);
  app.route("/v1", v1);

  app.notFound((c) => errorResponse(c, "not_found", "No such route."));

  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error.code, error.message, error.details);
    if (error instanceof AuditChainBusyError) return errorResponse(c, "audit_busy");
    if (error instanceof HTTPException) {
      // Raised by Hono itself: bad JSON, wrong content type.
      if (error.status === 415) return errorResponse(c, "unsupported_media_type");
      if (error.status === 413) return errorResponse(c, "payload_too_large");
      if (error.status === 400) return errorResponse(c, "malformed_request", "The body is not valid JSON.");
    }
    c.var.log?.error("unhandled_error", {
      error: error.message,
      name: error.name,
      stack: error.stack,
      assertion: error instanceof AssertionError,
    });
    return errorResponse(c, "internal_error");
  });

  // Approved four-eyes proposals run their kept request through this app (worker/proposals.ts).
  setProposalDispatcher((request, env, ctx) => app.fetch(request, env, ctx));
  return app;
}

export type App = ReturnType<typeof createApp>;

/** The document each app serves at /v1/openapi.json, for `openApiDocument`. */
const documents = new WeakMap<object, () => ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>>();

/**
 * The OpenAPI document `app` serves at GET /v1/openapi.json, without a request: the typed
 * client's generator (packages/client/scripts/generate.ts) reads it in Node, where the request
 * pipeline's bindings (D1, the bucket map) do not exist.
 */
export function openApiDocument(app: App): ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]> {
  const document = documents.get(app);
  if (!document) throw new Error("not an app made by createApp");
  return document();
}

function apiDocument(v1: OpenAPIHono<AppEnv>) {
  return v1.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "giftwire API",
      version: API_VERSION,
      description:
        "Live-stream tipping, gifts and red packets. Amounts are integer fen (`…Minor`); money-moving requests " +
        "need an Idempotency-Key. Errors: `{ error: { code, message, requestId } }`. Each operation's " +
        "`x-giftwire-auth` says who may call it: `public`, `signed-in` (any valid bearer token), the " +
        "user roles of which the token must hold one, or `{ permission }`: an operator route, for an active " +
        "operator (Cloudflare Access in production) whose roles in the operator directory hold that " +
        "permission (docs/PERMISSIONS.md).",
    },
    servers: [{ url: "/v1" }],
  });
}
