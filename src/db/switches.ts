/**
 * Runtime switches in the control database (tables `runtime_switches`, `switch_versions`) and
 * the isolate's cached copy of them, shared by the Worker and the Durable Objects of one
 * isolate. A decision on the hot path (a tip, a claim) reads the copy; the copy asks the
 * version row at most once per TTL and reads the set again only when it moved.
 *
 * `applySwitchChange` is the one place a switch is set or cleared: the admin route calls it
 * now, the four-eyes approval will call it on approval.
 */

import { fail, ok, type Result } from "../domain/errors";
import { LIMITS } from "../domain/limits";
import {
  parseScopeKey,
  refusalFor,
  type Switch,
  type SwitchAction,
  SwitchCache,
  type SwitchKind,
  type SwitchLoader,
  type SwitchRefusal,
  type SwitchScope,
  type SwitchSnapshot,
  scopeKey,
  switchShapeError,
} from "../domain/switches";

interface SwitchRow {
  kind: SwitchKind;
  scope: string;
  value: number | null;
  reason: string;
  set_by: string;
  set_at_ms: number;
  expires_at_ms: number | null;
}

function switchOf(row: SwitchRow): Switch {
  const scope = parseScopeKey(row.scope);
  if (scope === null) throw new Error(`runtime_switches has an unreadable scope ${row.scope}`);
  return {
    kind: row.kind,
    scope,
    value: row.value,
    reason: row.reason,
    setBy: row.set_by,
    setAtMs: row.set_at_ms,
    expiresAtMs: row.expires_at_ms,
  };
}

/** Reads the whole set with its version (one batch: the two agree). */
export async function readSwitches(control: D1Database): Promise<SwitchSnapshot> {
  const [version, rows] = await control.batch([
    control.prepare("SELECT version FROM switch_versions WHERE id = 1"),
    control.prepare("SELECT * FROM runtime_switches ORDER BY kind, scope LIMIT ?").bind(LIMITS.switchesMax),
  ]);
  return {
    version: (version?.results[0] as { version: number } | undefined)?.version ?? 0,
    switches: ((rows?.results ?? []) as SwitchRow[]).map(switchOf),
  };
}

function loaderFor(control: D1Database): SwitchLoader {
  return async (known) => {
    if (known !== null) {
      const row = await control
        .prepare("SELECT version FROM switch_versions WHERE id = 1")
        .first<{ version: number }>();
      if ((row?.version ?? 0) === known) return "unchanged";
    }
    return readSwitches(control);
  };
}

/** This isolate's copy (module state: one per isolate, shared by its Worker and its objects). */
export const switchCache = new SwitchCache(() => Date.now());

/** The switches in force for this isolate's decisions, at most one TTL old. */
export async function currentSwitches(control: D1Database, ttlMs: number): Promise<readonly Switch[]> {
  return (await switchCache.current(loaderFor(control), ttlMs)).switches;
}

export type SwitchChange =
  | {
      readonly op: "set";
      readonly kind: SwitchKind;
      readonly scope: SwitchScope;
      readonly value: number | null;
      readonly reason: string;
      readonly actorId: string;
      readonly expiresAtMs: number | null;
    }
  | { readonly op: "clear"; readonly kind: SwitchKind; readonly scope: SwitchScope; readonly actorId: string };

export interface SwitchChangeApplied {
  readonly before: Switch | null;
  readonly after: Switch | null;
  /** The set's version after the change. */
  readonly version: number;
  /** Every isolate honours the change by then (LIMITS.switchPropagationMaxMs after it committed). */
  readonly effectiveByMs: number;
}

/**
 * Sets or clears one switch, and bumps the set's version in the same batch. Setting an
 * existing kind and scope replaces it (its reason, value and expiry); clearing one that is
 * not set answers `switch_not_found`. Returns the switch before and after (for the audit).
 */
export async function applySwitchChange(
  control: D1Database,
  change: SwitchChange,
  nowMs: number,
): Promise<Result<SwitchChangeApplied, "malformed_request" | "switch_not_found" | "conflict">> {
  const key = scopeKey(change.scope);
  const before = control.prepare("SELECT * FROM runtime_switches WHERE kind = ? AND scope = ?").bind(change.kind, key);
  const bump = (onlyIf: string) =>
    control
      .prepare(
        `INSERT INTO switch_versions (id, version, changed_at_ms) SELECT 1, 1, ?1 WHERE ${onlyIf}
         ON CONFLICT (id) DO UPDATE SET version = version + 1, changed_at_ms = excluded.changed_at_ms
         RETURNING version`,
      )
      .bind(nowMs, change.kind, key);
  if (change.op === "set") {
    const shape = switchShapeError(change.kind, change.scope, change.value);
    if (shape !== null) return fail("malformed_request", shape);
    if (change.expiresAtMs !== null && change.expiresAtMs <= nowMs) {
      return fail("malformed_request", "A switch's expiry is in the future.");
    }
    // A new switch beyond the most there may be is refused (replacing one is always allowed).
    const room = `(SELECT COUNT(*) FROM runtime_switches) < ${LIMITS.switchesMax}
      OR EXISTS (SELECT 1 FROM runtime_switches WHERE kind = ?2 AND scope = ?3)`;
    const [was, , bumped] = await control.batch([
      before,
      control
        .prepare(
          `INSERT INTO runtime_switches (kind, scope, value, reason, set_by, set_at_ms, expires_at_ms)
           SELECT ?2, ?3, ?4, ?5, ?6, ?1, ?7 WHERE ${room}
           ON CONFLICT (kind, scope) DO UPDATE SET value = excluded.value, reason = excluded.reason,
             set_by = excluded.set_by, set_at_ms = excluded.set_at_ms, expires_at_ms = excluded.expires_at_ms`,
        )
        .bind(nowMs, change.kind, key, change.value, change.reason, change.actorId, change.expiresAtMs),
      control
        .prepare(
          `INSERT INTO switch_versions (id, version, changed_at_ms)
           SELECT 1, 1, ?1 WHERE EXISTS (SELECT 1 FROM runtime_switches WHERE kind = ?2 AND scope = ?3 AND set_at_ms = ?1)
           ON CONFLICT (id) DO UPDATE SET version = version + 1, changed_at_ms = excluded.changed_at_ms
           RETURNING version`,
        )
        .bind(nowMs, change.kind, key),
    ]);
    const version = (bumped?.results[0] as { version: number } | undefined)?.version;
    if (version === undefined) return fail("conflict", `At most ${LIMITS.switchesMax} switches may be set at once.`);
    const prior = (was?.results[0] as SwitchRow | undefined) ?? null;
    return ok({
      before: prior === null ? null : switchOf(prior),
      after: {
        kind: change.kind,
        scope: change.scope,
        value: change.value,
        reason: change.reason,
        setBy: change.actorId,
        setAtMs: nowMs,
        expiresAtMs: change.expiresAtMs,
      },
      version,
      effectiveByMs: nowMs + LIMITS.switchPropagationMaxMs,
    });
  }
  const [was, bumped] = await control.batch([
    before,
    bump("EXISTS (SELECT 1 FROM runtime_switches WHERE kind = ?2 AND scope = ?3)"),
    control.prepare("DELETE FROM runtime_switches WHERE kind = ? AND scope = ?").bind(change.kind, key),
  ]);
  const prior = (was?.results[0] as SwitchRow | undefined) ?? null;
  const version = (bumped?.results[0] as { version: number } | undefined)?.version;
  if (prior === null || version === undefined) return fail("switch_not_found");
  return ok({ before: switchOf(prior), after: null, version, effectiveByMs: nowMs + LIMITS.switchPropagationMaxMs });
}

/** The refusal of `action` by a switch in force in this isolate now, or null. */
export async function switchRefusal(
  control: D1Database,
  ttlMs: number,
  action: SwitchAction,
  nowMs: number = Date.now(),
): Promise<SwitchRefusal | null> {
  return refusalFor(await currentSwitches(control, ttlMs), action, nowMs);
}

/** What a refused caller is told about the switch (never its reason or who set it: those are operators'). */
export function refusalDetails(refusal: SwitchRefusal): {
  switch: { kind: SwitchKind; scope: string; expiresAtMs: number | null };
} {
  const s = refusal.switch;
  return { switch: { kind: s.kind, scope: scopeKey(s.scope), expiresAtMs: s.expiresAtMs } };
}
