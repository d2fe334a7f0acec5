/**
 * The ledger migration that lets a tip target a content item (issue 19) rebuilds `tips` and
 * `tip_messages` (SQLite cannot drop NOT NULL): the rows written before it survive unchanged
 * with no content, every index is back, and the CHECK admits exactly one target.
 */
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";

const DIR = "migrations/ledger";
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".sql"))
  .sort();
const REBUILD = files.find((f) => /_content_tips\.sql$/.test(f));

function apply(db: DatabaseSync, file: string) {
  for (const statement of readFileSync(`${DIR}/${file}`, "utf8").split("--> statement-breakpoint")) {
    if (statement.trim()) db.exec(statement);
  }
}

const tipColumns = `id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big, platform_minor,
  creator_minor, currency, created_at_ms, platform_bps, schedule_version`;

describe("the content tips migration", () => {
  it("keeps every tip and message written before it, and admits a room or a content item, never both or neither", () => {
    expect(REBUILD).toBeDefined();
    const db = new DatabaseSync(":memory:");
    const before = files.filter((f) => f < (REBUILD as string));
    for (const f of before) apply(db, f);
    db.exec(`INSERT INTO operations (id, kind, currency, amount_minor, transfer_count, state, actor_id, created_at_ms)
      VALUES ('tip_a', 'tip', 'CNY', 880, 2, 'posted', 'u1', 1), ('tip_b', 'tip', 'CNY', 100, 2, 'posted', 'u1', 2),
             ('tip_c', 'tip', 'CNY', 100, 2, 'posted', 'u1', 3), ('tip_d', 'tip', 'CNY', 100, 2, 'posted', 'u1', 4)`);
    db.exec(`INSERT INTO tips (${tipColumns})
      VALUES ('tip_a', 'room_1', 'stream_1', 'u1', 'c1', NULL, 1, 880, 0, 88, 792, 'CNY', 1, 1000, NULL)`);
    db.exec(`INSERT INTO tip_messages (tip_id, room_id, viewer_id, creator_id, text, shown, status, created_at_ms)
      VALUES ('tip_a', 'room_1', 'u1', 'c1', 'hi', 'hi', 'shown', 1)`);
    const tipBefore = db.prepare("SELECT * FROM tips").all();
    const indexesBefore = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tips'").all();

    apply(db, REBUILD as string);

    expect(db.prepare("SELECT * FROM tips").all()).toEqual(tipBefore.map((r) => ({ ...r, content_id: null })));
    expect(db.prepare("SELECT room_id, content_id, text FROM tip_messages").all()).toEqual([
      { room_id: "room_1", content_id: null, text: "hi" },
    ]);
    const indexesAfter = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tips' ORDER BY name")
      .all()
      .map((r) => r.name);
    expect(indexesAfter).toEqual(
      [...indexesBefore.map((r) => r.name), "tips_content_viewer"].sort((a, b) => String(a).localeCompare(String(b))),
    );

    const insert = (id: string, room: string | null, stream: string | null, content: string | null) => () =>
      db
        .prepare(
          `INSERT INTO tips (${tipColumns}, content_id)
           VALUES (?, ?, ?, 'u1', 'c1', NULL, 1, 100, 0, 10, 90, 'CNY', 2, 1000, NULL, ?)`,
        )
        .run(id, room, stream, content);
    expect(insert("tip_b", null, null, "cnt_1")).not.toThrow();
    expect(insert("tip_c", "room_1", "stream_1", "cnt_1")).toThrow(/tips_target/);
    expect(insert("tip_c", null, null, null)).toThrow(/tips_target/);
    expect(insert("tip_d", "room_1", null, null)).toThrow(/tips_target/);
  });
});
