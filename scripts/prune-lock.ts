/**
 * `npm run lock:prune` — run after `npm install` changes package-lock.json.
 *
 * The registry this project installs from carries only some platforms' optional binaries
 * (e.g. no @biomejs/cli-darwin-arm64, no @cloudflare/workerd-windows-64). `npm install`
 * then writes a lockfile whose packages still *list* those optional dependencies without
 * locking them, and `npm ci` refuses it as "not in sync". This removes each optional
 * dependency that the lockfile does not lock, so `npm ci` accepts the file. Nothing that
 * installs on this platform changes.
 */
import { readFileSync, writeFileSync } from "node:fs";

interface LockEntry {
  optionalDependencies?: Record<string, string>;
}

const path = "package-lock.json";
const lock = JSON.parse(readFileSync(path, "utf8")) as { packages: Record<string, LockEntry> };
const locked = new Set(Object.keys(lock.packages));

/** Node's resolution: the dependency in this package's node_modules, or any ancestor's. */
function isLocked(owner: string, name: string): boolean {
  let dir = owner;
  for (;;) {
    const candidate = dir === "" ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (locked.has(candidate)) return true;
    if (dir === "") return false;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut === -1 ? "" : dir.slice(0, cut);
  }
}

let pruned = 0;
for (const [owner, entry] of Object.entries(lock.packages)) {
  for (const name of Object.keys(entry.optionalDependencies ?? {})) {
    if (!isLocked(owner, name)) {
      delete entry.optionalDependencies?.[name];
      pruned++;
    }
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock:prune removed ${pruned} optional dependencies that this registry does not carry`);
