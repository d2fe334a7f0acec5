import type { Config } from "../platform/config";
import type { Logger } from "../platform/logger";
import type { Principal } from "./auth/jwt";

/** What every request carries through the Hono app: bindings, and the per-request variables. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    log: Logger;
    principal: Principal;
  };
}
