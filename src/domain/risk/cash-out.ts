/**
 * The cash-out chain (issue 16): money topped up, tipped at once to one creator, withdrawn by
 * that creator. At a withdrawal request, of the creator's income in the rule's window (the
 * creator's part of every tip received in it), the share that came from "fresh" money: tips
 * whose payer had a payment credited at most `freshSec` before the tip. Above `minShareBps` of
 * at least `minMinor` of income, the rule fires and the withdrawal is held for review with the
 * numbers in a sentence. Pure: the tips and the credits are read from the ledger by the caller
 * (src/worker/risk-cash-out.ts), the clock is passed in.
 */

import { LIMITS } from "../limits";
import { formatMinor } from "../money";
import type { RiskRule } from "./rules";

export type CashOutChainRule = Extract<RiskRule, { kind: "cash_out_chain" }>;

/** A tip the creator received: who paid, the creator's part, when. */
export interface IncomeTip {
  readonly payerId: string;
  readonly creatorMinor: number;
  readonly atMs: number;
}

/** A payment credited to a payer's wallet (a top-up, or a pay-to-tip order). */
export interface Credit {
  readonly payerId: string;
  readonly atMs: number;
}

export interface CashOutFinding {
  /** The creator's income from tips in the window. */
  readonly incomeMinor: number;
  /** Of it, from tips paid at most `freshSec` after a credit of their payer. */
  readonly freshMinor: number;
  /** freshMinor / incomeMinor in basis points, rounded down (0 with no income). */
  readonly shareBps: number;
  /** Distinct payers of the fresh tips. */
  readonly freshPayers: number;
}

/** Whether `tip` was paid with money credited at most `freshMs` before it. */
function isFresh(tip: IncomeTip, credits: readonly number[] | undefined, freshMs: number): boolean {
  if (credits === undefined) return false;
  return credits.some((at) => at <= tip.atMs && tip.atMs - at <= freshMs);
}

export function findCashOut(
  tips: readonly IncomeTip[],
  credits: readonly Credit[],
  windowStartMs: number,
  freshMs: number,
): CashOutFinding {
  const byPayer = new Map<string, number[]>();
  for (const c of credits) {
    const list = byPayer.get(c.payerId) ?? [];
    list.push(c.atMs);
    byPayer.set(c.payerId, list);
  }
  let incomeMinor = 0;
  let freshMinor = 0;
  const payers = new Set<string>();
  for (const tip of tips) {
    if (tip.atMs < windowStartMs) continue;
    incomeMinor += tip.creatorMinor;
    if (isFresh(tip, byPayer.get(tip.payerId), freshMs)) {
      freshMinor += tip.creatorMinor;
      payers.add(tip.payerId);
    }
  }
  const shareBps = incomeMinor === 0 ? 0 : Math.floor((freshMinor * LIMITS.bpsMax) / incomeMinor);
  return { incomeMinor, freshMinor, shareBps, freshPayers: payers.size };
}

export function cashOutFires(rule: CashOutChainRule, f: CashOutFinding): boolean {
  return rule.enabled && f.incomeMinor >= rule.minMinor && f.freshMinor > 0 && f.shareBps >= rule.minShareBps;
}

function grouped(amountMinor: number): string {
  const [whole = "0", fraction = "00"] = formatMinor(amountMinor).split(".");
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${fraction}`;
}

function duration(sec: number): string {
  if (sec % 3600 === 0) return `${sec / 3600} h`;
  if (sec % 60 === 0) return `${sec / 60} min`;
  return `${sec} s`;
}

/** "82% of 1,240.00 received in 24 h came from money topped up ≤ 10 min before the tip by 3 payers". */
export function cashOutDetail(rule: CashOutChainRule, f: CashOutFinding): string {
  const pct = Math.floor(f.shareBps / 100);
  return (
    `${pct}% of ${grouped(f.incomeMinor)} received in ${duration(rule.windowSec)} came from money topped up ` +
    `≤ ${duration(rule.freshSec)} before the tip by ${f.freshPayers} payer${f.freshPayers === 1 ? "" : "s"}`
  );
}
