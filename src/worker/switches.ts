import type { Context } from "hono";
import { refusalDetails, switchRefusal } from "../db/switches";
import type { SwitchAction } from "../domain/switches";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

/**
 * Refuses the request with the switch's code when a runtime switch in force stops `action`
 * (src/domain/switches.ts). Reads this isolate's cached switch set: no database read unless
 * the copy is older than its TTL.
 */
export async function refuseIfSwitched(c: Context<AppEnv>, action: SwitchAction): Promise<void> {
  const refusal = await switchRefusal(c.var.ledger.control, c.var.config.switchCacheTtlMs, action);
  if (refusal !== null) throw new ApiError(refusal.code, undefined, refusalDetails(refusal));
}
