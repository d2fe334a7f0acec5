import { businessDayOf } from "./business-day";
import { formatMinor } from "./money";
import type { PayoutChannel } from "./payout-account-binding";
import { businessTime } from "./statement-csv";
import type { WithdrawalState } from "./withdrawal-states";

/**
 * The monthly statement file's lines: the creator's whole month in one sheet. Every line starts
 * with its `section` (income, reversal, settlement, withdrawal, then summary), so a spreadsheet
 * filter on the first column shows one section; the columns are one header for all, each
 * section filling the ones that mean something for it and leaving the rest blank. Income and
 * reversal lines say their `kind` in the second column: `tip` (in a room, or on the content
 * item in `content_id`) or `unlock` (a paid unlock of `content_id`; its reversal is the refund),
 * so a filter on both columns shows, say, the month's unlocks alone.
 *
 * The summary is added up while the lines go out (`StatementTotals`): the file is streamed page
 * by page and never read twice.
 */
export const STATEMENT_CSV_COLUMNS = [
  "section",
  "kind",
  "time",
  "business_day",
  "id",
  "tip_id",
  "unlock_id",
  "content_id",
  "viewer_id",
  "gift_id",
  "gift_name",
  "quantity",
  "tip_count",
  "gross",
  "platform_rate_percent",
  "platform_share",
  "creator_part",
  "reversed",
  "withholding",
  "receivable_offset",
  "net",
  "amount",
  "fee",
  "payout",
  "state",
  "source",
  "channel",
  "destination",
  "reason",
  "currency",
] as const;

export type StatementColumn = (typeof STATEMENT_CSV_COLUMNS)[number];
export type StatementFields = Partial<Record<StatementColumn, string>>;

/** The fields in header order, blanks where a section has nothing to say. */
export function statementRow(fields: StatementFields): string[] {
  return STATEMENT_CSV_COLUMNS.map((c) => fields[c] ?? "");
}

/** What a line of income is: a tip, or a paid unlock of a content item. */
export type IncomeKind = "tip" | "unlock";

export interface IncomeLine {
  kind: IncomeKind;
  /** The tip's id or the unlock's. */
  id: string;
  /** The content item tipped or unlocked; null for a tip in a room. */
  contentId: string | null;
  /** Who paid: the tipper, or the reader who unlocked. */
  viewerId: string;
  giftId: string | null;
  giftName: string | null;
  quantity: number;
  amountMinor: number;
  /** Null on tips from before rates were recorded: shown blank rather than guessed. */
  platformBps: number | null;
  platformMinor: number;
  creatorMinor: number;
  currency: string;
  createdAtMs: number;
  /** The tip reversed, or the unlock refunded. */
  reversed: boolean;
}

interface ReversalCommon {
  id: string;
  /** Who was paid back: the tipper, or the reader who unlocked. */
  viewerId: string;
  amountMinor: number;
  platformMinor: number;
  creatorMinor: number;
  /** `pending` (taken before the tip's day settled) or `receivable` (after: owed, offset later). */
  source: "pending" | "receivable";
  reason: string;
  currency: string;
  createdAtMs: number;
}

/** A tip reversal (operations/tip-reversal.ts), the creator's leg. */
export interface TipReversalLine extends ReversalCommon {
  kind: "tip";
  tipId: string;
  /** The content item the tip was on; null for a tip in a room. */
  contentId: string | null;
}

/** An unlock refund (operations/unlock-refund.ts), the creator's leg. */
export interface UnlockRefundLine extends ReversalCommon {
  kind: "unlock";
  unlockId: string;
  contentId: string;
}

/** What took a creator part back: a tip reversal or an unlock refund. */
export type ReversalLine = TipReversalLine | UnlockRefundLine;

export interface SettlementLine {
  id: string;
  day: string;
  state: "held" | "settled";
  grossMinor: number;
  platformMinor: number;
  creatorPartMinor: number;
  reversedMinor: number;
  withholdingMinor: number;
  receivableOffsetMinor: number;
  netMinor: number;
  tipCount: number;
  currency: string;
  heldReason: string | null;
  createdAtMs: number;
}

export interface WithdrawalLine {
  id: string;
  state: WithdrawalState;
  amountMinor: number;
  feeMinor: number;
  currency: string;
  channel: PayoutChannel;
  destinationMasked: string;
  rejectReason: string | null;
  failureReason: string | null;
  createdAtMs: number;
}

function when(atMs: number, timeZone: string): StatementFields {
  return { time: businessTime(atMs, timeZone), business_day: businessDayOf(atMs, timeZone) };
}

export function incomeFields(line: IncomeLine, timeZone: string): string[] {
  const tip = line.kind === "tip";
  return statementRow({
    section: "income",
    kind: line.kind,
    ...when(line.createdAtMs, timeZone),
    id: line.id,
    ...(tip ? { tip_id: line.id } : { unlock_id: line.id }),
    content_id: line.contentId ?? "",
    viewer_id: line.viewerId,
    gift_id: line.giftId ?? "",
    gift_name: line.giftName ?? "",
    // An unlock is one unlock of one item: no gifts to count.
    quantity: tip ? String(line.quantity) : "",
    gross: formatMinor(line.amountMinor),
    // Basis points are hundredths of a percent: 3000 → "30.00".
    platform_rate_percent: line.platformBps === null ? "" : formatMinor(line.platformBps),
    platform_share: formatMinor(line.platformMinor),
    creator_part: formatMinor(line.creatorMinor),
    state: line.reversed ? (tip ? "reversed" : "refunded") : "received",
    currency: line.currency,
  });
}

export function reversalFields(line: ReversalLine, timeZone: string): string[] {
  return statementRow({
    section: "reversal",
    kind: line.kind,
    ...when(line.createdAtMs, timeZone),
    id: line.id,
    ...(line.kind === "tip" ? { tip_id: line.tipId } : { unlock_id: line.unlockId }),
    content_id: line.contentId ?? "",
    viewer_id: line.viewerId,
    gross: formatMinor(line.amountMinor),
    platform_share: formatMinor(line.platformMinor),
    creator_part: formatMinor(line.creatorMinor),
    reversed: formatMinor(line.creatorMinor),
    source: line.source,
    reason: line.reason,
    currency: line.currency,
  });
}

export function settlementFields(line: SettlementLine, timeZone: string): string[] {
  return statementRow({
    section: "settlement",
    time: businessTime(line.createdAtMs, timeZone),
    business_day: line.day,
    id: line.id,
    tip_count: String(line.tipCount),
    gross: formatMinor(line.grossMinor),
    platform_share: formatMinor(line.platformMinor),
    creator_part: formatMinor(line.creatorPartMinor),
    reversed: formatMinor(line.reversedMinor),
    withholding: formatMinor(line.withholdingMinor),
    receivable_offset: formatMinor(line.receivableOffsetMinor),
    net: formatMinor(line.netMinor),
    state: line.state,
    reason: line.heldReason ?? "",
    currency: line.currency,
  });
}

/** Fee and payout are shown once paid: only then is the fee charged and `amount − fee` sent. */
export function withdrawalFields(line: WithdrawalLine, timeZone: string): string[] {
  const paid = line.state === "paid";
  return statementRow({
    section: "withdrawal",
    ...when(line.createdAtMs, timeZone),
    id: line.id,
    amount: formatMinor(line.amountMinor),
    fee: paid ? formatMinor(line.feeMinor) : "",
    payout: paid ? formatMinor(line.amountMinor - line.feeMinor) : "",
    state: line.state,
    channel: line.channel,
    destination: line.destinationMasked,
    reason: line.rejectReason ?? line.failureReason ?? "",
    currency: line.currency,
  });
}

export const SUMMARY_FIGURES = [
  "gross",
  "platform_share",
  "creator_part",
  "reversed",
  "withholding",
  "settled_net",
  "withdrawn",
  "fees",
] as const;

export type SummaryFigure = (typeof SUMMARY_FIGURES)[number];

/**
 * The month's figures, added up line by line as the file is written: income (gross, platform
 * share, creator part of tips and unlocks alike, as settlement counts them), reversals (the
 * creator's part taken back by tip reversals and unlock refunds), settled settlements
 * (withholding, net; held ones are listed but moved nothing), paid withdrawals (amount, fee).
 */
export class StatementTotals {
  readonly minor: Record<SummaryFigure, number> = {
    gross: 0,
    platform_share: 0,
    creator_part: 0,
    reversed: 0,
    withholding: 0,
    settled_net: 0,
    withdrawn: 0,
    fees: 0,
  };
  private currency: string | null = null;

  income(line: IncomeLine): void {
    this.minor.gross += line.amountMinor;
    this.minor.platform_share += line.platformMinor;
    this.minor.creator_part += line.creatorMinor;
    this.currency ??= line.currency;
  }

  reversal(line: ReversalLine): void {
    this.minor.reversed += line.creatorMinor;
    this.currency ??= line.currency;
  }

  settlement(line: SettlementLine): void {
    if (line.state !== "settled") return;
    this.minor.withholding += line.withholdingMinor;
    this.minor.settled_net += line.netMinor;
    this.currency ??= line.currency;
  }

  withdrawal(line: WithdrawalLine): void {
    if (line.state !== "paid") return;
    this.minor.withdrawn += line.amountMinor;
    this.minor.fees += line.feeMinor;
    this.currency ??= line.currency;
  }

  /** One `summary` line per figure: its name in `id`, its value in `amount`. */
  summaryRows(fallbackCurrency: string): string[][] {
    const currency = this.currency ?? fallbackCurrency;
    return SUMMARY_FIGURES.map((f) =>
      statementRow({ section: "summary", id: f, amount: formatMinor(this.minor[f]), currency }),
    );
  }
}
