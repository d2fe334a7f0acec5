/**
 * Identity document numbers a creator verifies with (实名认证).
 *
 * - `resident_id`: the 18-character PRC resident identity card number (GB 11643-1999): a
 *   6-digit region code, the birth date YYYYMMDD, a 3-digit sequence and a check character
 *   computed with ISO 7064 MOD 11-2 over the first 17 digits (`X` stands for 10).
 * - `passport`: creators without a resident card (Hong Kong, Macao, Taiwan, abroad) give a
 *   passport or travel-permit number: 6–20 letters and digits with at least one digit. Nothing
 *   more is checkable offline; an operator reviews every submission anyway.
 */

export const ID_TYPES = ["resident_id", "passport"] as const;
export type IdType = (typeof ID_TYPES)[number];

export type IdNumberProblem =
  | "resident_id_length"
  | "resident_id_characters"
  | "resident_id_region"
  | "resident_id_birth_date"
  | "resident_id_check_digit"
  | "passport_invalid";

export type IdNumberCheck =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly problem: IdNumberProblem };

/** 2^(17-i) mod 11 for the 17 body digits. */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
/** The check character for each residue of Σ digit × weight mod 11. */
const CHECK_CHARS = "10X98765432";

/** The ISO 7064 MOD 11-2 check character of 17 digits. */
export function residentIdCheckChar(body17: string): string {
  if (!/^[0-9]{17}$/.test(body17)) throw new RangeError("a resident id body is 17 digits");
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(body17.charCodeAt(i) - 48) * (WEIGHTS[i] ?? 0);
  return CHECK_CHARS.charAt(sum % 11);
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  return day <= days;
}

/** A resident id as stored: upper-case `X`, no spaces; or the first rule it breaks. */
export function checkResidentId(input: string): IdNumberCheck {
  const id = input.trim().toUpperCase();
  if (id.length !== 18) return { ok: false, problem: "resident_id_length" };
  if (!/^[0-9]{17}[0-9X]$/.test(id)) return { ok: false, problem: "resident_id_characters" };
  if (id.charAt(0) === "0") return { ok: false, problem: "resident_id_region" };
  const year = Number(id.slice(6, 10));
  if (year < 1900 || !isCalendarDate(year, Number(id.slice(10, 12)), Number(id.slice(12, 14)))) {
    return { ok: false, problem: "resident_id_birth_date" };
  }
  if (residentIdCheckChar(id.slice(0, 17)) !== id.charAt(17)) return { ok: false, problem: "resident_id_check_digit" };
  return { ok: true, value: id };
}

export function checkPassport(input: string): IdNumberCheck {
  const id = input.trim().toUpperCase();
  return /^[A-Z0-9]{6,20}$/.test(id) && /[0-9]/.test(id)
    ? { ok: true, value: id }
    : { ok: false, problem: "passport_invalid" };
}

export function checkIdNumber(type: IdType, input: string): IdNumberCheck {
  return type === "resident_id" ? checkResidentId(input) : checkPassport(input);
}

/**
 * What a masked id number shows: only its last four characters, the rest as `*` (a resident
 * id's region and birth date never show). Shorter than 8: everything hidden.
 */
export function maskIdNumber(id: string): string {
  if (id.length < 8) return "*".repeat(Math.max(id.length, 4));
  return `${"*".repeat(id.length - 4)}${id.slice(-4)}`;
}
