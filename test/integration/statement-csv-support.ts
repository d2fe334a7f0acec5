/**
 * Reading the monthly statement CSV back in tests: the download checked for its BOM, CRLF line
 * ends and header, then parsed per RFC 4180 into rows keyed by column. And the statement's
 * content income committed at a chosen instant: content items, tips on them, paid unlocks and
 * unlock refunds, each by the ledger's own operation.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { runOperation } from "../../src/db/ledger";
import { composeTip, prepareContentTip } from "../../src/db/operations/tip";
import { composeUnlock, prepareUnlock } from "../../src/db/operations/unlock";
import { composeUnlockRefund } from "../../src/db/operations/unlock-refund";
import { completePayerLeg, findUnlock, planUnlockRefund, refundOfUnlock } from "../../src/db/unlock-refunds";
import { newOwnedId } from "../../src/domain/ids";
import { STATEMENT_CSV_COLUMNS } from "../../src/domain/statement-month";
import { BASE, call, config, ledger, token } from "./helpers";
import { type Committed, quietLedger } from "./money-out-support";

/** A content item of `creatorId` (an admin registers it), priced to unlock. */
export async function pricedContent(creatorId: string, price: string): Promise<string> {
  const res = await call("POST", "/v1/admin/content", {
    token: await token(`${creatorId}-admin`, "admin"),
    body: { creatorId, kind: "article", title: `Paid article of ${creatorId}`, price },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

/** A custom tip on a content item committed at `atMs`, announcing nothing (settleTransit delivers it). */
export async function contentTipAt(contentId: string, viewerId: string, amount: string, atMs: number) {
  const l = await quietLedger();
  const id = newOwnedId("tip", l.bucketOf(viewerId), atMs);
  const rules = { platformShareBps: config.platformShareBps, customTip: config.customTip };
  const prepared = await prepareContentTip(
    l.control,
    rules,
    { id, contentId, viewerId, ask: { kind: "custom", amount } },
    atMs,
  );
  if (!prepared.ok) throw new Error(`content tip refused: ${prepared.code}`);
  const shard = l.forOwner(viewerId);
  const { verdict } = await runOperation(shard, composeTip(shard, prepared.value));
  expect(verdict.kind).toBe("posted");
  const { amountMinor, platformMinor, creatorMinor } = prepared.value.priced;
  return { id, amountMinor, platformMinor, creatorMinor } satisfies Committed;
}

/** A paid unlock committed at `atMs` from the reader's wallet, announcing nothing. */
export async function unlockAt(contentId: string, userId: string, atMs: number) {
  const l = await quietLedger();
  const id = newOwnedId("unl", l.bucketOf(userId), atMs);
  const prepared = await prepareUnlock(l.control, config, { id, contentId, userId }, atMs);
  if (!prepared.ok) throw new Error(`unlock refused: ${prepared.code}`);
  const shard = l.forOwner(userId);
  const { verdict } = await runOperation(shard, composeUnlock(shard, prepared.value));
  expect(verdict).toEqual({ kind: "posted" });
  const { amountMinor, platformMinor, creatorMinor, shareBps } = prepared.value.priced;
  return { id, amountMinor, platformMinor, creatorMinor, platformBps: shareBps, createdAtMs: atMs };
}

/** An operator's refund of an unlock committed at `atMs`: the creator's leg, then the payer's. */
export async function refundUnlockAt(unlockId: string, atMs: number, reason = "the article was withdrawn") {
  const l = await ledger();
  const found = await findUnlock(l, unlockId);
  if (found === null) throw new Error("no such unlock");
  const creatorShard = l.forOwner(found.creator_id);
  const plan = await planUnlockRefund(creatorShard, found, {
    id: newOwnedId("urf", l.bucketOf(found.creator_id), atMs),
    reason,
    actorId: "ops-test",
    withholdingBpsNow: config.settlement.withholdingBps,
    timeZone: config.businessTimeZone,
    nowMs: atMs,
  });
  if (!plan.ok) throw new Error(plan.code);
  expect((await runOperation(creatorShard, composeUnlockRefund(creatorShard, plan.value))).verdict).toEqual({
    kind: "posted",
  });
  const row = await refundOfUnlock(creatorShard, unlockId);
  if (row === null) throw new Error("no refund row");
  expect((await completePayerLeg(l, row, atMs)).kind).toBe("posted");
  return row;
}

export type CsvRow = Record<(typeof STATEMENT_CSV_COLUMNS)[number], string>;

/** RFC 4180 fields of CRLF-ended records (quoted fields may hold commas, quotes, line breaks). */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i++;
    } else {
      // A bare LF or CR outside quotes would mean a line end that is not CRLF.
      expect(ch === "\n" || ch === "\r", `bare line end at ${i}`).toBe(false);
      field += ch;
    }
  }
  expect(field, "the file ends with CRLF").toBe("");
  expect(record).toEqual([]);
  return records;
}

export interface Statement {
  /** The file as text, BOM included. */
  text: string;
  rows: CsvRow[];
  of(section: string): CsvRow[];
  /** The summary's figures in fen. */
  summary: Record<string, number>;
}

/** Fen of an exact decimal ("-1.05" → -105); a blank is 0. */
export function fen(decimal: string): number {
  if (decimal === "") return 0;
  const m = /^(-?)(\d+)\.(\d{2})$/.exec(decimal);
  expect(m, `an exact decimal: ${decimal}`).not.toBeNull();
  const [, sign, whole, cents] = m as RegExpExecArray;
  return (sign === "-" ? -1 : 1) * (Number(whole) * 100 + Number(cents));
}

/** GET /v1/creators/me/statements/{month}.csv as the creator, checked and parsed. */
export async function downloadStatement(creatorId: string, month: string): Promise<Statement> {
  const res = await exports.default.fetch(`${BASE}/v1/creators/me/statements/${month}.csv`, {
    headers: { authorization: `Bearer ${await token(creatorId, "creator")}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
  expect(res.headers.get("content-disposition")).toBe(`attachment; filename="giftwire-statement-${month}.csv"`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const text = new TextDecoder().decode(bytes.slice(3));
  const records = parseCsv(text);
  expect(records[0]).toEqual([...STATEMENT_CSV_COLUMNS]);
  const rows = records.slice(1).map((r) => {
    expect(r).toHaveLength(STATEMENT_CSV_COLUMNS.length);
    return Object.fromEntries(STATEMENT_CSV_COLUMNS.map((c, i) => [c, r[i] as string])) as CsvRow;
  });
  // Sections in their order, never interleaved; the summary last.
  const order = ["income", "reversal", "settlement", "withdrawal", "summary"];
  const ranks = rows.map((r) => order.indexOf(r.section));
  expect(ranks.every((k) => k >= 0)).toBe(true);
  expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  const summary = Object.fromEntries(
    rows.filter((r) => r.section === "summary").map((r) => [r.id, fen(r.amount)] as const),
  );
  expect(Object.keys(summary)).toEqual([
    "gross",
    "platform_share",
    "creator_part",
    "reversed",
    "withholding",
    "settled_net",
    "withdrawn",
    "fees",
  ]);
  return { text: `\uFEFF${text}`, rows, of: (section) => rows.filter((r) => r.section === section), summary };
}
