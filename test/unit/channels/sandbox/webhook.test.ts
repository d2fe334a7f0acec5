import { describe, expect, it } from "vitest";
import { signSandbox } from "../../../../dev/sandbox-provider/src/signature";
import { sandbox } from "../../../../src/channels/sandbox/webhook";
import { call, NOW, refused } from "../../../support/channels";

describe("sandbox channel", () => {
  const adapter = sandbox({ secret: "sandbox-secret", merchantId: "giftwire-sandbox" });
  const body = JSON.stringify({
    id: "evt_sandbox1",
    type: "payment.succeeded",
    merchant_id: "giftwire-sandbox",
    order_no: "order_04",
    txn_id: "sbx_1",
    amount_minor: 660,
    currency: "CNY",
  });

  it("accepts its own signature and refuses a forged one", async () => {
    const good = await call(adapter, body, { "sandbox-signature": await signSandbox("sandbox-secret", body, NOW) });
    expect(good.ok && good.notification.event).toMatchObject({
      kind: "payment",
      amountMinor: 660,
      providerTxnId: "sbx_1",
    });
    const forged = await call(adapter, body, { "sandbox-signature": await signSandbox("guess", body, NOW) });
    expect(refused(forged)).toBe("bad_signature");
    const tampered = await call(adapter, body.replace("660", "960"), {
      "sandbox-signature": await signSandbox("sandbox-secret", body, NOW),
    });
    expect(refused(tampered)).toBe("bad_signature");
  });
});
