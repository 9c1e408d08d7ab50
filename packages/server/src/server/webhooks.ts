/**
 * Webhooks: the audit log's events, POSTed to the HTTPS endpoints an operator registered for their types, signed
 * as Standard Webhooks say (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">` under the endpoint's `whsec_` secret, shown once at creation).
 *
 * At least once, never on the request's path: recording an event writes one delivery per subscribed endpoint to
 * the outbox in the store (collection `webhook-outbox`), which is all the request waits for. A worker in every
 * instance takes due deliveries with a lease (a compare-and-set on the delivery's document, so that two instances
 * do not send it at once), POSTs with a timeout, and on anything but a 2xx schedules the next attempt by the retry
 * delays (5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 12 h by default), then gives up (`failed`). Every attempt is
 * written to the endpoint's history (collection `webhook-deliveries:<endpoint id>`, newest first), which the
 * admin API and the CLI show.
 *
 * Targets: HTTPS only unless `REVOCABLE_WEBHOOKS_ALLOW_HTTP`; loopback, private, link-local and other
 * non-public addresses are refused unless `REVOCABLE_WEBHOOKS_ALLOW_PRIVATE`, checked on the address each
 * delivery connects to (so a name that resolves to one later is refused too). Redirects are not followed.
 *
 * @example
 * const webhooks = createWebhooks({ store, settings: config.webhooks, log: () => app.log, present: auditView })
 * const { endpoint, secret } = await webhooks.endpoints.create("https://hooks.example/revocable", ["session.revoked"])
 * const audit = createAudit({ ..., onRecorded: webhooks.enqueue })
 * webhooks.start()
 */
import { createHmac, randomBytes } from "node:crypto"
import { lookup as dnsLookup, type LookupAddress } from "node:dns"
import { request as httpRequest, type IncomingMessage } from "node:http"
import { request as httpsRequest } from "node:https"
import { BlockList, isIP, type LookupFunction } from "node:net"
import { AuthError, randomId } from "revocable"
import { storeOperation, type AuditEvent, type Page, type ServerStore } from "revocable/stores"
import { AUDIT_TYPES, type AuditLogger, type AuditType } from "./audit.ts"
import { storeNow } from "./keystore.ts"
import { duration, fail, type Raw } from "./setting-values.ts"

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

export interface WebhookEndpoint {
  id: string
  url: string
  events: AuditType[]
  createdAt: number
}

interface EndpointRecord extends WebhookEndpoint {
  /** `whsec_<base64>`: the store keeps it, since every delivery is signed with it. */
  secret: string
}

export type DeliveryStatus = "pending" | "delivered" | "failed"

/** One event for one endpoint, as the endpoint's history shows it. */
export interface WebhookDelivery {
  /** The `webhook-id`: the same on every attempt, so that the receiver can drop repeats. */
  id: string
  endpointId: string
  eventId: string
  eventType: string
  status: DeliveryStatus
  attempts: number
  createdAt: number
  lastAttemptAt: number | null
  /** The HTTP status of the last answer; null when there was none (refused, timed out). */
  lastStatus: number | null
  lastError: string | null
  /** When the next attempt is due; null once delivered or failed. */
  nextAttemptAt: number | null
}

/** A delivery in the outbox: the history's fields, the body sent on every attempt, and the lease. */
interface OutboxEntry extends WebhookDelivery {
  body: string
  /** Until when the instance that took it may be sending it (ms, the store's clock); 0 when no one holds it. */
  leaseUntil: number
}

export interface WebhookEndpoints {
  /** Registers an endpoint; its secret is in the answer and, besides the store, nowhere else. */
  create(url: string, events: readonly string[]): Promise<{ endpoint: WebhookEndpoint; secret: string }>
  list(): Promise<WebhookEndpoint[]>
  find(id: string): Promise<WebhookEndpoint | null>
  /** Removes the endpoint, its pending deliveries and its history; false when there was none. */
  remove(id: string): Promise<boolean>
  /** The endpoint's deliveries, newest first. */
  deliveries(id: string, query: { cursor?: string | null | undefined; limit: number }): Promise<Page<WebhookDelivery>>
}

export interface Webhooks {
  endpoints: WebhookEndpoints
  /** Writes the event's deliveries to the outbox (what the recording request waits for) and wakes the worker if started. Never rejects. */
  enqueue(event: AuditEvent): Promise<void>
  /** Trims each endpoint's history to its newest {@link MAX_HISTORY} deliveries; resolves how many went. */
  purge(): Promise<number>
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
  log: () => AuditLogger
  /** The event as the admin API shows it: the payload's `data`. */
  present: (event: AuditEvent) => unknown
  /** How often the worker looks for deliveries enqueued by other instances, or left by a stopped one. */
  pollMs?: number
}

const ENDPOINTS = "webhooks"
const OUTBOX = "webhook-outbox"
const history = (endpointId: string) => `webhook-deliveries:${endpointId}`
const MAX_ENDPOINTS = 100
/** Deliveries kept per endpoint: a bound that the purge enforces by reading one page, whatever the traffic. */
export const MAX_HISTORY = 1000
const MAX_URL = 2048
const PAGE = 100
/** Sends in flight per instance: a slow receiver holds one of them, not the others' deliveries. */
const CONCURRENCY = 8
/** Of an answer's body, only this much is read (and then dropped): a receiver cannot make us buffer more. */
const MAX_ANSWER = 64 * 1024
const LAST_TIME = 9_999_999_999_999

export function createWebhooks(options: WebhookOptions): Webhooks {
  const { store, settings, log } = options
  const pollMs = options.pollMs ?? 5_000
  const leaseMs = settings.timeoutMs + 60_000
  const inFlight = new Map<string, Promise<void>>()
  let timer: NodeJS.Timeout | undefined
  /** When the timer fires (Date.now()); Infinity when none is set. */
  let timerAt = Number.POSITIVE_INFINITY
  let purgeTimer: NodeJS.Timeout | undefined
  let running: Promise<void> | null = null
  let again = false
  /** The last pass left due deliveries for want of a free slot: the next send to finish runs another. */
  let saturated = false
  let started = false

  async function records(): Promise<EndpointRecord[]> {
    const found: EndpointRecord[] = []
    let cursor: string | null = null
    do {
      const page: Page<{ json: string }> = await storeOperation(() => store.listDocuments(ENDPOINTS, { cursor, limit: PAGE }))
      for (const item of page.items) found.push(JSON.parse(item.json) as EndpointRecord)
      cursor = page.next
    } while (cursor !== null)
    return found
  }

  async function record(id: unknown): Promise<EndpointRecord | null> {
    if (typeof id !== "string" || !/^wh_[\w-]{22}$/.test(id)) return null
    const text = await storeOperation(() => store.getDocument(ENDPOINTS, id))
    return text === null ? null : (JSON.parse(text) as EndpointRecord)
  }

  /** Writes the delivery's state to its endpoint's history; a failure there is logged, never a lost delivery. */
  async function remember(entry: OutboxEntry): Promise<void> {
    const { body: _, leaseUntil: __, ...delivery } = entry
    try {
      await store.putDocument(history(entry.endpointId), historyId(entry), JSON.stringify(delivery))
    } catch (error) {
      log().error({ err: error, delivery: entry.id }, "webhook history not stored")
    }
  }

  const endpoints: WebhookEndpoints = {
    async create(url, events) {
      const target = checkTarget(url, settings)
      const types = eventTypes(events)
      if ((await records()).length >= MAX_ENDPOINTS) throw new AuthError("invalid_request", `At most ${MAX_ENDPOINTS} webhook endpoints.`)
      const secret = `whsec_${randomBytes(32).toString("base64")}`
      const endpoint: WebhookEndpoint = { id: `wh_${randomId()}`, url: target.href, events: types, createdAt: Date.now() }
      await storeOperation(() => store.putDocument(ENDPOINTS, endpoint.id, JSON.stringify({ ...endpoint, secret }), null))
      return { endpoint, secret }
    },
    async list() {
      return (await records()).map(view)
    },
    async find(id) {
      const found = await record(id)
      return found && view(found)
    },
    async remove(id) {
      if ((await record(id)) === null) return false
      const removed = await storeOperation(() => store.deleteDocument(ENDPOINTS, id))
      // Its pending deliveries are dropped by the worker, which finds no endpoint; its history goes now.
      let page: Page<{ id: string }>
      do {
        page = await storeOperation(() => store.listDocuments(history(id), { limit: PAGE }))
        for (const item of page.items) await storeOperation(() => store.deleteDocument(history(id), item.id))
      } while (page.items.length > 0)
      return removed
    },
    async deliveries(id, query) {
      const page = await storeOperation(() => store.listDocuments(history(id), query))
      return { items: page.items.map((item) => JSON.parse(item.json) as WebhookDelivery), next: page.next }
    },
  }

  async function enqueue(event: AuditEvent): Promise<void> {
    try {
      // Read on every event, not cached: an endpoint registered on any instance counts from its next event.
      const targets = (await records()).filter((endpoint) => endpoint.events.includes(event.type as AuditType))
      if (targets.length === 0) return
      const body = JSON.stringify({ type: event.type, timestamp: new Date(event.at).toISOString(), data: options.present(event) })
      const now = await storeNow(store)
      await Promise.all(
        targets.map(async (endpoint) => {
          const entry: OutboxEntry = {
            id: `msg_${randomId()}`,
            endpointId: endpoint.id,
            eventId: event.id,
            eventType: event.type,
            status: "pending",
            attempts: 0,
            createdAt: now,
            lastAttemptAt: null,
            lastStatus: null,
            lastError: null,
            nextAttemptAt: now,
            body,
            leaseUntil: 0,
          }
          await store.putDocument(OUTBOX, entry.id, JSON.stringify(entry), null)
          await remember(entry)
        }),
      )
      // Where no worker runs (the CLI), the servers' workers find them.
      if (started) wake()
    } catch (error) {
      log().error({ err: error, type: event.type, event: event.id }, "webhook deliveries not enqueued")
    }
  }

  /** Takes a due entry unless another instance took it since it was read: resolves the leased text, or null. */
  async function lease(entry: OutboxEntry, text: string, now: number): Promise<string | null> {
    const leased = JSON.stringify({ ...entry, leaseUntil: now + leaseMs })
    return (await store.putDocument(OUTBOX, entry.id, leased, text)) ? leased : null
  }

  async function attempt(entry: OutboxEntry, leasedText: string): Promise<void> {
    const endpoint = await record(entry.endpointId)
    if (endpoint === null) {
      // Removed with its history: nothing to send, nothing to show.
      await store.deleteDocument(OUTBOX, entry.id)
      return
    }
    const sent = await post(endpoint, entry, settings)
    const now = await storeNow(store)
    const attempts = entry.attempts + 1
    const delivered = sent.status !== null && sent.status >= 200 && sent.status < 300
    const delay = settings.retryDelaysMs[attempts - 1]
    const status: DeliveryStatus = delivered ? "delivered" : delay === undefined ? "failed" : "pending"
    const next: OutboxEntry = {
      ...entry,
      status,
      attempts,
      lastAttemptAt: now,
      lastStatus: sent.status,
      lastError: sent.error,
      nextAttemptAt: status === "pending" ? now + (delay as number) : null,
      leaseUntil: 0,
    }
    if (status === "pending") {
      // Lost only if the lease ran out and another instance took it: then that one's attempt is the record.
      if (!(await store.putDocument(OUTBOX, entry.id, JSON.stringify(next), leasedText))) return
      wakeIn(delay as number)
    } else {
      await store.deleteDocument(OUTBOX, entry.id)
    }
    await remember(next)
    if (!delivered) log().info({ delivery: entry.id, endpoint: entry.endpointId, attempts, status: sent.status, error: sent.error, outcome: status }, "webhook attempt failed")
  }

  function send(entry: OutboxEntry, leasedText: string): void {
    const sending = attempt(entry, leasedText)
      .catch((error: unknown) => log().error({ err: error, delivery: entry.id }, "webhook attempt not recorded"))
      .finally(() => {
        inFlight.delete(entry.id)
        if (started && saturated) {
          saturated = false
          wake()
        }
      })
    inFlight.set(entry.id, sending)
  }

  /** Leases and starts what is due; resolves when the next pass should run (ms from now). */
  async function pass(): Promise<number> {
    const now = await storeNow(store)
    let soonest = now + pollMs
    let cursor: string | null = null
    do {
      const page: Page<{ json: string }> = await storeOperation(() => store.listDocuments(OUTBOX, { cursor, limit: PAGE }))
      for (const item of page.items) {
        const entry = JSON.parse(item.json) as OutboxEntry
        const dueAt = Math.max(entry.nextAttemptAt ?? now, entry.leaseUntil)
        if (dueAt > now || inFlight.has(entry.id)) {
          if (!inFlight.has(entry.id)) soonest = Math.min(soonest, dueAt)
          continue
        }
        if (inFlight.size >= CONCURRENCY) {
          saturated = true
          return pollMs
        }
        const leased = await lease(entry, item.json, now)
        if (leased !== null) send(entry, leased)
      }
      cursor = page.next
    } while (cursor !== null)
    return Math.max(0, soonest - now)
  }

  async function run(): Promise<void> {
    let delayMs = pollMs
    try {
      delayMs = await pass()
    } catch (error) {
      log().error({ err: error }, "webhook outbox not read")
    }
    wakeIn(delayMs)
  }

  /** Runs a pass in `delayMs`, unless one is due sooner already. */
  function wakeIn(delayMs: number): void {
    const at = Date.now() + delayMs
    if (!started || at >= timerAt) return
    clearTimeout(timer)
    timerAt = at
    timer = setTimeout(() => {
      timerAt = Number.POSITIVE_INFINITY
      wake()
    }, delayMs)
    timer.unref()
  }

  /** Runs a pass now, or right after the one running. */
  function wake(): void {
    if (running !== null) {
      again = true
      return
    }
    running = run().finally(() => {
      running = null
      if (again) {
        again = false
        wake()
      }
    })
  }

  async function purge(): Promise<number> {
    let removed = 0
    for (const endpoint of await records()) {
      const kept = await storeOperation(() => store.listDocuments(history(endpoint.id), { limit: MAX_HISTORY }))
      let cursor = kept.next
      while (cursor !== null) {
        const page: Page<{ id: string }> = await storeOperation(() => store.listDocuments(history(endpoint.id), { cursor, limit: PAGE }))
        for (const item of page.items) if (await storeOperation(() => store.deleteDocument(history(endpoint.id), item.id))) removed++
        cursor = page.next
      }
    }
    return removed
  }

  return {
    endpoints,
    enqueue,
    purge,
    start(purgeIntervalMs = null) {
      started = true
      wake()
      if (purgeIntervalMs === null) return
      purgeTimer = setInterval(() => {
        purge().catch((error: unknown) => log().error({ err: error }, "webhook history purge failed"))
      }, purgeIntervalMs)
      purgeTimer.unref()
    },
    async stop() {
      started = false
      clearTimeout(timer)
      timerAt = Number.POSITIVE_INFINITY
      clearInterval(purgeTimer)
      await running
      await Promise.all(inFlight.values())
    },
  }
}

/** The endpoint's URL, checked: https (or http when allowed), no credentials, not an address refused by the settings. */
export function checkTarget(url: unknown, settings: Pick<WebhookSettings, "allowHttp" | "allowPrivate">): URL {
  let target: URL
  try {
    if (typeof url !== "string" || url.length > MAX_URL) throw new TypeError()
    target = new URL(url)
  } catch {
    throw new AuthError("invalid_request", `The webhook URL must be an absolute https:// URL of at most ${MAX_URL} characters.`)
  }
  if (target.protocol !== "https:" && !(target.protocol === "http:" && settings.allowHttp)) {
    throw new AuthError("invalid_request", "The webhook URL must use https:// (http:// only with REVOCABLE_WEBHOOKS_ALLOW_HTTP=true).")
  }
  if (target.username !== "" || target.password !== "") throw new AuthError("invalid_request", "The webhook URL must not carry credentials: the signature authenticates the server.")
  target.hash = ""
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1")
  if (!settings.allowPrivate && (isIP(host) === 0 ? host === "localhost" || host.endsWith(".localhost") : !isPublic(host))) {
    throw new AuthError("invalid_request", "The webhook URL names a loopback or private address (allowed only with REVOCABLE_WEBHOOKS_ALLOW_PRIVATE=true).")
  }
  return target
}

/** Non-public ranges (RFC 6890 and the IANA special-purpose registries): what a webhook may not reach by default. */
const NON_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24],
  ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NON_PUBLIC.addSubnet(network, prefix, "ipv4")
for (const [network, prefix] of [["::", 128], ["::1", 128], ["64:ff9b::", 96], ["100::", 64], ["2001:db8::", 32], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8]] as const) {
  NON_PUBLIC.addSubnet(network, prefix, "ipv6")
}

export function isPublic(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return isPublic(mapped[1] as string)
  const family = isIP(address)
  if (family === 0) return false
  return !NON_PUBLIC.check(address, family === 4 ? "ipv4" : "ipv6")
}

/** DNS resolution that refuses non-public addresses: the check is on the address connected to, not a name. */
const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, "", 0)
    const allowed = addresses.filter((entry) => isPublic(entry.address))
    const first = allowed[0]
    if (first === undefined) return callback(Object.assign(new Error(`${hostname} resolves to no public address`), { code: "ENOTPUBLIC" }), "", 0)
    if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, allowed)
    callback(null, first.address, first.family)
  })
}

/** The Standard Webhooks signature of one attempt. */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64")
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`
}

async function post(endpoint: EndpointRecord, entry: OutboxEntry, settings: WebhookSettings): Promise<{ status: number | null; error: string | null }> {
  const target = new URL(endpoint.url)
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1")
  if (!settings.allowPrivate && isIP(host) !== 0 && !isPublic(host)) return { status: null, error: "refused: not a public address" }
  const timestamp = Math.floor(Date.now() / 1000)
  const headers = {
    "content-type": "application/json",
    "user-agent": "revocable-webhooks",
    "webhook-id": entry.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signature(endpoint.secret, entry.id, timestamp, entry.body),
  }
  const request = target.protocol === "https:" ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    const signal = AbortSignal.timeout(settings.timeoutMs)
    const outgoing = request(target, { method: "POST", headers, signal, ...(settings.allowPrivate ? {} : { lookup: publicLookup }) }, (answer: IncomingMessage) => {
      let read = 0
      answer.on("data", (chunk: Buffer) => {
        read += chunk.length
        if (read > MAX_ANSWER) answer.destroy()
      })
      answer.on("close", () => resolve({ status: answer.statusCode ?? null, error: null }))
      answer.on("error", () => undefined)
    })
    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      resolve({ status: null, error: signal.aborted ? `timed out after ${settings.timeoutMs} ms` : (error.code ?? error.message).slice(0, 200) })
    })
    outgoing.end(entry.body)
  })
}

function eventTypes(events: readonly string[]): AuditType[] {
  if (!Array.isArray(events) || events.length === 0) throw new AuthError("invalid_request", "Give at least one event type.")
  const unknown = events.filter((type) => !AUDIT_TYPES.includes(type as AuditType))
  if (unknown.length > 0) throw new AuthError("invalid_request", `Unknown event type ${JSON.stringify(String(unknown[0]).slice(0, 64))}; one of ${AUDIT_TYPES.join(", ")}.`)
  return [...new Set(events as AuditType[])]
}

/** Newest first in the history's id order: the time counted down, then the delivery's id. */
function historyId(entry: Pick<WebhookDelivery, "createdAt" | "id">): string {
  return `${String(LAST_TIME - entry.createdAt).padStart(13, "0")}.${entry.id}`
}

function view({ secret: _, ...endpoint }: EndpointRecord): WebhookEndpoint {
  return endpoint
}

/** REVOCABLE_WEBHOOKS_RETRY: comma-separated durations, e.g. "5s,30s,2m". */
export function retryDelays(value: Raw): number[] {
  if (typeof value !== "string" && !Array.isArray(value)) return fail('must be durations separated by commas, such as "5s,30s,2m,10m,1h".')
  const parts = (Array.isArray(value) ? value : value.split(",")).map((part) => part.trim())
  if (parts.length === 0 || parts.length > 100) fail("must list 1 to 100 durations.")
  return parts.map(duration(10, 7 * 86_400_000))
}
