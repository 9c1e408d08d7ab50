/**
 * The registered OAuth clients (RFC 6749 §2.1), kept as documents in the store (collection `clients`).
 * Confidential clients (resource servers calling `/oauth/introspect`, back ends using the token endpoint) have
 * a secret, shown once at creation; the store keeps its SHA-256. Public clients (apps that cannot keep a
 * secret) have only an id, which they name with `client_id`. A confidential client may be registered with scopes:
 * those it may ask for with the client_credentials grant (RFC 6749 §4.4), as a service calling other services.
 *
 * @example
 * const clients = clientDirectory(store)
 * const { clientId, clientSecret } = await clients.create("orders-api")   // hand these to the resource server
 * await clients.create("gateway", { scopes: ["revocations:read"] })      // may read the revocation feed
 * await clients.authenticate(clientId, clientSecret)                      // the client, or null
 * const app = await clients.createPublic("mobile-app")                    // { clientId }
 */
import { createHash, randomBytes } from "node:crypto"
import { AuthError, randomId, type Auth } from "revocable"
import { hashEquals, type ServerStore, storeOperation } from "revocable/stores"
import { scopeList } from "./scopes.ts"

export interface Client {
  clientId: string
  name: string
  /** RFC 6749 §2.1: a confidential client authenticates with its secret, a public one cannot. */
  type: "confidential" | "public"
  /** The scopes a confidential client may ask for with the client_credentials grant; none for a public one. */
  scopes: string[]
  createdAt: number
}

interface ClientRecord {
  clientId: string
  name: string
  createdAt: number
  /** Absent on records written before public clients existed: those are all confidential. */
  type?: Client["type"]
  /** Absent on records written before scopes existed: none. */
  scopes?: string[]
  /** SHA-256 of the secret, base64url; null for a public client. A 256-bit random secret needs no slow hash. */
  secretHash: string | null
}

export interface ClientDirectory {
  /** A confidential client: its secret is in the answer and nowhere else. */
  create(name: string, options?: { scopes?: readonly string[] }): Promise<{ clientId: string; clientSecret: string; client: Client }>
  createPublic(name: string): Promise<{ clientId: string; client: Client }>
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
  async function register(name: string, secret: string | null, scopes: string[]): Promise<Client> {
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new AuthError("invalid_request", "The client name must be 1 to 100 printable ASCII characters.")
    }
    const clientId = randomId()
    const type = secret === null ? "public" : "confidential"
    const client: ClientRecord = { clientId, name, type, scopes, createdAt: Date.now(), secretHash: secret === null ? null : digest(secret) }
    await storeOperation(() => store.putDocument(COLLECTION, clientId, JSON.stringify(client), null))
    return view(client)
  }

  async function record(clientId: unknown): Promise<ClientRecord | null> {
    if (typeof clientId !== "string" || clientId === "" || clientId.length > 256) return null
    const text = await storeOperation(() => store.getDocument(COLLECTION, clientId))
    return text === null ? null : (JSON.parse(text) as ClientRecord)
  }

  return {
    async create(name, options = {}) {
      const scopes = scopeList(options.scopes ?? [])
      const clientSecret = randomBytes(32).toString("base64url")
      const client = await register(name, clientSecret, scopes)
      return { clientId: client.clientId, clientSecret, client }
    },

    async createPublic(name) {
      const client = await register(name, null, [])
      return { clientId: client.clientId, client }
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

/**
 * Removes a client and revokes the tokens it was issued for itself (client_credentials: their subject is its id).
 * Deleted first: a token issued meanwhile is caught by the token endpoint's check that its client still exists.
 */
export async function removeClient(clients: ClientDirectory, auth: Auth, clientId: string, actor: string): Promise<boolean> {
  const client = await clients.find(clientId)
  if (client === null || !(await clients.delete(clientId))) return false
  if (client.type === "confidential") await auth.revokeSubject(client.clientId, { reason: "client removed", actor })
  return true
}

function digest(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url")
}

function view(record: ClientRecord): Client {
  return { clientId: record.clientId, name: record.name, type: record.type ?? "confidential", scopes: record.scopes ?? [], createdAt: record.createdAt }
}
