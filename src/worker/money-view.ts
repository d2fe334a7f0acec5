import { formatMinor } from "../domain/money";

/** Every amount in a response is given both exactly (`…Minor`) and for display. */
export function money(amountMinor: number) {
  return { amountMinor, amount: formatMinor(amountMinor) };
}
