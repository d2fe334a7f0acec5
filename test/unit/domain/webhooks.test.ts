import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  addressKind,
  attemptOutcome,
  checkWebhookUrl,
  failingTooLong,
  judgeResolved,
  newWebhookSecret,
  QUEUE_MAX_DELAY_S,
  signWebhook,
  WEBHOOK_DISABLE_AFTER_MS,
  WEBHOOK_RETRY_SCHEDULE_S,
  webhookDelayS,
  webhookHeaders,
} from "../../../src/domain/webhooks";

describe("Standard Webhooks signatures", () => {
  it("match the specification's test vector", () => {
    expect(
      signWebhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("verify with the independent standardwebhooks package, for any body, and with two secrets during a rotation", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ maxLength: 300 }),
        (a, b, text) => {
          const current = newWebhookSecret(() => a);
          const previous = newWebhookSecret(() => b);
          const body = JSON.stringify({ type: "tip.created", data: { text } });
          const nowS = Math.floor(Date.now() / 1000);
          const headers = webhookHeaders([current, previous], "msg_01JDEM00000000000000000000", nowS, body);
          expect(headers["webhook-signature"]?.split(" ")).toHaveLength(2);
          // Either secret alone verifies: a receiver that has not switched yet keeps working.
          expect(new Webhook(current).verify(body, headers)).toEqual(JSON.parse(body));
          expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body));
          expect(() => new Webhook(current).verify(`${body} `, headers)).toThrow();
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("the retry schedule", () => {
  it("is at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each within one queue delay", () => {
    expect([...WEBHOOK_RETRY_SCHEDULE_S]).toEqual([0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
    expect(Math.max(...WEBHOOK_RETRY_SCHEDULE_S)).toBeLessThanOrEqual(QUEUE_MAX_DELAY_S);
    expect(WEBHOOK_RETRY_SCHEDULE_S.map((_, i) => webhookDelayS(i + 1))).toEqual([...WEBHOOK_RETRY_SCHEDULE_S]);
    expect(webhookDelayS(9)).toBeNull();
  });

  it("counts 2xx as success, 410 as gone, anything else (3xx included) and no answer as failure", () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), (status) => {
        const expected = status >= 200 && status < 300 ? "succeeded" : status === 410 ? "gone" : "failed";
        expect(attemptOutcome(status)).toBe(expected);
      }),
    );
    expect(attemptOutcome(null)).toBe("failed");
    expect(failingTooLong(null, 1e15)).toBe(false);
    expect(failingTooLong(0, WEBHOOK_DISABLE_AFTER_MS - 1)).toBe(false);
    expect(failingTooLong(0, WEBHOOK_DISABLE_AFTER_MS)).toBe(true);
  });
});

describe("endpoint URLs (SSRF)", () => {
  const prod = { allowLoopback: false };
  it("refuse http, credentials, IP literals, localhost; take an https host name", () => {
    expect(checkWebhookUrl("https://hooks.partner.example/x", prod)).toEqual({
      host: "hooks.partner.example",
      loopback: false,
    });
    expect(checkWebhookUrl("http://hooks.partner.example/x", prod)).toBe("url_not_https");
    expect(checkWebhookUrl("https://u:p@hooks.partner.example/x", prod)).toBe("url_credentials");
    for (const url of [
      "https://127.0.0.1/x",
      "https://10.0.0.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/x",
      "https://[fd00::1]/x",
      "https://2130706433/x",
      "https://0x7f000001/x",
      "https://93.184.215.14/x",
    ]) {
      expect(checkWebhookUrl(url, prod), url).toBe("url_ip_literal");
    }
    expect(checkWebhookUrl("https://localhost/x", prod)).toBe("url_localhost");
    expect(checkWebhookUrl("https://a.localhost/x", prod)).toBe("url_localhost");
    expect(checkWebhookUrl("not a url", prod)).toBe("url_malformed");
  });

  it("allow http and loopback only with the development setting, and nothing else private", () => {
    const dev = { allowLoopback: true };
    expect(checkWebhookUrl("http://127.0.0.1:8788/receiver", dev)).toEqual({ host: "127.0.0.1", loopback: true });
    expect(checkWebhookUrl("http://localhost:8788/receiver", dev)).toEqual({ host: "localhost", loopback: true });
    expect(checkWebhookUrl("http://10.0.0.1/x", dev)).toBe("url_not_https");
    expect(checkWebhookUrl("https://10.0.0.1/x", dev)).toBe("url_ip_literal");
  });

  it("classify addresses: only plainly public ones pass", () => {
    const cases: [string, string][] = [
      ["127.0.0.1", "loopback"],
      ["127.8.9.10", "loopback"],
      ["10.0.0.1", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "private"],
      ["169.254.169.254", "link-local"],
      ["0.0.0.0", "reserved"],
      ["224.0.0.1", "reserved"],
      ["::1", "loopback"],
      ["::", "reserved"],
      ["fe80::1", "link-local"],
      ["fd00::1", "unique-local"],
      ["fc12:3456::1", "unique-local"],
      ["::ffff:10.0.0.1", "private"],
      ["::ffff:7f00:1", "loopback"],
      ["64:ff9b::a00:1", "reserved"],
      ["93.184.215.14", "public"],
      ["172.32.0.1", "public"],
      ["2606:4700:4700::1111", "public"],
      ["not an address", "reserved"],
    ];
    for (const [address, kind] of cases) expect(addressKind(address), address).toBe(kind);
  });

  it("refuse a name when any of its addresses is not public, or when it has none", () => {
    expect(judgeResolved(["93.184.215.14"], prod)).toBe("ok");
    expect(judgeResolved(["93.184.215.14", "10.0.0.1"], prod)).toBe("url_private_address");
    expect(judgeResolved(["::1"], prod)).toBe("url_private_address");
    expect(judgeResolved(["::1"], { allowLoopback: true })).toBe("ok");
    expect(judgeResolved(["169.254.169.254"], { allowLoopback: true })).toBe("url_private_address");
    expect(judgeResolved([], prod)).toBe("url_unresolvable");
  });
});
