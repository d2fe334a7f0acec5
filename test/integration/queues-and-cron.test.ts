import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../src/domain/limits";
import { createLogger } from "../../src/platform/logger";
import { CRON_JOBS, type CronJob, runCronJobs } from "../../src/worker/cron/jobs";
import worker, { QUEUE_CONSUMERS } from "../../src/worker/index";
import { ALERTS_MAX_RETRIES } from "../../src/worker/queues/alerts";
import { DEAD_LETTER_QUEUES, DEAD_LETTERS_MAX_RETRIES } from "../../src/worker/queues/dead-letters";
import wranglerToml from "../../wrangler.toml?raw";

/** The structured lines the Worker wrote to the console, parsed. */
function consoleLines(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
}

function batchOf(queue: string, bodies: unknown[]) {
  const acked: string[] = [];
  const retried: string[] = [];
  let retriedAll = false;
  const batch = {
    queue,
    messages: bodies.map((body, i) => ({
      id: `msg-${i}`,
      timestamp: new Date(),
      attempts: 1,
      body,
      ack: () => acked.push(`msg-${i}`),
      retry: () => retried.push(`msg-${i}`),
    })),
    ackAll: () => undefined,
    retryAll: () => {
      retriedAll = true;
    },
    // Typed as what the Worker is promised, though the bodies may be anything: that is the point.
  } as unknown as Parameters<typeof worker.queue>[0];
  return { batch, acked, retried, retriedAll: () => retriedAll };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("queue dispatch", () => {
  it("has a consumer for exactly the queues wrangler.toml consumes", () => {
    const consumed = [...wranglerToml.matchAll(/\[\[queues\.consumers\]\]\s*\nqueue = "([^"]+)"/g)].map((m) => m[1]);
    expect(Object.keys(QUEUE_CONSUMERS).sort()).toEqual(consumed.sort());
    // Eight queues (the partner webhooks and business events among them) and each one's dead-letter queue.
    expect(consumed).toHaveLength(16);
  });

  it("gives the alerts consumer the retries its code counts on (the last one records the delivery failed)", () => {
    const block = /queue = "giftwire-alerts"\nmax_batch_size = \d+\nmax_batch_timeout = \d+\nmax_retries = (\d+)/.exec(
      wranglerToml,
    );
    expect(Number(block?.[1])).toBe(ALERTS_MAX_RETRIES);
  });

  it("gives every dead-letter consumer the retries its code counts on", () => {
    for (const queue of DEAD_LETTER_QUEUES) {
      const block = new RegExp(
        `queue = "${queue}"\nmax_batch_size = \\d+\nmax_batch_timeout = \\d+\nmax_retries = (\\d+)`,
      ).exec(wranglerToml);
      expect(Number(block?.[1]), queue).toBe(DEAD_LETTERS_MAX_RETRIES);
    }
  });

  it("dispatches by exact name: a queue whose name only starts like a known one is not consumed as it", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    for (const queue of ["giftwire-ledger-postings-dlq2", "giftwire-payment-callbacks-staging", "giftwire-room"]) {
      const b = batchOf(queue, [{ outboxIds: ["x"] }]);
      await worker.queue(b.batch, env);
      expect(b.retriedAll(), queue).toBe(true);
      expect(b.acked, queue).toEqual([]);
    }
    expect(consoleLines(errors).map((l) => [l.msg, l.queue])).toEqual([
      ["alert_queue_unknown", "giftwire-ledger-postings-dlq2"],
      ["alert_queue_unknown", "giftwire-payment-callbacks-staging"],
      ["alert_queue_unknown", "giftwire-room"],
    ]);
  });

  // The malformed-message policy (queues/malformed.ts): alert with the message, then ack.
  // The dead-letter queues keep whatever they are given (work-queues.test.ts).
  for (const queue of Object.keys(QUEUE_CONSUMERS).filter((q) => !DEAD_LETTER_QUEUES.includes(q))) {
    it(`${queue}: a malformed message is acknowledged after an alert carrying its id and bounded body`, async () => {
      const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
      const huge = { kind: "nonsense", padding: "x".repeat(5_000) };
      const b = batchOf(queue, [huge, "not even an object"]);
      await worker.queue(b.batch, env);
      expect(b.acked).toEqual(["msg-0", "msg-1"]);
      expect(b.retried).toEqual([]);
      const alerts = consoleLines(errors).filter((l) => l.msg === "alert_queue_message_malformed");
      expect(alerts.map((a) => [a.queue, a.messageId, a.attempts])).toEqual([
        [queue, "msg-0", 1],
        [queue, "msg-1", 1],
      ]);
      expect(alerts[0]?.body).toBe(JSON.stringify(huge).slice(0, LIMITS.queueMalformedBodyLoggedMaxBytes));
      expect(alerts[1]?.body).toBe('"not even an object"');
      // A string is refused as a whole (the issue's path is the root), with zod's own words.
      expect(alerts[1]?.issues).toEqual([{ path: "", message: expect.any(String) }]);
    });
  }
});

describe("cron jobs", () => {
  it("are the housekeeping jobs, in order, then each scheduled check and the alerts job", () => {
    expect(CRON_JOBS.map((j) => j.name)).toEqual([
      "transit-sweep",
      "room-outbox-sweep",
      "red-packet-sweep",
      "idempotency-purge",
      "room-outbox-purge",
      "payment-sweep",
      "reversal-sweep",
      "held-tip-sweep",
      "settlement",
      "payout-sweep",
      "business-event-sweep",
      "payment-records-purge",
      "proposal-expiry",
      "dashboard-rollup",
      "ledger-archive",
      "audit-anchor",
      "check:channels",
      "check:stuck",
      "check:red-packets",
      "check:ledger",
      "check:statements",
      "alerts",
    ]);
  });

  it("run in isolation: a job that throws raises an alert with its name and the others still run", async () => {
    const ran: string[] = [];
    const job = (name: string, result: unknown): CronJob => ({
      name,
      run: async () => {
        ran.push(name);
        return result;
      },
    });
    const jobs: CronJob[] = [
      job("first", 1),
      {
        name: "broken",
        run: async () => {
          ran.push("broken");
          throw new Error("D1 is down");
        },
      },
      job("last", { swept: 2 }),
    ];
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const infos = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const report = await runCronJobs(jobs, env, Date.now(), createLogger({ cron: "test" }));
    expect(ran).toEqual(["first", "broken", "last"]);
    expect(report).toEqual({ done: { first: 1, last: { swept: 2 } }, failed: ["broken"] });
    expect(consoleLines(errors).map((l) => [l.level, l.msg, l.job, l.error])).toEqual([
      ["error", "alert_cron_job_failed", "broken", "Error: D1 is down"],
    ]);
    const summary = consoleLines(infos).map(({ ts: _ts, ...line }) => line);
    expect(summary).toEqual([
      { level: "info", msg: "housekeeping", cron: "test", first: 1, last: { swept: 2 }, failed: ["broken"] },
    ]);
  });

  it("the scheduled handler runs every job and reports none failed on an empty database", async () => {
    const infos = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const now = Date.now();
    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "* * * * *" }), env);
    const housekeeping = consoleLines(infos).find((l) => l.msg === "housekeeping");
    expect(housekeeping?.failed).toEqual([]);
    expect(Object.keys(housekeeping ?? {}).filter((k) => CRON_JOBS.some((j) => j.name === k))).toEqual(
      CRON_JOBS.map((j) => j.name),
    );
  });
});
