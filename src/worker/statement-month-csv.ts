/**
 * The monthly statement CSV as a sequence of chunks, one page of one section each: the header,
 * income (every tip and paid unlock, merged from every ledger shard), reversals (of tips, and
 * refunds of unlocks), settlements (business days of
 * the month), withdrawals (requested in the month, in their state now), then the summary added
 * up on the way. The caller pulls one chunk at a time, so memory holds one page whatever the
 * month's size and a slow download slows the reads down.
 */

import {
  giftNames,
  IncomeMerge,
  type MsRange,
  reversalsPage,
  reversedIncomeIds,
  type StatementCursor,
  settlementsPage,
  withdrawalsPage,
} from "../db/reads/statements";
import type { Ledger } from "../db/shards";
import { LIMITS } from "../domain/limits";
import { CSV_BOM, csvLine } from "../domain/statement-csv";
import {
  incomeFields,
  reversalFields,
  STATEMENT_CSV_COLUMNS,
  StatementTotals,
  settlementFields,
  withdrawalFields,
} from "../domain/statement-month";

export interface MonthStatement {
  creatorId: string;
  /** YYYY-MM in the business time zone. */
  month: string;
  range: MsRange;
  timeZone: string;
  /** For an empty month's summary. */
  currency: string;
}

export interface MonthStatementCounts {
  income: number;
  reversal: number;
  settlement: number;
  withdrawal: number;
}

function lines(rows: readonly string[][]): string {
  let text = "";
  for (const r of rows) text += csvLine(r);
  return text;
}

export async function* monthStatementCsv(
  ledger: Ledger,
  s: MonthStatement,
  counts: MonthStatementCounts = { income: 0, reversal: 0, settlement: 0, withdrawal: 0 },
  pageRows: number = LIMITS.statementCsvPageRows,
): AsyncGenerator<string> {
  const tz = s.timeZone;
  const own = ledger.forOwner(s.creatorId).db;
  const totals = new StatementTotals();
  yield CSV_BOM + csvLine(STATEMENT_CSV_COLUMNS);

  const names = await giftNames(ledger.control);
  const merge = new IncomeMerge(
    ledger.shards.map((x) => x.db),
    s.creatorId,
    s.range,
    null,
    pageRows,
  );
  for (;;) {
    const page = await merge.take(pageRows);
    if (page.length === 0) break;
    const reversed = await reversedIncomeIds(own, page);
    yield lines(
      page.map((r) => {
        const line = {
          ...r,
          giftName: r.giftId === null ? null : (names.get(r.giftId) ?? null),
          reversed: reversed.has(r.id),
        };
        totals.income(line);
        return incomeFields(line, tz);
      }),
    );
    counts.income += page.length;
  }

  let after: StatementCursor | null = null;
  do {
    const page = await reversalsPage(own, s.creatorId, s.range, after, pageRows);
    for (const r of page.rows) totals.reversal(r);
    counts.reversal += page.rows.length;
    if (page.rows.length > 0) yield lines(page.rows.map((r) => reversalFields(r, tz)));
    after = page.next;
  } while (after !== null);

  // Days compare as text: `${month}-31` is past the month's last day and before the next month's first.
  do {
    const page = await settlementsPage(own, s.creatorId, `${s.month}-01`, `${s.month}-31`, after, pageRows);
    for (const r of page.rows) totals.settlement(r);
    counts.settlement += page.rows.length;
    if (page.rows.length > 0) yield lines(page.rows.map((r) => settlementFields(r, tz)));
    after = page.next;
  } while (after !== null);

  do {
    const page = await withdrawalsPage(own, s.creatorId, s.range, after, pageRows);
    for (const r of page.rows) totals.withdrawal(r);
    counts.withdrawal += page.rows.length;
    if (page.rows.length > 0) yield lines(page.rows.map((r) => withdrawalFields(r, tz)));
    after = page.next;
  } while (after !== null);

  yield lines(totals.summaryRows(s.currency));
}
