import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEAD_LETTER_QUEUES, REPLAY_TARGETS } from "../../../src/worker/queues/dead-letters";

const toml = readFileSync("wrangler.toml", "utf8");

/** Each `[[queues.consumers]]` block's queue and its `dead_letter_queue` (if any). */
function consumers(): { queue: string; dlq: string | null }[] {
  return toml
    .split("[[queues.consumers]]")
    .slice(1)
    .map((block) => {
      const body = block.split(/\n\[/)[0] ?? "";
      const queue = /^queue = "([^"]+)"/m.exec(body)?.[1];
      expect(queue, body).toBeDefined();
      return { queue: queue ?? "", dlq: /^dead_letter_queue = "([^"]+)"/m.exec(body)?.[1] ?? null };
    });
}

describe("dead-letter queues against wrangler.toml", () => {
  it("handles every dead_letter_queue a consumer names, and nothing else", () => {
    const named = consumers()
      .map((c) => c.dlq)
      .filter((q): q is string => q !== null);
    expect(named.length).toBeGreaterThanOrEqual(8);
    expect([...DEAD_LETTER_QUEUES].sort()).toEqual([...named].sort());
  });

  it("consumes every dead-letter queue (a DLQ nobody reads hides its messages)", () => {
    const consumed = new Set(consumers().map((c) => c.queue));
    for (const dlq of DEAD_LETTER_QUEUES) expect(consumed.has(dlq), dlq).toBe(true);
  });

  it("replays each dead letter to the binding that produces its original queue", () => {
    for (const [queue, binding] of Object.entries(REPLAY_TARGETS)) {
      expect(toml, queue).toMatch(
        new RegExp(`\\[\\[queues\\.producers\\]\\]\\nbinding = "${binding}"\\nqueue = "${queue}"\\n`),
      );
    }
  });
});
