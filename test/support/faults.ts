/**
 * Bindings that fail on cue, to stop a multi-step job at a chosen point the way a crash or a
 * lost response would, and check that running it again continues correctly.
 */

export type FaultMode =
  /** The call is not made: nothing reaches storage. */
  | "before"
  /** The call completes, then the caller gets an error (it died before hearing back). */
  | "after";

export class InjectedFault extends Error {
  override name = "InjectedFault";
}

/** A D1 binding whose `nth` `batch()` call (1-based) fails. */
export function failingBatch(db: D1Database, nth: number, mode: FaultMode): D1Database {
  let calls = 0;
  return new Proxy(db, {
    get(target, property) {
      if (property === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          calls += 1;
          if (calls !== nth) return target.batch(statements);
          if (mode === "after") await target.batch(statements);
          throw new InjectedFault(`batch ${nth} failed ${mode} running`);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** An R2 binding whose `nth` `put()` call (1-based) fails. */
export function failingPut(bucket: R2Bucket, nth: number, mode: FaultMode): R2Bucket {
  let calls = 0;
  return new Proxy(bucket, {
    get(target, property) {
      if (property === "put") {
        return async (...args: Parameters<R2Bucket["put"]>) => {
          calls += 1;
          if (calls !== nth) return target.put(...args);
          if (mode === "after") await target.put(...args);
          throw new InjectedFault(`put ${nth} failed ${mode} storing`);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * A D1 binding whose statements starting with `sqlPrefix` fail when run while `fails()` says
 * so (the statement is not run: a crash before it reached storage).
 */
export function failingStatements(db: D1Database, sqlPrefix: string, fails: () => boolean): D1Database {
  const wrap = <T extends object>(target: T, override: (property: string | symbol) => unknown): T =>
    new Proxy(target, {
      get(t, property) {
        const replaced = override(property);
        if (replaced !== undefined) return replaced;
        const value = Reflect.get(t, property);
        return typeof value === "function" ? value.bind(t) : value;
      },
    });
  return wrap(db, (property) =>
    property !== "prepare"
      ? undefined
      : (sql: string) => {
          const statement = db.prepare(sql);
          if (!sql.trimStart().startsWith(sqlPrefix)) return statement;
          return wrap(statement, (p) =>
            p !== "bind"
              ? undefined
              : (...args: unknown[]) =>
                  wrap(statement.bind(...args), (q) =>
                    q === "run" && fails()
                      ? () => Promise.reject(new InjectedFault(`${sqlPrefix} failed before running`))
                      : undefined,
                  ),
          );
        },
  );
}
