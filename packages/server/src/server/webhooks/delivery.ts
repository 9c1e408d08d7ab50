// The delivery worker of one instance: takes due deliveries from the outbox with a lease (a compare-and-set on the
// delivery's document, so that two instances do not send it at once), POSTs each signed with a timeout, and on
// anything but a 2xx schedules the next attempt by the retry delays, then gives up (`failed`).
import { request as httpRequest, type IncomingMessage } from "node:http"
import { request as httpsRequest } from "node:https"
import { isIP, type LookupFunction } from "node:net"
import type { ServerStore } from "revocable/stores"
import type { AuditLogger } from "../audit.ts"
import { storeNow } from "../keystore.ts"
import { keyEncryptionKeysOf } from "../keywrap.ts"
import type { ServerMetrics } from "../metrics.ts"
import { hostOf, isPublic, publicLookup, type Resolve } from "./address-guard.ts"
import { documents, OUTBOX } from "./collections.ts"
import type { EndpointRecord } from "./endpoints.ts"
import { remember, type DeliveryStatus, type OutboxEntry } from "./outbox.ts"
import { openSecret } from "./endpoint-secrets.ts"
import type { WebhookSettings } from "./delivery-settings.ts"
import { signature } from "./standard-signature.ts"

export interface WorkerOptions {
  store: ServerStore
  settings: WebhookSettings
  log: () => AuditLogger
  metrics: ServerMetrics["webhooks"] | undefined
  /** How often it looks for deliveries enqueued by other instances, or left by a stopped one. */
  pollMs: number
  /** The endpoint's document, read at each attempt: a removed endpoint gets nothing more. */
  record(id: string): Promise<EndpointRecord | null>
  /** Resolves the targets' names (default dns.lookup); each address is checked unless private ones are allowed. */
  resolve?: Resolve
}

export interface Worker {
  /** A pass now (or right after the one running), if started: deliveries were enqueued. */
  wake(): void
  /** A pass now, then whenever an attempt falls due or the poll interval passes. */
  start(): void
  /** Stops and waits for the deliveries in flight. */
  stop(): Promise<void>
}

/** Sends in flight per instance: a slow receiver holds one of them, not the others' deliveries. */
const CONCURRENCY = 8
/** Of an answer's body, only this much is read (and then dropped): a receiver cannot make us buffer more. */
const MAX_ANSWER = 64 * 1024

export function createWorker(options: WorkerOptions): Worker {
  const { store, settings, log, pollMs } = options
  // Each address a delivery connects to is checked, unless private ones are allowed.
  const lookup = settings.allowPrivate ? undefined : publicLookup(options.resolve)
  const leaseMs = settings.timeoutMs + 60_000
  const inFlight = new Map<string, Promise<void>>()
  let timer: NodeJS.Timeout | undefined
  /** When the timer fires (Date.now()); Infinity when none is set. */
  let timerAt = Number.POSITIVE_INFINITY
  let running: Promise<void> | null = null
  let again = false
  /** The last pass left due deliveries for want of a free slot: the next send to finish runs another. */
  let saturated = false
  let started = false

  /** Takes a due entry unless another instance took it since it was read: resolves the leased text, or null. */
  async function lease(entry: OutboxEntry, text: string, now: number): Promise<string | null> {
    const leased = JSON.stringify({ ...entry, leaseUntil: now + leaseMs })
    return (await store.putDocument(OUTBOX, entry.id, leased, text)) ? leased : null
  }

  async function attempt(entry: OutboxEntry, leasedText: string): Promise<void> {
    const endpoint = await options.record(entry.endpointId)
    if (endpoint === null) {
      // Removed with its history: nothing to send, nothing to show.
      await store.deleteDocument(OUTBOX, entry.id)
      return
    }
    const sent = await post(endpoint, entry, settings, store, lookup)
    const now = await storeNow(store)
    const attempts = entry.attempts + 1
    const delivered = sent.status !== null && sent.status >= 200 && sent.status < 300
    const delay = settings.retryDelaysMs[attempts - 1]
    const status: DeliveryStatus = delivered ? "delivered" : delay === undefined ? "failed" : "pending"
    options.metrics?.attempted(delivered ? "delivered" : status === "pending" ? "failed" : "gave_up")
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
    await remember(store, log, next)
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
    for await (const item of documents(store, OUTBOX)) {
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

  return {
    wake() {
      if (started) wake()
    },
    start() {
      started = true
      wake()
    },
    async stop() {
      started = false
      clearTimeout(timer)
      timerAt = Number.POSITIVE_INFINITY
      await running
      await Promise.all(inFlight.values())
    },
  }
}

/** One attempt: the POST, signed with the endpoint's secret (unwrapped for it); its HTTP status, or why there was none. */
async function post(
  endpoint: EndpointRecord,
  entry: OutboxEntry,
  settings: WebhookSettings,
  store: ServerStore,
  lookup: LookupFunction | undefined,
): Promise<{ status: number | null; error: string | null }> {
  const target = new URL(endpoint.url)
  const host = hostOf(target)
  if (!settings.allowPrivate && isIP(host) !== 0 && !isPublic(host)) return { status: null, error: "refused: not a public address" }
  let secret: string
  try {
    secret = openSecret(endpoint, keyEncryptionKeysOf(store))
  } catch (error) {
    // A KEK dropped too soon: shown on the delivery, retried as any failure, so that restoring the KEK delivers it.
    return { status: null, error: (error as Error).message.slice(0, 200) }
  }
  const timestamp = Math.floor(Date.now() / 1000)
  const headers = {
    "content-type": "application/json",
    "user-agent": "revocable-webhooks",
    "webhook-id": entry.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signature(secret, entry.id, timestamp, entry.body),
  }
  const request = target.protocol === "https:" ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    const signal = AbortSignal.timeout(settings.timeoutMs)
    const outgoing = request(target, { method: "POST", headers, signal, ...(lookup === undefined ? {} : { lookup }) }, (answer: IncomingMessage) => {
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
