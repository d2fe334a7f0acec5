import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BUSINESS_EVENT_TYPES,
  BUSINESS_EVENT_VERSION,
  businessEvent,
  businessEventId,
  safeParseBusinessEvent,
} from "../../../src/domain/business-events";

const paid = {
  orderId: "order_1",
  orderKind: "topup" as const,
  userId: "u1",
  channel: "sandbox",
  currency: "CNY",
  amountMinor: 1880,
  roomId: null,
  tipId: null,
  packetId: null,
  contentId: null,
  unlockId: null,
  succeededAtMs: 1_700_000_000_000,
};

describe("business event envelopes", () => {
  it("name each fact once: the id is the type and the fact's id, whatever else differs", () => {
    fc.assert(
      fc.property(fc.constantFrom(...BUSINESS_EVENT_TYPES), fc.stringMatching(/^[a-z0-9_]{1,40}$/), (type, factId) => {
        expect(businessEventId(type, factId)).toBe(`${type}:${factId}`);
      }),
    );
    const a = businessEvent("payment.succeeded", "order_1", 5, paid, {});
    const b = businessEvent("payment.succeeded", "order_1", 9, { ...paid, succeededAtMs: 9 }, { roomId: "r" });
    expect(a.id).toBe(b.id);
    expect(a).toEqual({
      v: BUSINESS_EVENT_VERSION,
      id: "payment.succeeded:order_1",
      type: "payment.succeeded",
      factId: "order_1",
      occurredAtMs: 5,
      creatorId: null,
      roomId: null,
      data: paid,
    });
  });

  it("refuses an envelope whose id is not type:factId, an unknown type, a newer version, bad data", () => {
    const good = businessEvent("payment.succeeded", "order_1", 5, paid, {});
    expect(safeParseBusinessEvent(good).success).toBe(true);
    const refused = [
      { ...good, id: "payment.succeeded:order_2" },
      { ...good, type: "payment.exploded", id: "payment.exploded:order_1" },
      { ...good, v: 2 },
      { ...good, data: { ...paid, amountMinor: 18.8 } },
      { ...good, data: { ...paid, amountMinor: "1880" } },
      { ...good, extra: true },
      null,
      "payment.succeeded",
    ];
    for (const value of refused) expect(safeParseBusinessEvent(value).success, JSON.stringify(value)).toBe(false);
    expect(() => businessEvent("payment.succeeded", "order_1", 5, { ...paid, userId: "no spaces" }, {})).toThrow();
  });

  it("payment.succeeded names every order kind, and an unknown kind is refused", () => {
    for (const orderKind of ["topup", "tip", "packet", "unlock"] as const) {
      const event = businessEvent("payment.succeeded", "order_1", 5, { ...paid, orderKind }, {});
      expect(safeParseBusinessEvent(event).success).toBe(true);
    }
    const good = businessEvent("payment.succeeded", "order_1", 5, paid, {});
    expect(safeParseBusinessEvent({ ...good, data: { ...paid, orderKind: "gift" } }).success).toBe(false);
    // A message of the first producers (no packetId, contentId, unlockId) still parses, with nulls.
    const { packetId: _p, contentId: _c, unlockId: _u, ...before } = paid;
    const old = safeParseBusinessEvent({ ...good, data: before });
    expect(old.success && old.data.data).toEqual(paid);
  });

  it("unlock.created and winnings_withdrawal.paid envelopes check their data", () => {
    const unlock = {
      unlockId: "unl_1",
      contentId: "cnt_1",
      userId: "u1",
      creatorId: "c1",
      currency: "CNY",
      amountMinor: 600,
      platformMinor: 180,
      creatorMinor: 420,
      orderId: null,
      createdAtMs: 5,
    };
    const made = businessEvent("unlock.created", "unl_1", 5, unlock, { creatorId: "c1" });
    expect(made).toMatchObject({ id: "unlock.created:unl_1", creatorId: "c1", data: unlock });
    expect(() => businessEvent("unlock.created", "unl_1", 5, { ...unlock, amountMinor: -1 }, {})).toThrow();
    const winnings = {
      withdrawalId: "wd_1",
      userId: "u1",
      currency: "CNY",
      amountMinor: 1000,
      feeMinor: 0,
      channel: "sandbox",
      paidAtMs: 5,
    };
    expect(businessEvent("winnings_withdrawal.paid", "wd_1", 5, winnings, {}).id).toBe("winnings_withdrawal.paid:wd_1");
    const { userId: _u, ...noUser } = winnings;
    expect(() => businessEvent("winnings_withdrawal.paid", "wd_1", 5, noUser as typeof winnings, {})).toThrow();
  });
});
