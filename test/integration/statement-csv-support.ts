/**
 * Reading the monthly statement CSV back in tests: the download checked for its BOM, CRLF line
 * ends and header, then parsed per RFC 4180 into rows keyed by column.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { STATEMENT_CSV_COLUMNS } from "../../src/domain/statement-month";
import { BASE, token } from "./helpers";

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
