import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CreatorNotice,
  DEFAULT_TEMPLATES,
  NOTICE_KINDS,
  NOTICE_LOCALES,
  noticeLocaleOf,
  renderNotice,
  templateVariables,
  validateTemplate,
  yuan,
} from "../../../src/domain/notices";

describe("notice templates", () => {
  it("ships a default for every kind in every locale, using only the kind's variables", () => {
    for (const kind of NOTICE_KINDS) {
      for (const locale of NOTICE_LOCALES) {
        expect(validateTemplate(kind, DEFAULT_TEMPLATES[kind][locale]).ok, `${kind} ${locale}`).toBe(true);
      }
    }
  });

  it("names each kind's placeholders", () => {
    expect(Object.fromEntries(NOTICE_KINDS.map((k) => [k, templateVariables(k)]))).toEqual({
      tips_merged: ["gifts", "tips", "amount", "time", "room"],
      big_gift: ["viewer", "gift", "quantity", "amount", "time", "room"],
      settlement_done: ["day", "tips", "gross", "net"],
      withdrawal_state: ["withdrawal", "state", "amount", "reason", "reasonNote"],
      verification_result: ["result", "reason", "reasonNote"],
    });
  });

  it("refuses unknown, empty and spaced placeholders with one stable code, naming them", () => {
    const refused = validateTemplate("tips_merged", { title: "{}", body: "{gifts} {amuont} { amount }" });
    expect(refused).toMatchObject({ ok: false, code: "template_variable_unknown" });
    expect(!refused.ok && refused.message).toContain("{}, {amuont}, { amount }");
    // A lone brace is text, not a placeholder.
    expect(validateTemplate("tips_merged", { title: "a { b", body: "} {gifts}" }).ok).toBe(true);
  });

  it("renders money as ¥ with two decimals and times in the business zone", () => {
    const out = renderNotice(
      "tips_merged",
      {
        roomId: "r",
        minuteStartMs: Date.parse("2026-11-22T15:59:00Z"),
        tipCount: 2,
        giftCount: 23,
        grossMinor: 18_800,
      },
      DEFAULT_TEMPLATES.tips_merged.en,
      { locale: "en", timeZone: "Asia/Shanghai" },
    );
    expect(out).toEqual({ title: "Tips this minute", body: "23 gifts, ¥188.00 in the last minute (2026-11-22 23:59)" });
    expect([yuan(0), yuan(5), yuan(123_456_789)]).toEqual(["¥0.00", "¥0.05", "¥1234567.89"]);
  });

  it("renders nothing for variables it cannot read (a row from a newer producer)", () => {
    expect(
      renderNotice("settlement_done", { day: 5 }, DEFAULT_TEMPLATES.settlement_done.en, {
        locale: "en",
        timeZone: "UTC",
      }),
    ).toBeNull();
  });

  it("leaves no placeholder unfilled for any valid variables (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 10 ** 11 }),
        fc.constantFrom(...NOTICE_LOCALES),
        (count, grossMinor, locale) => {
          const out = renderNotice(
            "tips_merged",
            { roomId: "r", minuteStartMs: 0, tipCount: count, giftCount: count, grossMinor },
            DEFAULT_TEMPLATES.tips_merged[locale],
            { locale, timeZone: "Asia/Shanghai" },
          );
          expect(out?.body).not.toMatch(/\{[^{}]*\}/);
          expect(out?.body).toContain(yuan(grossMinor));
        },
      ),
    );
  });

  it("falls back to zh-CN for an unknown locale", () => {
    expect([noticeLocaleOf("en"), noticeLocaleOf("fr"), noticeLocaleOf(null)]).toEqual(["en", "zh-CN", "zh-CN"]);
  });

  it("checks a notice's variables against its kind", () => {
    const base = { id: "x", creatorId: "c-1", atMs: 1 };
    expect(
      CreatorNotice.safeParse({
        ...base,
        kind: "withdrawal_state",
        vars: { withdrawalId: "w", state: "paid", amountMinor: 1, reason: null },
      }).success,
    ).toBe(true);
    expect(
      CreatorNotice.safeParse({
        ...base,
        kind: "withdrawal_state",
        vars: { withdrawalId: "w", state: "lost", amountMinor: 1, reason: null },
      }).success,
    ).toBe(false);
    expect(CreatorNotice.safeParse({ ...base, kind: "nonsense", vars: {} }).success).toBe(false);
  });
});
