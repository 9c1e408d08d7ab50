// The users' secondary indexes, as documents beside the `usernames` one, so that a search by prefix, a listing
// by creation or a count of admins reads what it answers and never scans every user:
//   usernames          by username: {sub}  } the unique indexes user-directory.ts keeps
//   emails             by email: {sub}     }
//   users_by_creation  by "<inverted creation time, 15 digits> <sub>": {sub}, newest first in id order
//   user_roles         by "<role> <sub>": {sub}
// An entry may outlive its user or field for a moment (a write between two documents): readers check each hit
// against the user record, so a stale entry is skipped, never shown. Users made before these indexes existed are
// indexed once, on the first use (the marker document `settings/user-indexes`).
import { AuthError } from "revocable"
import { storeOperation, type ServerStore } from "revocable/stores"

export const BY_NAME = "usernames"
const BY_EMAIL = "emails"
const BY_CREATION = "users_by_creation"
const BY_ROLE = "user_roles"
const MARKER = { collection: "settings", id: "user-indexes" }
const VERSION = 1
const SCAN_PAGE = 100
const LATEST = 999_999_999_999_999

/** The fields these indexes cover. */
export interface Indexed {
  sub: string
  roles: string[]
  createdAt: number
}

/** The index entries of a user, by collection (usernames and emails are claimed by the directory: they are unique). */
function entries(user: Indexed): Array<[collection: string, id: string]> {
  return [
    [BY_CREATION, `${String(LATEST - user.createdAt).padStart(15, "0")} ${user.sub}`],
    ...user.roles.map((role): [string, string] => [BY_ROLE, `${role} ${user.sub}`]),
  ]
}

/** Document cursors carry the last id seen (revocable's stores/shared.ts): a listing can start after any id. */
export function cursorAfter(id: string): string {
  return Buffer.from(id).toString("base64url")
}

export interface UserIndex {
  /** Adds the entries `after` has and `before` had not, and removes those it lost (null: a new or deleted user). */
  reindex(before: Indexed | null, current: Indexed | null): Promise<void>
  /**
   * Ids of `collection` that start with `prefix`, in order, after `start` (an id, exclusive) or from the first
   * one; at most `limit`. `more` says whether the scan stopped at the limit rather than at the prefix's end.
   */
  scan(collection: string, prefix: string, start: string | null, limit: number): Promise<{ hits: Array<{ id: string; sub: string }>; more: boolean }>
  /** Indexes the users made before the indexes existed; once per store, and cheap after the first time. */
  ready(): Promise<void>
}

export const COLLECTIONS = { name: BY_NAME, email: BY_EMAIL, creation: BY_CREATION, role: BY_ROLE } as const

const built = new WeakMap<ServerStore, Promise<void>>()

export function userIndex(store: ServerStore): UserIndex {
  const put = (collection: string, id: string, sub: string) => storeOperation(() => store.putDocument(collection, id, JSON.stringify({ sub })))
  const remove = (collection: string, id: string) => storeOperation(() => store.deleteDocument(collection, id))

  async function build(): Promise<void> {
    if ((await storeOperation(() => store.getDocument(MARKER.collection, MARKER.id))) !== null) return
    let cursor: string | null = null
    do {
      const page = await storeOperation(() => store.listDocuments("users", { cursor, limit: 500 }))
      for (const item of page.items) {
        const user = JSON.parse(item.json) as Indexed
        for (const [collection, id] of entries(user)) await put(collection, id, user.sub)
      }
      cursor = page.next
    } while (cursor !== null)
    await storeOperation(() => store.putDocument(MARKER.collection, MARKER.id, JSON.stringify({ version: VERSION })))
  }

  return {
    async reindex(before, current) {
      const old = new Set((before === null ? [] : entries(before)).map(([collection, id]) => `${collection}\n${id}`))
      const next = new Set((current === null ? [] : entries(current)).map(([collection, id]) => `${collection}\n${id}`))
      const sub = (current ?? before)?.sub ?? ""
      for (const key of next) if (!old.has(key)) await put(...split(key), sub)
      for (const key of old) if (!next.has(key)) await remove(...split(key))
    },

    async scan(collection, prefix, start, limit) {
      const hits: Array<{ id: string; sub: string }> = []
      let cursor = start === null ? null : cursorAfter(start)
      if (start === null && prefix !== "") {
        // A listing starts after an id: the prefix itself (a whole username) is read on its own.
        const exact = await storeOperation(() => store.getDocument(collection, prefix))
        if (exact !== null) hits.push({ id: prefix, sub: (JSON.parse(exact) as { sub: string }).sub })
        cursor = cursorAfter(prefix)
      }
      while (hits.length < limit) {
        const page = await storeOperation(() => store.listDocuments(collection, { cursor, limit: SCAN_PAGE }))
        for (const item of page.items) {
          if (!item.id.startsWith(prefix)) return { hits, more: false }
          hits.push({ id: item.id, sub: (JSON.parse(item.json) as { sub: string }).sub })
          if (hits.length === limit) return { hits, more: true }
        }
        if (page.next === null) return { hits, more: false }
        cursor = page.next
      }
      return { hits, more: true }
    },

    ready() {
      let building = built.get(store)
      if (building === undefined) {
        building = build()
        // A build the store interrupted is tried again by the next use.
        building.catch(() => built.delete(store))
        built.set(store, building)
      }
      return building
    },
  }
}

function split(key: string): [string, string] {
  const newline = key.indexOf("\n")
  return [key.slice(0, newline), key.slice(newline + 1)]
}

/** A search term: trimmed and lower-cased; no spaces or control characters (no username or email has them). */
export function searchTerm(q: string): string {
  const term = q.trim().toLowerCase()
  if (term.length > 254 || /[\s\x00-\x1F\x7F]/.test(term)) throw new AuthError("invalid_request", "q is the start of a username or an email address: no spaces, at most 254 characters.")
  return term
}
