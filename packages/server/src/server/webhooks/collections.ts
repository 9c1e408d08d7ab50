// Where webhooks live in the store's documents, which every instance and the CLI share.
import { storeOperation, type Page, type ServerStore } from "revocable/stores"

/** The endpoints, by id (endpoints.ts). */
export const ENDPOINTS = "webhooks"
/** The deliveries waiting for an attempt, by id (outbox.ts). */
export const OUTBOX = "webhook-outbox"
/** An endpoint's deliveries, newest first (outbox.ts). */
export const history = (endpointId: string): string => `webhook-deliveries:${endpointId}`

const PAGE = 100

/** Every document of the collection, a page at a time; deleting the one just read does not skip the next (id cursors). */
export async function* documents(store: ServerStore, collection: string): AsyncGenerator<{ id: string; json: string }> {
  let cursor: string | null = null
  do {
    const page: Page<{ id: string; json: string }> = await storeOperation(() => store.listDocuments(collection, { cursor, limit: PAGE }))
    yield* page.items
    cursor = page.next
  } while (cursor !== null)
}
