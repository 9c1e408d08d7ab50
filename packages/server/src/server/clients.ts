/**
 * Credentials of the resource servers allowed to call `/oauth/introspect` (RFC 7662 §2.1), kept as documents
 * in the store (collection `clients`). The secret is shown once, at creation; the store keeps its SHA-256.
 *
 * @example
 * const clients = clientDirectory(store)
 * const { clientId, clientSecret } = await clients.create("orders-api")   // hand these to the resource server
 * await clients.authenticate(clientId, clientSecret)                      // the client, or null
 */
import { createHash, randomBytes } from "node:crypto"
import { AuthError, randomId } from "revocable"
import { hashEquals, type ServerStore, storeOperation } from "revocable/stores"

export interface Client {
  clientId: string
  name: string
  createdAt: number
}

interface ClientRecord extends Client {
  /** SHA-256 of the secret, base64url. A 256-bit random secret needs no slow hash. */
  secretHash: string
}

export interface ClientDirectory {
  create(name: string): Promise<{ clientId: string; clientSecret: string }>
  list(): Promise<Client[]>
  /** Resolves false when there was no such client. */
  delete(clientId: string): Promise<boolean>
  /** The client whose id and secret these are, or null. */
  authenticate(clientId: string, secret: string): Promise<Client | null>
}

const NAME = /^[\x20-\x7E]{1,100}$/
const COLLECTION = "clients"
const PAGE = 1000

export function clientDirectory(store: ServerStore): ClientDirectory {
  return {
    async create(name) {
      if (typeof name !== "string" || !NAME.test(name)) {
        throw new AuthError("invalid_request", "The client name must be 1 to 100 printable ASCII characters.")
      }
      const clientId = randomId()
      const clientSecret = randomBytes(32).toString("base64url")
      const client: ClientRecord = { clientId, name, createdAt: Date.now(), secretHash: digest(clientSecret) }
      await storeOperation(() => store.putDocument(COLLECTION, clientId, JSON.stringify(client), null))
      return { clientId, clientSecret }
    },

    async list() {
      const clients: Client[] = []
      let cursor: string | null = null
      do {
        const page: { items: { json: string }[]; next: string | null } = await storeOperation(() => store.listDocuments(COLLECTION, { cursor, limit: PAGE }))
        for (const item of page.items) clients.push(view(JSON.parse(item.json) as ClientRecord))
        cursor = page.next
      } while (cursor !== null)
      return clients
    },

    async delete(clientId) {
      if (typeof clientId !== "string" || clientId === "" || clientId.length > 256) return false
      return storeOperation(() => store.deleteDocument(COLLECTION, clientId))
    },

    async authenticate(clientId, secret) {
      if (typeof clientId !== "string" || typeof secret !== "string" || clientId === "" || clientId.length > 256 || secret.length > 1024) return null
      const text = await storeOperation(() => store.getDocument(COLLECTION, clientId))
      const presented = digest(secret)
      if (text === null) return null
      const client = JSON.parse(text) as ClientRecord
      return hashEquals(client.secretHash, presented) ? view(client) : null
    },
  }
}

function digest(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url")
}

function view(record: ClientRecord): Client {
  return { clientId: record.clientId, name: record.name, createdAt: record.createdAt }
}
