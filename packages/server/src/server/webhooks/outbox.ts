// The outbox: one document per delivery waiting for an attempt (collection `webhook-outbox`, shared by every
// instance, and left there until delivered or given up), and each endpoint's history of deliveries
// (`webhook-deliveries:<endpoint id>`, newest first), which the admin API and the CLI show and the purge trims.
import { randomId } from "revocable"
import { storeOperation, type AuditEvent, type ServerStore } from "revocable/stores"
import type { AuditLogger } from "../audit.ts"
import { documents, history, OUTBOX } from "./collections.ts"

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
export interface OutboxEntry extends WebhookDelivery {
  body: string
  /** Until when the instance that took it may be sending it (ms, the store's clock); 0 when no one holds it. */
  leaseUntil: number
}

/** Deliveries kept per endpoint: a bound that the purge enforces, whatever the traffic. */
export const MAX_HISTORY = 1000
const LAST_TIME = 9_999_999_999_999

/** Writes the event's delivery to the endpoint, due at once, to the outbox and to the endpoint's history. */
export async function putDelivery(store: ServerStore, log: () => AuditLogger, endpointId: string, event: AuditEvent, body: string, now: number): Promise<void> {
  const entry: OutboxEntry = {
    id: `msg_${randomId()}`,
    endpointId,
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
  await remember(store, log, entry)
}

/** Writes the delivery's state to its endpoint's history; a failure there is logged, never a lost delivery. */
export async function remember(store: ServerStore, log: () => AuditLogger, entry: OutboxEntry): Promise<void> {
  const { body: _, leaseUntil: __, ...delivery } = entry
  try {
    await store.putDocument(history(entry.endpointId), historyId(entry), JSON.stringify(delivery))
  } catch (error) {
    log().error({ err: error, delivery: entry.id }, "webhook history not stored")
  }
}

/** The deliveries waiting in the outbox, every instance's: the backlog the metrics show. */
export async function countPending(store: ServerStore): Promise<number> {
  let count = 0
  for await (const _ of documents(store, OUTBOX)) count++
  return count
}

/**
 * Trims the endpoint's history of what is past its newest {@link MAX_HISTORY} deliveries or finished before
 * `cutoff`; a delivery still in the outbox stays, however old. Resolves how many went.
 */
export async function trimHistory(store: ServerStore, endpointId: string, cutoff: number): Promise<number> {
  let index = 0
  let removed = 0
  for await (const item of documents(store, history(endpointId))) {
    const delivery = JSON.parse(item.json) as WebhookDelivery
    if (index++ < MAX_HISTORY && (delivery.lastAttemptAt ?? delivery.createdAt) >= cutoff) continue
    // The outbox entry is written before the history's and deleted before its last state: one shown pending with
    // no entry is finished (its last state on the way) or was lost to a failed write.
    if (delivery.status === "pending" && (await storeOperation(() => store.getDocument(OUTBOX, delivery.id))) !== null) continue
    if (await storeOperation(() => store.deleteDocument(history(endpointId), item.id))) removed++
  }
  return removed
}

/** Newest first in the history's id order: the time counted down, then the delivery's id. */
function historyId(entry: Pick<WebhookDelivery, "createdAt" | "id">): string {
  return `${String(LAST_TIME - entry.createdAt).padStart(13, "0")}.${entry.id}`
}
