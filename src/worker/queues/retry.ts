import { retryDelayMs } from "../../domain/retry";

/**
 * The delay before a queue message's next delivery, on its queue's named curve (domain/retry.ts),
 * in the whole seconds a queue counts. `attempts` is the message's own count, from 1.
 */
export function retryDelaySeconds(curve: "roomQueue" | "paymentCallback", attempts: number): number {
  return Math.ceil(retryDelayMs(curve, attempts, Math.random()) / 1000);
}
