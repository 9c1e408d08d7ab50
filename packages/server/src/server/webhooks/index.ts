/**
 * Webhooks: the audit log's events, POSTed to the HTTPS endpoints an operator registered for their types, signed
 * as Standard Webhooks say (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">` under the endpoint's `whsec_` secret, shown once at creation and kept wrapped under the
 * key-encryption key when one is configured).
 *
 * At least once, never on the request's path: recording an event writes one delivery per subscribed endpoint to
 * the outbox in the store (collection `webhook-outbox`), which is all the request waits for. A worker in every
 * instance takes due deliveries with a lease, POSTs with a timeout, and on anything but a 2xx schedules the next
 * attempt by the retry delays (5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 12 h by default), then gives up
 * (`failed`). Every attempt is written to the endpoint's history (collection `webhook-deliveries:<endpoint id>`,
 * newest first), which the admin API and the CLI show and the purge trims to the newest {@link MAX_HISTORY}
 * and to the retention; a delivery still pending is never trimmed.
 *
 * Targets: HTTPS only unless `REVOCABLE_WEBHOOKS_ALLOW_HTTP`; loopback, private, link-local and other
 * non-public addresses are refused unless `REVOCABLE_WEBHOOKS_ALLOW_PRIVATE`, checked on the address each
 * delivery connects to (so a name that resolves to one later is refused too). Redirects are not followed.
 *
 * @example
 * const webhooks = createWebhooks({ store, settings: config.webhooks, retentionMs, metrics: metrics.webhooks, log: () => app.log, present: auditView })
 * const audit = createAudit({ ..., onRecorded: webhooks.enqueue })
 * webhooks.start(config.purgeIntervalMs)
 * const { endpoint, secret } = await webhooks.endpoints.create("https://hooks.example/revocable", ["session.revoked"])
 * await audit.record(endpointEvent("webhook.created", endpoint, "admin"))
 */
import type { AuditEvent, ServerStore } from "revocable/stores"
import type { AuditLogger, AuditType } from "../audit.ts"
import { storeNow } from "../keystore.ts"
import type { ServerMetrics } from "../metrics.ts"
import { createWorker } from "./delivery.ts"
import { endpointRegistry, type WebhookEndpoints } from "./endpoints.ts"
import { countPending, putDelivery, trimHistory } from "./outbox.ts"
import type { Resolve } from "./address-guard.ts"
import type { WebhookSettings } from "./delivery-settings.ts"

export { checkTarget, isPublic } from "./address-guard.ts"
export { endpointEvent, type WebhookEndpoint, type WebhookEndpoints } from "./endpoints.ts"
export { MAX_HISTORY, type DeliveryStatus, type WebhookDelivery } from "./outbox.ts"
export { DEFAULT_RETRY_DELAYS_MS, retryDelays, type WebhookSettings } from "./delivery-settings.ts"
export { signature } from "./standard-signature.ts"

export interface Webhooks {
  endpoints: WebhookEndpoints
  /** Writes the event's deliveries to the outbox (what the recording request waits for) and wakes the worker if started. Never rejects. */
  enqueue(event: AuditEvent): Promise<void>
  /**
   * Trims each endpoint's history: past its newest {@link MAX_HISTORY} deliveries, and those that finished more
   * than the retention before `now`; resolves how many went.
   */
  purge(now: number): Promise<number>
  /**
   * Starts the worker: a pass now, then whenever an attempt falls due or the poll interval passes; and the
   * history's purge every `purgeIntervalMs` (null: never).
   */
  start(purgeIntervalMs?: number | null): void
  /** Stops the worker and waits for the deliveries in flight. */
  stop(): Promise<void>
}

export interface WebhookOptions {
  store: ServerStore
  settings: WebhookSettings
  /** How long a finished delivery stays in its endpoint's history: the audit log's, as long as its event. */
  retentionMs: number
  log: () => AuditLogger
  /** The event as the admin API shows it: the payload's `data`. */
  present: (event: AuditEvent) => unknown
  /** Each attempt's outcome is counted there, and the outbox's backlog read from here when scraped; none in the CLI. */
  metrics?: ServerMetrics["webhooks"]
  /** How often the worker looks for deliveries enqueued by other instances, or left by a stopped one. */
  pollMs?: number
  /** Resolves the targets' names for delivery. Default dns.lookup; tests give names of their own. */
  resolve?: Resolve
}

export function createWebhooks(options: WebhookOptions): Webhooks {
  const { store, log, metrics } = options
  if (!(options.retentionMs > 0)) throw new TypeError("createWebhooks: retentionMs must be a positive number of milliseconds.")
  const registry = endpointRegistry(store, options.settings)
  const worker = createWorker({ store, settings: options.settings, log, metrics, pollMs: options.pollMs ?? 5_000, record: registry.record, resolve: options.resolve })
  metrics?.backlog(() => countPending(store))
  let purgeTimer: NodeJS.Timeout | undefined

  async function enqueue(event: AuditEvent): Promise<void> {
    try {
      // Read on every event, not cached: an endpoint registered on any instance counts from its next event.
      const targets = (await registry.records()).filter((endpoint) => endpoint.events.includes(event.type as AuditType))
      if (targets.length === 0) return
      const body = JSON.stringify({ type: event.type, timestamp: new Date(event.at).toISOString(), data: options.present(event) })
      const now = await storeNow(store)
      await Promise.all(targets.map((endpoint) => putDelivery(store, log, endpoint.id, event, body, now)))
      // Where no worker runs (the CLI), the servers' workers find them.
      worker.wake()
    } catch (error) {
      log().error({ err: error, type: event.type, event: event.id }, "webhook deliveries not enqueued")
    }
  }

  async function purge(now: number): Promise<number> {
    let removed = 0
    for (const endpoint of await registry.records()) removed += await trimHistory(store, endpoint.id, now - options.retentionMs)
    return removed
  }

  return {
    endpoints: registry.endpoints,
    enqueue,
    purge,
    start(purgeIntervalMs = null) {
      worker.start()
      if (purgeIntervalMs === null) return
      purgeTimer = setInterval(() => {
        storeNow(store)
          .then(purge)
          .catch((error: unknown) => log().error({ err: error }, "webhook history purge failed"))
      }, purgeIntervalMs)
      purgeTimer.unref()
    },
    async stop() {
      clearInterval(purgeTimer)
      await worker.stop()
    },
  }
}
