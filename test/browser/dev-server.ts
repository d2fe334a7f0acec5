import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateLocalDatabases, startDevWorkers } from "../../scripts/dev-workers.ts";

/**
 * What `npm start` runs — the sandbox provider and giftwire's dev entry, two `wrangler dev`
 * processes (workerd, local D1, Durable Objects, queues) — on free ports with their own
 * fresh state directory and dev registry, for browser tests.
 */
export interface DevServer {
  url: string;
  sandboxUrl: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** What `POST /v1/dev/seed` answers (the demo's room and its users' tokens). */
export interface DemoSeed {
  roomId: string;
  users: { userId: string; token: string }[];
}

/**
 * Seeds the demo on a dev server (`POST /v1/dev/seed`, what `npm start` does). A seed that
 * does not answer 200 with JSON throws with its status and body, so a suite whose start-up
 * failed says why rather than skipping its tests on a JSON parse error.
 */
export async function seedDemoServer<T = DemoSeed>(url: string): Promise<T> {
  const res = await fetch(`${url}/v1/dev/seed`, { method: "POST" });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /v1/dev/seed answered ${res.status}: ${text.slice(0, 4000)}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`POST /v1/dev/seed answered 200 with no JSON: ${text.slice(0, 4000)}`);
  }
}

export async function startDevServer(): Promise<DevServer> {
  const state = mkdtempSync(join(tmpdir(), "giftwire-browser-"));
  const secret = "browser-sandbox-secret-0123";
  const envFile = join(state, "dev.vars");
  writeFileSync(
    envFile,
    "JWT_SECRET=browser-test-secret-browser-test-secret-0123\n" +
      `PAYMENT_CHANNELS=${JSON.stringify({ sandbox: { secret, merchantId: "giftwire-sandbox" } })}\n` +
      `PII_KEYS=${JSON.stringify({ current: "k1", keys: { k1: btoa("browser-test-pii-key-0123456789!") } })}\n`,
  );
  const sandboxEnvFile = join(state, "sandbox.vars");
  writeFileSync(sandboxEnvFile, `SIGNING_SECRET=${secret}\n`);
  migrateLocalDatabases({ persistTo: state, stdio: "pipe" });
  const workers = await startDevWorkers({
    port: await freePort(),
    sandboxPort: await freePort(),
    envFile,
    sandboxEnvFile,
    persistTo: state,
    registryPath: join(state, "registry"),
    stdio: "pipe",
    ephemeralInspectors: true,
  });
  return {
    url: workers.url,
    sandboxUrl: workers.sandboxUrl,
    async stop() {
      await workers.stop();
      rmSync(state, { recursive: true, force: true });
    },
  };
}
