import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { launchChromium } from "./chromium";
import { type DemoSeed, type DevServer, seedDemoServer, startDevServer } from "./dev-server";

export type { DemoSeed };

/**
 * The console's browser tests' start-up, shared: what `npm start` runs (a fresh dev server),
 * seeded once, and Chromium. Registers the suite's beforeAll/afterAll; `call` is the API as a
 * seeded user, `open` a page as one (its token in `?token=`), in a context closed at the end.
 */
export function useConsole(setupTimeoutMs = 300_000) {
  let server: DevServer | undefined;
  let browser: Browser | undefined;
  let demo: DemoSeed | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    server = await startDevServer();
    demo = await seedDemoServer(server.url);
    browser = await launchChromium();
  }, setupTimeoutMs);

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
  });

  const started = () => {
    if (!server || !browser || !demo) throw new Error("the console fixture has not started (beforeAll failed?)");
    return { server, browser, demo };
  };
  const tokenOf = (userId: string) => {
    const user = started().demo.users.find((u) => u.userId === userId);
    if (!user) throw new Error(`the seed has no user ${userId}`);
    return user.token;
  };

  return {
    get url() {
      return started().server.url;
    },
    get seed() {
      return started().demo;
    },
    tokenOf,

    /** The API as a seeded user, with a fresh Idempotency-Key. */
    async call(method: string, path: string, as: string, body?: unknown): Promise<{ status: number; data: any }> {
      const res = await fetch(`${started().server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${tokenOf(as)}`,
          "content-type": "application/json",
          "idempotency-key": crypto.randomUUID(),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, data: await res.json() };
    },

    /**
     * A console page as a seeded user (null: with no token, as a stranger), at a width (1280 px
     * unless told); the page's errors collected.
     */
    async open(as: string | null, path: string, width = 1280, height = 900): Promise<{ page: Page; errors: string[] }> {
      const context = await started().browser.newContext({ viewport: { width, height } });
      contexts.push(context);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      const [where = "", hash] = path.split("#");
      const token = as === null ? "" : `${where.includes("?") ? "&" : "?"}token=${tokenOf(as)}`;
      const address = `${where}${token}${hash ? `#${hash}` : ""}`;
      await page.goto(`${started().server.url}${address}`);
      return { page, errors };
    },
  };
}
