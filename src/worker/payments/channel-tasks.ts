/**
 * What a channel query or refund needs to run, built the same way by the payments queue
 * consumer, the payment sweep and reconciliation; and how each of them reports a failed call.
 */

import type { Ledger } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { tipRulesWithRooms } from "../rooms/tip-rates";
import { channelClients } from "./channels";
import type { QueryContext } from "./orders";
import type { RefundContext } from "./refunds";

export function queryContext(env: Env, ledger: Ledger, log: Logger, nowMs: number): QueryContext {
  return {
    ledger,
    clients: channelClients(env),
    log,
    nowMs,
    random: Math.random,
    tipRules: tipRulesWithRooms(env, configFrom(env)),
  };
}

export function refundContext(env: Env, ledger: Ledger, log: Logger, nowMs: number): RefundContext {
  return { ledger, clients: channelClients(env), log, nowMs, random: Math.random };
}

/** A channel call (query, refund) that failed: a warning, and an operator alert from the third attempt. */
export function reportFailedAttempt(
  log: Logger,
  what: "query" | "refund",
  fields: { attempts: number } & Record<string, unknown>,
) {
  if (fields.attempts >= LIMITS.alertAfterAttempts) log.error(`alert_payment_${what}_failing`, fields);
  else log.warn(`payment_${what}_failed`, fields);
}
