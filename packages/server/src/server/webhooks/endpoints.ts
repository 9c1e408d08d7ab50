// The endpoints an operator registered (collection `webhooks`): the URL, the audit event types it receives, and
// its signing secret, shown once at creation and kept as endpoint-secrets.ts says.
import { AuthError, randomId } from "revocable"
import { storeOperation, type Page, type ServerStore } from "revocable/stores"
import { AUDIT_TYPES, type AuditRecord, type AuditType } from "../audit.ts"
import { keyEncryptionKeysOf } from "../keywrap.ts"
import { checkTarget } from "./address-guard.ts"
import { documents, ENDPOINTS, history } from "./collections.ts"
import type { WebhookDelivery } from "./outbox.ts"
import { sealSecret, withoutSecret, type StoredSecret } from "./endpoint-secrets.ts"
import type { WebhookSettings } from "./delivery-settings.ts"
import { newSecret } from "./standard-signature.ts"

export interface WebhookEndpoint {
  id: string
  url: string
  events: AuditType[]
  createdAt: number
}

/** The endpoint's document: the store keeps its secret, since every delivery is signed with it. */
export type EndpointRecord = WebhookEndpoint & StoredSecret

export interface WebhookEndpoints {
  /** Registers an endpoint; its secret is in the answer and, besides the store, nowhere else. */
  create(url: string, events: readonly string[]): Promise<{ endpoint: WebhookEndpoint; secret: string }>
  list(): Promise<WebhookEndpoint[]>
  find(id: string): Promise<WebhookEndpoint | null>
  /** Removes the endpoint, its pending deliveries and its history; resolves what it was, null when there was none. */
  remove(id: string): Promise<WebhookEndpoint | null>
  /** The endpoint's deliveries, newest first. */
  deliveries(id: string, query: { cursor?: string | null | undefined; limit: number }): Promise<Page<WebhookDelivery>>
}

/** The endpoints as the admin API and the CLI see them, and their documents (secrets included) for the worker. */
export interface EndpointRegistry {
  endpoints: WebhookEndpoints
  records(): Promise<EndpointRecord[]>
  /** The endpoint's document; null for none, or an id that cannot be one. */
  record(id: unknown): Promise<EndpointRecord | null>
}

const MAX_ENDPOINTS = 100

export function endpointRegistry(store: ServerStore, settings: WebhookSettings): EndpointRegistry {
  async function records(): Promise<EndpointRecord[]> {
    const found: EndpointRecord[] = []
    for await (const item of documents(store, ENDPOINTS)) found.push(JSON.parse(item.json) as EndpointRecord)
    return found
  }

  async function record(id: unknown): Promise<EndpointRecord | null> {
    if (typeof id !== "string" || !/^wh_[\w-]{22}$/.test(id)) return null
    const text = await storeOperation(() => store.getDocument(ENDPOINTS, id))
    return text === null ? null : (JSON.parse(text) as EndpointRecord)
  }

  const endpoints: WebhookEndpoints = {
    async create(url, events) {
      const target = checkTarget(url, settings)
      const types = eventTypes(events)
      if ((await records()).length >= MAX_ENDPOINTS) throw new AuthError("invalid_request", `At most ${MAX_ENDPOINTS} webhook endpoints.`)
      const secret = newSecret()
      const endpoint: WebhookEndpoint = { id: `wh_${randomId()}`, url: target.href, events: types, createdAt: Date.now() }
      const stored = sealSecret(endpoint, secret, keyEncryptionKeysOf(store)[0])
      await storeOperation(() => store.putDocument(ENDPOINTS, endpoint.id, JSON.stringify(stored), null))
      return { endpoint, secret }
    },
    async list() {
      return (await records()).map(withoutSecret)
    },
    async find(id) {
      const found = await record(id)
      return found && withoutSecret(found)
    },
    async remove(id) {
      const found = await record(id)
      if (found === null || !(await storeOperation(() => store.deleteDocument(ENDPOINTS, id)))) return null
      // Its pending deliveries are dropped by the worker, which finds no endpoint; its history goes now.
      for await (const item of documents(store, history(id))) await storeOperation(() => store.deleteDocument(history(id), item.id))
      return withoutSecret(found)
    },
    async deliveries(id, query) {
      const page = await storeOperation(() => store.listDocuments(history(id), query))
      return { items: page.items.map((item) => JSON.parse(item.json) as WebhookDelivery), next: page.next }
    },
  }

  return { endpoints, records, record }
}

/**
 * What the audit log records of an endpoint registered or removed (an admin action, from the API or the CLI): its
 * id, URL and event types, never its secret.
 */
export function endpointEvent(type: "webhook.created" | "webhook.deleted", endpoint: WebhookEndpoint, actor: string): AuditRecord {
  return { type, actor, details: { id: endpoint.id, url: endpoint.url, events: endpoint.events } }
}

function eventTypes(events: readonly string[]): AuditType[] {
  if (!Array.isArray(events) || events.length === 0) throw new AuthError("invalid_request", "Give at least one event type.")
  const unknown = events.filter((type) => !AUDIT_TYPES.includes(type as AuditType))
  if (unknown.length > 0) throw new AuthError("invalid_request", `Unknown event type ${JSON.stringify(String(unknown[0]).slice(0, 64))}; one of ${AUDIT_TYPES.join(", ")}.`)
  return [...new Set(events as AuditType[])]
}
