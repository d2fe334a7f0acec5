import { describe, expect, it } from "vitest";
import {
  bucketNamesFrom,
  databaseIdsFrom,
  queueNamesFrom,
  secretNamesFrom,
} from "../../../../scripts/setup-deploy/wrangler-output.ts";
import { cliTable } from "./fake-wrangler.ts";

const BANNER = "\n ⛅️ wrangler 4.164.0\n────────────────────\n";

describe("reading `wrangler d1 list --json`", () => {
  const listed = JSON.stringify(
    [
      {
        uuid: "a1",
        name: "giftwire-control",
        created_at: "2026-11-20T08:00:00Z",
        version: "production",
        num_tables: 9,
      },
      {
        uuid: "b2",
        name: "giftwire-ledger-0",
        created_at: "2026-11-20T08:00:00Z",
        version: "production",
        num_tables: 0,
      },
    ],
    null,
    2,
  );

  it("maps each database's name to its id", () => {
    expect(databaseIdsFrom(listed)).toEqual(
      new Map([
        ["giftwire-control", "a1"],
        ["giftwire-ledger-0", "b2"],
      ]),
    );
  });

  it("skips lines printed before the JSON, and reads an empty account", () => {
    expect(databaseIdsFrom(`${BANNER}${listed}`)?.get("giftwire-ledger-0")).toBe("b2");
    expect(databaseIdsFrom("[]\n")).toEqual(new Map());
  });

  it("answers undefined for output that is not the list", () => {
    expect(databaseIdsFrom(BANNER)).toBeUndefined();
    expect(databaseIdsFrom('[{"name":"giftwire-control"}]')).toBeUndefined();
    expect(databaseIdsFrom("[not json")).toBeUndefined();
  });
});

describe("reading `wrangler queues list`", () => {
  // The table exactly as wrangler 4.164 draws it (logger.table → cli-table3, no colour off a terminal).
  const page = `${BANNER}┌──────────────────────────────────┬──────────────────────┬─────────────────────────────┬─────────────────────────────┬───────────┬───────────┐
│ id                               │ name                 │ created_on                  │ modified_on                 │ producers │ consumers │
├──────────────────────────────────┼──────────────────────┼─────────────────────────────┼─────────────────────────────┼───────────┼───────────┤
│ 9d2c1a0c4e6f4b8fa1d2e3f405a6b7c8 │ giftwire-room-events │ 2026-11-20T08:00:00.000000Z │ 2026-11-20T08:00:00.000000Z │ 1         │ 1         │
├──────────────────────────────────┼──────────────────────┼─────────────────────────────┼─────────────────────────────┼───────────┼───────────┤
│ 0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7 │ other-app-jobs       │ 2026-11-20T08:00:00.000000Z │ 2026-11-20T08:00:00.000000Z │ 0         │ 0         │
└──────────────────────────────────┴──────────────────────┴─────────────────────────────┴─────────────────────────────┴───────────┴───────────┘
`;

  it("reads the name column of each row", () => {
    expect(queueNamesFrom(page)).toEqual(["giftwire-room-events", "other-app-jobs"]);
  });

  it("finds the name column by its header, wherever it is (a jurisdiction column is added when any queue has one)", () => {
    const table = cliTable([{ id: "q1", name: "giftwire-ledger-postings", jurisdiction: "eu", created_on: "x" }]);
    expect(queueNamesFrom(`${BANNER}${table}\n`)).toEqual(["giftwire-ledger-postings"]);
  });

  it("reads a page past the last (an empty table, printed as an empty line) as no queues", () => {
    expect(queueNamesFrom(`${BANNER}\n`)).toEqual([]);
  });

  it("answers undefined for output that is not a queue table", () => {
    expect(queueNamesFrom(`${BANNER}Something else entirely\n`)).toBeUndefined();
    expect(queueNamesFrom(`${BANNER}${cliTable([{ id: "q1", queue: "x" }])}\n`)).toBeUndefined();
  });

  it("ignores colour codes, as printed when FORCE_COLOR is set", () => {
    const coloured = page.replace("│ name", "│ \u001b[34mname\u001b[39m");
    expect(queueNamesFrom(coloured)).toEqual(["giftwire-room-events", "other-app-jobs"]);
  });
});

describe("reading `wrangler r2 bucket list`", () => {
  it("reads the name of each bucket block", () => {
    const out = `${BANNER}Listing buckets...\nname:           giftwire-ledger-archive\ncreation_date:  2026-11-20T08:00:00.000Z\n\nname:           media\ncreation_date:  2026-01-02T08:00:00.000Z\n`;
    expect(bucketNamesFrom(out)).toEqual(["giftwire-ledger-archive", "media"]);
  });

  it("reads an account without buckets, and refuses output it does not know", () => {
    expect(bucketNamesFrom(`${BANNER}Listing buckets...\n\n`)).toEqual([]);
    expect(bucketNamesFrom(`${BANNER}name: x\n`)).toBeUndefined();
  });
});

describe("reading `wrangler secret list --format json`", () => {
  it("reads the secrets' names", () => {
    const out = JSON.stringify([{ name: "JWT_SECRET", type: "secret_text" }], null, "  ");
    expect(secretNamesFrom(out)).toEqual(new Set(["JWT_SECRET"]));
    expect(secretNamesFrom("[]")).toEqual(new Set());
    expect(secretNamesFrom("Secret Name: JWT_SECRET")).toBeUndefined();
  });
});
