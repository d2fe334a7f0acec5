import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/**
 * Debian's Chromium, driven by Playwright. Where it is missing, browser tests skip (saying
 * why) on a developer's machine, but fail under CI (`CI=true`, which .ci/run sets): a CI
 * image that lost Chromium must not turn the browser tests green by not running them.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const hasBrowser = existsSync(CHROMIUM);
const inCi = process.env.CI === "true" || process.env.CI === "1";
if (!hasBrowser && inCi) {
  throw new Error(
    `CI=${process.env.CI}: the browser tests need Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH).`,
  );
}
if (!hasBrowser) {
  console.warn(
    `\n  Browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH).\n`,
  );
}

/** Where screenshots go (CI keeps them). */
export const ARTIFACTS = "test-results";

export async function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
