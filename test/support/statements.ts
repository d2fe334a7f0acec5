import { expect } from "vitest";
import type { StatementParse } from "../../src/channels/statement-csv";
import type { StatementLine } from "../../src/domain/reconcile";

/** Beijing wall-clock time as UTC milliseconds. */
export const beijing = (y: number, mo: number, d: number, h: number, mi: number, s: number) =>
  Date.UTC(y, mo - 1, d, h, mi, s) - 8 * 3600_000;

/** The lines of a statement that must parse. */
export function lines(parsed: StatementParse): StatementLine[] {
  if (!parsed.ok) throw new Error(`refused: line ${parsed.error.line}: ${parsed.error.detail}`);
  return parsed.lines;
}

/** Where and why a statement that must be refused was refused. */
export function refusal(parsed: StatementParse): { line: number; detail: string } {
  if (parsed.ok) throw new Error("accepted");
  expect(parsed.error.code).toBe("statement_malformed");
  return { line: parsed.error.line, detail: parsed.error.detail };
}
