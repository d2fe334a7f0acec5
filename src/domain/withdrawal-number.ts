import { isId } from "./ids";
import { assert } from "./limits";

/**
 * A withdrawal's channel number: its id without the underscore (`wd_01JD…` → `wd01JD…`, 28
 * characters of digits and letters). Channels take digits and letters only, at most 32
 * (WeChat `out_bill_no`), and the number is the channel's idempotency key, so it is derived,
 * never stored apart: the same withdrawal always sends the same number, and a number read
 * back from a callback or a query names exactly one withdrawal (`withdrawalIdOf`).
 */
export function withdrawalNumber(withdrawalId: string): string {
  assert(isId("wd", withdrawalId), "a withdrawal id");
  return withdrawalId.replace("_", "");
}

/** The withdrawal a channel number (or a withdrawal id itself) names; null for anything else. */
export function withdrawalIdOf(numberOrId: string): string | null {
  if (isId("wd", numberOrId)) return numberOrId;
  const match = /^wd([0-9A-Z]{26})$/.exec(numberOrId);
  if (!match) return null;
  const id = `wd_${match[1]}`;
  return isId("wd", id) ? id : null;
}
