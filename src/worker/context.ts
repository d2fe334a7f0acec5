import type { Operator } from "../db/operators";
import type { Ledger } from "../db/shards";
import type { Permission } from "../domain/permissions";
import type { Config } from "../platform/config";
import type { Logger } from "../platform/logger";
import type { Principal } from "./auth/jwt";
import type { PartnerCaller } from "./middleware/partner-auth";
import type { FourEyesDeclaration } from "./proposals";

/** What every request carries through the Hono app: bindings, and the per-request variables. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    /** The control database and the ledger shards, with the bucket map (src/db/shards.ts). */
    ledger: Ledger;
    log: Logger;
    principal: Principal;
    /** The calling operator (null: not one), once an operator check resolved it (middleware/auth.ts). */
    operator: Operator | null | undefined;
    /** The permission the operator route declares (set by its gate; four-eyes records it). */
    permission: Permission | undefined;
    /** The route's four-eyes declaration (routes/define.ts); `fourEyes` proposes only under one. */
    fourEyes: FourEyesDeclaration | undefined;
    /** The partner and API key of a /v1/partner route (middleware/partner-auth.ts). */
    partner: PartnerCaller;
  };
}
