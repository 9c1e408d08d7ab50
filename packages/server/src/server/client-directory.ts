/**
 * The registered OAuth clients (RFC 6749 §2.1), kept as documents in the store (collection `clients`).
 * Confidential clients (resource servers calling `/oauth/introspect`, back ends using the token endpoint) have
 * a secret, shown once at creation; the store keeps its SHA-256. Public clients (apps that cannot keep a
 * secret) have only an id, which they name with `client_id`.
 *
 * @example
 * const clients = clientDirectory(store)
 * const { clientId, clientSecret } = await clients.create("orders-api")   // hand these to the resource server
 * await clients.authenticate(clientId, clientSecret)                      // the client, or null
 * const app = await clients.createPublic("mobile-app")                    // { clientId }
 */
import { createHash, randomBytes } from "node:crypto"
import { AuthError, randomId } from "revocable"
import { hashEquals, type ServerStore, storeOperation } from "revocable/stores"

export interface Client {
  clientId: string
  name: string
  /** RFC 6749 §2.1: a confidential client authenticates with its secret, a public one cannot. */
  type: "confidential" | "public"
  createdAt: number
}

interface ClientRecord {
  clientId: string
  name: string
  createdAt: number
  /** Absent on records written before public clients existed: those are all confidential. */
  type?: Client["type"]
  /** SHA-256 of the secret, base64url; null for a public client. A 256-bit random secret needs no slow hash. */
  secretHash: string | null
}

export interface ClientDirectory {
  /** A confidential client: its secret is in the answer and nowhere else. */
  create(name: string): Promise<{ clientId: string; clientSecret: string }>
  createPublic(name: string): Promise<{ clientId: string }>
  /** The client with this id, or null. */
  find(clientId: string): Promise<Client | null>
  list(): Promise<Client[]>
  /** Resolves false when there was no such client. */
  delete(clientId: string): Promise<boolean>
  /** The confidential client whose id and secret these are, or null. */
  authenticate(clientId: string, secret: string): Promise<Client | null>
}

const NAME = /^[\x20-\x7E]{1,100}$/
const COLLECTION = "clients"
const PAGE = 1000

export function clientDirectory(store: ServerStore): ClientDirectory {
  async function register(name: string, secret: string | null): Promise<string> {
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new AuthError("invalid_request", "The client name must be 1 to 100 printable ASCII characters.")
    }
    const clientId = randomId()
    const type = secret === null ? "public" : "confidential"
    const client: ClientRecord = { clientId, name, type, createdAt: Date.now(), secretHash: secret === null ? null : digest(secret) }
    await storeOperation(() => store.putDocument(COLLECTION, clientId, JSON.stringify(client), null))
    return clientId
  }

  async function record(clientId: unknown): Promise<ClientRecord | null> {
    if (typeof clientId !== "string" || clientId === "" || clientId.length > 256) return null
    const text = await storeOperation(() => store.getDocument(COLLECTION, clientId))
    return text === null ? null : (JSON.parse(text) as ClientRecord)
  }

  return {
    async create(name) {
      const clientSecret = randomBytes(32).toString("base64url")
      return { clientId: await register(name, clientSecret), clientSecret }
    },

    async createPublic(name) {
      return { clientId: await register(name, null) }
    },

    async find(clientId) {
      const client = await record(clientId)
      return client && view(client)
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
      if (typeof secret !== "string" || secret.length > 1024) return null
      const client = await record(clientId)
      const presented = digest(secret)
      if (client === null || client.secretHash === null) return null
      return hashEquals(client.secretHash, presented) ? view(client) : null
    },
  }
}

function digest(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url")
}

function view(record: ClientRecord): Client {
  return { clientId: record.clientId, name: record.name, type: record.type ?? "confidential", createdAt: record.createdAt }
}
