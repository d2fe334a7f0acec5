/**
 * When the provider delivers: the default delay, and the retry schedule (tests assert on it).
 * After the schedule's last step the provider gives up on a callback.
 */

export const DEFAULT_DELIVERY_DELAY_MS: readonly [number, number] = [500, 2_000];

/**
 * After the n-th unacknowledged attempt, the next one comes this much later. A real
 * provider's schedule (WeChat Pay: 15 s, 15 s, 30 s, 3 m, 10 m, 20 m, 30 m … over 24 h)
 * compressed so a demo or a test sees the whole story in minutes.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [2_000, 5_000, 15_000, 30_000, 60_000, 300_000, 600_000];
