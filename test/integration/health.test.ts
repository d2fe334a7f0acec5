import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /healthz", () => {
  it("answers ok with a request id and touches no money", async () => {
    const res = await exports.default.fetch("https://giftwire.test/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", version: expect.any(String) });
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });
});
