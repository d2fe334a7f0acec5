/**
 * wrangler.toml text → wrangler's own raw parse of it (the object `wrangler deploy` starts from).
 * wrangler exports its reader for files only, so the text goes through a temporary file.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { experimental_readRawConfig } from "wrangler";

export function parseWranglerToml(text: string): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), "giftwire-setup-"));
  try {
    const path = join(dir, "wrangler.toml");
    writeFileSync(path, text);
    return experimental_readRawConfig({ config: path }, { useRedirectIfAvailable: false }).rawConfig as Record<
      string,
      unknown
    >;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
