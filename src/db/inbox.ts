/**
 * The creator's inbox in the ledger shards and its settings in the control database: storing
 * a notice once (by its deterministic id), listing, counting and marking read; the kinds a
 * creator muted; the operators' template overrides. Rendering is domain/notices.ts's, at read.
 */

import type { AuditAction } from "../domain/audit-chain";
import type { CreatorNotice, NoticeKind, NoticeLocale, Template } from "../domain/notices";
import { DEFAULT_TEMPLATES, isNoticeKind, NOTICE_KINDS } from "../domain/notices";
import { batchWithAuditEntry } from "./audit";

/** The statement storing a notice: a second delivery of the same id changes nothing. */
export function insertNotice(db: D1Database, notice: CreatorNotice): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO inbox_messages (id, creator_id, kind, vars, created_at_ms, read_at_ms)
       VALUES (?, ?, ?, ?, ?, NULL)`,
    )
    .bind(notice.id, notice.creatorId, notice.kind, JSON.stringify(notice.vars), notice.atMs);
}

export interface InboxRow {
  id: string;
  kind: string;
  vars: unknown;
  createdAtMs: number;
  readAtMs: number | null;
}

/** `{createdAtMs}:{id}` of the last row shown: the next page starts strictly after it (newest first). */
export interface InboxCursor {
  createdAtMs: number;
  id: string;
}

export function encodeInboxCursor(c: InboxCursor): string {
  return `${c.createdAtMs}:${c.id}`;
}

export function decodeInboxCursor(text: string): InboxCursor | null {
  const m = /^(\d{1,16}):(.{1,200})$/.exec(text);
  return m ? { createdAtMs: Number(m[1]), id: m[2] ?? "" } : null;
}

/** One page of a creator's inbox, newest first, and the cursor of the next (null at the end). */
export async function inboxPage(
  db: D1Database,
  creatorId: string,
  after: InboxCursor | null,
  limit: number,
): Promise<{ rows: InboxRow[]; next: InboxCursor | null }> {
  const { results } = await db
    .prepare(
      `SELECT id, kind, vars, created_at_ms AS createdAtMs, read_at_ms AS readAtMs FROM inbox_messages
       WHERE creator_id = ?1 AND (?2 IS NULL OR created_at_ms < ?2 OR (created_at_ms = ?2 AND id < ?3))
       ORDER BY created_at_ms DESC, id DESC LIMIT ?4`,
    )
    .bind(creatorId, after?.createdAtMs ?? null, after?.id ?? "", limit + 1)
    .all<Omit<InboxRow, "vars"> & { vars: string }>();
  const rows = results.slice(0, limit).map((r) => ({ ...r, vars: JSON.parse(r.vars) as unknown }));
  const last = rows.at(-1);
  return { rows, next: results.length > limit && last ? { createdAtMs: last.createdAtMs, id: last.id } : null };
}

export async function unreadCount(db: D1Database, creatorId: string): Promise<number> {
  const n = await db
    .prepare("SELECT COUNT(*) AS n FROM inbox_messages WHERE creator_id = ? AND read_at_ms IS NULL")
    .bind(creatorId)
    .first<number>("n");
  return n ?? 0;
}

/** Marks the creator's own messages read (`ids`, or every unread one); returns how many changed. */
export async function markRead(
  db: D1Database,
  creatorId: string,
  ids: readonly string[] | "all",
  nowMs: number,
): Promise<number> {
  if (ids !== "all" && ids.length === 0) return 0;
  const filter = ids === "all" ? "" : ` AND id IN (${ids.map((_, i) => `?${i + 3}`).join(", ")})`;
  const result = await db
    .prepare(`UPDATE inbox_messages SET read_at_ms = ?1 WHERE creator_id = ?2 AND read_at_ms IS NULL${filter}`)
    .bind(nowMs, creatorId, ...(ids === "all" ? [] : ids))
    .run();
  return result.meta.changes;
}

/** The kinds each creator muted, as `creator\u0000kind` keys (one read for a whole queue batch). */
export async function mutedKeys(control: D1Database, creatorIds: readonly string[]): Promise<Set<string>> {
  const keys = new Set<string>();
  // 100 bound parameters per statement at most.
  for (let i = 0; i < creatorIds.length; i += 90) {
    const chunk = creatorIds.slice(i, i + 90);
    const { results } = await control
      .prepare(
        `SELECT creator_id AS creatorId, kind FROM creator_notification_mutes WHERE creator_id IN (${chunk.map(() => "?").join(", ")})`,
      )
      .bind(...chunk)
      .all<{ creatorId: string; kind: string }>();
    for (const r of results) keys.add(`${r.creatorId}\u0000${r.kind}`);
  }
  return keys;
}

export async function mutedKinds(control: D1Database, creatorId: string): Promise<NoticeKind[]> {
  const { results } = await control
    .prepare("SELECT kind FROM creator_notification_mutes WHERE creator_id = ? ORDER BY kind")
    .bind(creatorId)
    .all<{ kind: string }>();
  return results.map((r) => r.kind).filter(isNoticeKind);
}

/** Replaces the creator's mutes with exactly `kinds`, in one batch. */
export async function setMutedKinds(
  control: D1Database,
  creatorId: string,
  kinds: readonly NoticeKind[],
  nowMs: number,
): Promise<void> {
  const statements = [control.prepare("DELETE FROM creator_notification_mutes WHERE creator_id = ?").bind(creatorId)];
  for (const kind of new Set(kinds)) {
    statements.push(
      control
        .prepare("INSERT INTO creator_notification_mutes (creator_id, kind, muted_at_ms) VALUES (?, ?, ?)")
        .bind(creatorId, kind, nowMs),
    );
  }
  await control.batch(statements);
}

export interface TemplateView extends Template {
  kind: NoticeKind;
  locale: NoticeLocale;
  source: "default" | "override";
  updatedBy: string | null;
  updatedAtMs: number | null;
}

/** The template in force for each kind in `locale`: the operators' row, else the built-in default. */
export async function templatesFor(control: D1Database, locale: NoticeLocale): Promise<Map<NoticeKind, TemplateView>> {
  const { results } = await control
    .prepare(
      "SELECT kind, title, body, updated_by AS updatedBy, updated_at_ms AS updatedAtMs FROM notification_templates WHERE locale = ?",
    )
    .bind(locale)
    .all<{ kind: string; title: string; body: string; updatedBy: string; updatedAtMs: number }>();
  const views = new Map<NoticeKind, TemplateView>();
  for (const kind of NOTICE_KINDS) {
    views.set(kind, {
      kind,
      locale,
      ...DEFAULT_TEMPLATES[kind][locale],
      source: "default",
      updatedBy: null,
      updatedAtMs: null,
    });
  }
  for (const r of results) {
    if (!isNoticeKind(r.kind)) continue;
    views.set(r.kind, {
      kind: r.kind,
      locale,
      title: r.title,
      body: r.body,
      source: "override",
      updatedBy: r.updatedBy,
      updatedAtMs: r.updatedAtMs,
    });
  }
  return views;
}

export async function putTemplate(
  control: D1Database,
  kind: NoticeKind,
  locale: NoticeLocale,
  template: Template,
  actorId: string,
  nowMs: number,
  audit?: AuditAction,
): Promise<void> {
  const upsert = control
    .prepare(
      `INSERT INTO notification_templates (kind, locale, title, body, updated_by, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind, locale) DO UPDATE SET title = excluded.title, body = excluded.body,
         updated_by = excluded.updated_by, updated_at_ms = excluded.updated_at_ms`,
    )
    .bind(kind, locale, template.title, template.body, actorId, nowMs);
  if (audit === undefined) await upsert.run();
  else await batchWithAuditEntry(control, audit, [upsert]);
}

/** The creator's locale (creators.locale), or null without a creator row. */
export async function creatorLocale(control: D1Database, creatorId: string): Promise<string | null> {
  return control.prepare("SELECT locale FROM creators WHERE user_id = ?").bind(creatorId).first<string>("locale");
}
