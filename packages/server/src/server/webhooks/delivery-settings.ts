// The webhook settings (REVOCABLE_WEBHOOKS_*), which config.ts reads.
import { duration, fail, type Raw } from "../setting-values.ts"

export interface WebhookSettings {
  /** Plain-HTTP endpoints (tests, development). */
  allowHttp: boolean
  /** Loopback, private-network and link-local targets (tests, an internal receiver). */
  allowPrivate: boolean
  /** The wait before each retry; after the last one fails, the delivery is `failed`. */
  retryDelaysMs: number[]
  /** How long one POST may take, connection to the end of the answer. */
  timeoutMs: number
}

export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000]

/** REVOCABLE_WEBHOOKS_RETRY: comma-separated durations, e.g. "5s,30s,2m". */
export function retryDelays(value: Raw): number[] {
  if (typeof value !== "string" && !Array.isArray(value)) return fail('must be durations separated by commas, such as "5s,30s,2m,10m,1h".')
  const parts = (Array.isArray(value) ? value : value.split(",")).map((part) => part.trim())
  if (parts.length === 0 || parts.length > 100) fail("must list 1 to 100 durations.")
  return parts.map(duration(10, 7 * 86_400_000))
}
