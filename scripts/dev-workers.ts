/**
 * The two Workers of local development, as `npm start` (scripts/dev.ts) and the browser tests
 * (test/browser/dev-server.ts) run them: the sandbox payment provider (dev/sandbox-provider),
 * then giftwire with its dev entry (dev/giftwire-dev.ts) and a `SANDBOX` service binding to
 * the provider. Two `wrangler dev` processes, each on its own port (the payer's browser
 * opens the provider's checkout sheet, so it needs one; a multi-config `wrangler dev` serves
 * only its first Worker), joined by wrangler's local dev registry, which works offline.
 *
 * giftwire's dev configuration is derived from the production wrangler.toml rather than
 * written by hand: the same bindings, migrations, queues and crons, with three changes — the
 * dev entry as `main`, the SANDBOX service binding, and ENVIRONMENT=development. It is
 * written to .wrangler/dev/giftwire.json on every start (git-ignored), with its paths made
 * absolute, so a binding added to wrangler.toml is in development at once.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { experimental_readRawConfig } from "wrangler";

/** The provider Worker's name (dev/sandbox-provider/wrangler.jsonc); the service binding names it. */
const SANDBOX_WORKER = "giftwire-sandbox-provider";
const SANDBOX_CONFIG = "dev/sandbox-provider/wrangler.jsonc";

interface RawConfig {
  main?: string;
  vars?: Record<string, unknown>;
  services?: unknown[];
  assets?: { directory?: string };
  d1_databases?: { binding?: string; migrations_dir?: string }[];
}

/**
 * Applies the migrations of every D1 database wrangler.toml binds (the control database and
 * each ledger shard) to the local state, printing each step through `onStep`; throws with
 * wrangler's output if one fails.
 */
export function migrateLocalDatabases(
  options: { persistTo?: string; stdio: "inherit" | "pipe" },
  onStep: (message: string) => void = () => {},
): void {
  const raw = experimental_readRawConfig({ config: "wrangler.toml" }).rawConfig as RawConfig;
  const bindings = (raw.d1_databases ?? []).flatMap((d) => (d.binding ? [d.binding] : []));
  for (const [i, binding] of bindings.entries()) {
    onStep(`Applying D1 migrations to the local ${binding} database (${i + 1}/${bindings.length})`);
    const args = ["d1", "migrations", "apply", binding, "--local"];
    if (options.persistTo !== undefined) args.push("--persist-to", options.persistTo);
    const migrate = spawnSync("wrangler", args, {
      encoding: "utf8",
      stdio: options.stdio === "inherit" ? ["ignore", "inherit", "inherit"] : "pipe",
      env: { ...process.env, CI: "1" },
    });
    if (migrate.status !== 0) throw new Error(`migrations of ${binding} failed: ${migrate.stderr ?? "see above"}`);
  }
}

/** Writes giftwire's development configuration and returns its path. */
function writeGiftwireDevConfig(outFile = ".wrangler/dev/giftwire.json"): string {
  const raw = experimental_readRawConfig({ config: "wrangler.toml" }).rawConfig as RawConfig;
  const config: RawConfig = {
    ...raw,
    main: resolve("dev/giftwire-dev.ts"),
    // Loopback webhook endpoints: the demo partner's receiver is this Worker itself (dev/seed-partner.ts).
    vars: { ...raw.vars, ENVIRONMENT: "development", WEBHOOK_ALLOW_LOOPBACK: "true" },
    services: [...(raw.services ?? []), { binding: "SANDBOX", service: SANDBOX_WORKER }],
    ...(raw.assets ? { assets: { ...raw.assets, directory: resolve(raw.assets.directory ?? "public") } } : {}),
    ...(raw.d1_databases
      ? {
          d1_databases: raw.d1_databases.map((d) => ({
            ...d,
            ...(d.migrations_dir ? { migrations_dir: resolve(d.migrations_dir) } : {}),
          })),
        }
      : {}),
  };
  mkdirSync(resolve(outFile, ".."), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(config, null, 2)}\n`);
  return outFile;
}

interface DevWorkersOptions {
  readonly port: number;
  readonly sandboxPort: number;
  /** giftwire's env file (JWT_SECRET, PAYMENT_CHANNELS, PII_KEYS). */
  readonly envFile: string;
  /** The provider's env file (SIGNING_SECRET). */
  readonly sandboxEnvFile: string;
  /** Local state of both Workers (D1, Durable Objects, queues). */
  readonly persistTo: string;
  /** Where the two processes find each other; one per run keeps other checkouts' Workers out. */
  readonly registryPath: string;
  readonly stdio: "inherit" | "pipe";
  /**
   * Inspectors on ports the OS picks as they bind (`--inspector-port 0`), for parallel test
   * runs: wrangler's own choice (9229, else the next free one) is made before binding, so two
   * processes starting at once can pick the same port and one of them fails to start.
   */
  readonly ephemeralInspectors?: boolean;
}

interface DevWorkers {
  readonly url: string;
  readonly sandboxUrl: string;
  readonly processes: readonly ChildProcess[];
  /** Output of both processes so far (with `stdio: "pipe"`), for error messages. */
  output(): string;
  stop(): Promise<void>;
}

async function waitFor(url: string, child: ChildProcess, what: string, output: () => string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${output().slice(-2000)}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not start within ${timeoutMs / 1000} s: ${output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Starts the provider, waits for it, then giftwire (so giftwire finds it registered at once). */
export async function startDevWorkers(options: DevWorkersOptions): Promise<DevWorkers> {
  const url = `http://127.0.0.1:${options.port}`;
  const sandboxUrl = `http://127.0.0.1:${options.sandboxPort}`;
  const env = { ...process.env, CI: "1", WRANGLER_REGISTRY_PATH: options.registryPath };
  let output = "";
  const collect = (child: ChildProcess) => {
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    return child;
  };
  const stdio: ["ignore", "inherit" | "pipe", "inherit" | "pipe"] = ["ignore", options.stdio, options.stdio];
  const common = (port: number, envFile: string) => [
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    options.persistTo,
    "--env-file",
    envFile,
    "--show-interactive-dev-session=false",
    ...(options.ephemeralInspectors ? ["--inspector-port", "0"] : []),
  ];
  const processes: ChildProcess[] = [];
  const stop = async () => {
    for (const child of [...processes].reverse()) {
      if (child.exitCode !== null) continue;
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    }
  };
  try {
    const sandbox = collect(
      spawn(
        "wrangler",
        [
          "dev",
          "--config",
          SANDBOX_CONFIG,
          ...common(options.sandboxPort, options.sandboxEnvFile),
          // The payer links it hands out must point at where it actually listens.
          "--var",
          `PUBLIC_URL:${sandboxUrl}`,
          // Payout callbacks go back to the giftwire it runs beside.
          "--var",
          `PAYOUT_NOTIFY_URL:${url}/v1/payouts/callbacks/sandbox`,
        ],
        { stdio, env },
      ),
    );
    processes.push(sandbox);
    await waitFor(`${sandboxUrl}/pay`, sandbox, "the sandbox provider", () => output, 90_000);
    const giftwire = collect(
      spawn("wrangler", ["dev", "--config", writeGiftwireDevConfig(), ...common(options.port, options.envFile)], {
        stdio,
        env,
      }),
    );
    processes.push(giftwire);
    await waitFor(`${url}/healthz`, giftwire, "giftwire", () => output, 90_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, sandboxUrl, processes, output: () => output, stop };
}
