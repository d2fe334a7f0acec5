/**
 * When the provider delivers a callback first. Its resends follow the `sandboxCallback` curve
 * in src/domain/retry.ts, after whose last step it gives up.
 */

export const DEFAULT_DELIVERY_DELAY_MS: readonly [number, number] = [500, 2_000];
