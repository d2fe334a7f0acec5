/**
 * The sensitive-word list in the control database (`moderation_words`, versioned by
 * `moderation_list_versions`) and the isolate's compiled copy of it, the way the runtime
 * switches are cached (src/db/switches.ts): a text is matched against the copy in memory; the
 * copy asks the version row at most once per TTL and reads and compiles the list again only
 * when it moved. A change shows everywhere within one TTL (`SWITCH_CACHE_TTL_MS`).
 */

import { assert, LIMITS } from "../domain/limits";
import { CompiledWordList, type ListedWord, type ModerationLevel } from "../domain/moderation";

export interface WordRow {
  word: string;
  level: ModerationLevel;
  variants: string;
  created_by: string;
  created_at_ms: number;
}

export interface StoredWord extends ListedWord {
  readonly createdBy: string;
  readonly createdAtMs: number;
}

export function storedWord(row: WordRow): StoredWord {
  const variants = JSON.parse(row.variants) as unknown;
  assert(Array.isArray(variants), "variants are a JSON array");
  return {
    word: row.word,
    level: row.level,
    variants: variants.map(String),
    createdBy: row.created_by,
    createdAtMs: row.created_at_ms,
  };
}

export async function readWordList(control: D1Database): Promise<{ version: number; words: StoredWord[] }> {
  const [version, rows] = await control.batch([
    control.prepare("SELECT version FROM moderation_list_versions WHERE id = 1"),
    control.prepare("SELECT * FROM moderation_words ORDER BY word LIMIT ?").bind(LIMITS.moderationWordsMax),
  ]);
  return {
    version: (version?.results[0] as { version: number } | undefined)?.version ?? 0,
    words: ((rows?.results ?? []) as WordRow[]).map(storedWord),
  };
}

/**
 * The statement that bumps the list's version, right after the change in its batch: only if
 * the change touched a row (`changes()`), so a refused change leaves the version, and its
 * audit entry (conditional on this statement's change) is not written either.
 */
export function bumpListVersion(control: D1Database, nowMs: number): D1PreparedStatement {
  return control
    .prepare(
      `INSERT INTO moderation_list_versions (id, version, changed_at_ms) SELECT 1, 1, ?1 WHERE changes() > 0
       ON CONFLICT (id) DO UPDATE SET version = version + 1, changed_at_ms = excluded.changed_at_ms`,
    )
    .bind(nowMs);
}

interface Copy {
  readonly version: number;
  readonly list: CompiledWordList;
}

/** This isolate's compiled copy (module state: shared by the Worker and the objects of one isolate). */
class WordListCache {
  private copy: Copy | null = null;
  private readAtMs = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<Copy> | null = null;
  /** Reads of the version row or the list (tests count them). */
  loads = 0;

  async current(control: D1Database, ttlMs: number): Promise<CompiledWordList> {
    if (this.copy !== null && Date.now() - this.readAtMs < ttlMs) return this.copy.list;
    this.refreshing ??= this.refresh(control).finally(() => {
      this.refreshing = null;
    });
    return (await this.refreshing).list;
  }

  /** Drops the copy: the next text reads the list again (after a change made in this isolate). */
  forget(): void {
    this.copy = null;
    this.readAtMs = Number.NEGATIVE_INFINITY;
  }

  private async refresh(control: D1Database): Promise<Copy> {
    const startedAtMs = Date.now();
    this.loads += 1;
    if (this.copy !== null) {
      const row = await control
        .prepare("SELECT version FROM moderation_list_versions WHERE id = 1")
        .first<{ version: number }>();
      if ((row?.version ?? 0) === this.copy.version) {
        this.readAtMs = startedAtMs;
        return this.copy;
      }
    }
    const read = await readWordList(control);
    this.copy = { version: read.version, list: new CompiledWordList(read.words) };
    this.readAtMs = startedAtMs;
    return this.copy;
  }
}

export const wordListCache = new WordListCache();

/** The list this isolate's texts are matched against, at most one TTL old. */
export function currentWordList(control: D1Database, ttlMs: number): Promise<CompiledWordList> {
  return wordListCache.current(control, ttlMs);
}
