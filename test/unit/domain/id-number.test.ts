import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkIdNumber,
  checkPassport,
  checkResidentId,
  maskIdNumber,
  residentIdCheckChar,
} from "../../../src/domain/id-number";

const problem = (id: string) => {
  const r = checkResidentId(id);
  return r.ok ? "ok" : r.problem;
};

/** 17 digits of a plausible card: a region code not starting with 0, a real birth date, a sequence. */
const residentBody = fc
  .record({
    region: fc.integer({ min: 100_000, max: 999_999 }),
    birth: fc.date({
      min: new Date("1900-01-01T00:00:00Z"),
      max: new Date("2099-12-31T00:00:00Z"),
      noInvalidDate: true,
    }),
    sequence: fc.integer({ min: 0, max: 999 }),
  })
  .map(({ region, birth, sequence }) => {
    const ymd = birth.toISOString().slice(0, 10).replaceAll("-", "");
    return `${region}${ymd}${String(sequence).padStart(3, "0")}`;
  });
const residentId = residentBody.map((body) => body + residentIdCheckChar(body));
const ID_CHARS = "0123456789X";

describe("PRC resident ID numbers", () => {
  it("accept published examples and compute their ISO 7064 MOD 11-2 check characters", () => {
    expect(problem("11010519491231002X")).toBe("ok");
    // The standard's other example is born in 1880: a check digit right, a birth year before 1900 refused.
    expect(problem("440524188001010014")).toBe("resident_id_birth_date");
    expect(residentIdCheckChar("11010519491231002")).toBe("X");
    expect(residentIdCheckChar("44052418800101001")).toBe("4");
    // The lower-case x people type, and stray spaces, normalise.
    expect(checkResidentId(" 11010519491231002x ")).toEqual({ ok: true, value: "11010519491231002X" });
  });

  it("say which rule a number breaks", () => {
    expect(problem("1101051949123100")).toBe("resident_id_length");
    expect(problem("11010519491231002Y")).toBe("resident_id_characters");
    expect(problem("1101051949X231002X")).toBe("resident_id_characters");
    expect(problem("01010519491231002X")).toBe("resident_id_region");
    expect(problem("110105194902300020")).toBe("resident_id_birth_date");
    expect(problem("110105189912310020")).toBe("resident_id_birth_date");
    expect(problem("110105194913010020")).toBe("resident_id_birth_date");
    expect(problem("110105194912310021")).toBe("resident_id_check_digit");
    // 29 February only in leap years (2000 was one, 1900 was not).
    const leap = "11010520000229001";
    expect(problem(leap + residentIdCheckChar(leap))).toBe("ok");
    const notLeap = "11010519000229001";
    expect(problem(notLeap + residentIdCheckChar(notLeap))).toBe("resident_id_birth_date");
  });

  it("accept every body with its own check character", () => {
    fc.assert(
      fc.property(residentId, (id) => {
        expect(problem(id)).toBe("ok");
      }),
    );
  });

  it("refuse every single-character substitution (MOD 11-2 catches them all)", () => {
    fc.assert(
      fc.property(residentId, fc.nat(17), fc.constantFrom(...ID_CHARS), (id, at, ch) => {
        fc.pre(id.charAt(at) !== ch);
        expect(problem(id.slice(0, at) + ch + id.slice(at + 1))).not.toBe("ok");
      }),
    );
  });

  it("refuse every transposition of two different adjacent characters", () => {
    fc.assert(
      fc.property(residentId, fc.nat(16), (id, at) => {
        fc.pre(id.charAt(at) !== id.charAt(at + 1));
        const swapped = id.slice(0, at) + id.charAt(at + 1) + id.charAt(at) + id.slice(at + 2);
        expect(problem(swapped)).not.toBe("ok");
      }),
    );
  });
});

describe("passport-style numbers", () => {
  it("take 6-20 letters and digits with at least one digit, upper-cased", () => {
    expect(checkPassport("e12345678")).toEqual({ ok: true, value: "E12345678" });
    expect(checkIdNumber("passport", "K1234567")).toEqual({ ok: true, value: "K1234567" });
    expect(checkPassport("ABCDEFGH")).toEqual({ ok: false, problem: "passport_invalid" });
    expect(checkPassport("E1234")).toEqual({ ok: false, problem: "passport_invalid" });
    expect(checkPassport("E1234-5678")).toEqual({ ok: false, problem: "passport_invalid" });
    expect(checkIdNumber("resident_id", "E12345678")).toEqual({ ok: false, problem: "resident_id_length" });
  });
});

describe("masked ID numbers", () => {
  it("show only the last four characters and keep the length", () => {
    expect(maskIdNumber("11010519491231002X")).toBe("**************002X");
    expect(maskIdNumber("E12345678")).toBe("*****5678");
    expect(maskIdNumber("K12345")).toBe("******");
    fc.assert(
      fc.property(residentId, (id) => {
        const masked = maskIdNumber(id);
        expect(masked).toHaveLength(18);
        expect(masked.slice(0, 14)).toBe("*".repeat(14));
        expect(masked.slice(14)).toBe(id.slice(14));
      }),
    );
  });
});
