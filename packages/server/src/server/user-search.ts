// Finding users for the admins: every user by name or newest first, or those whose username or email starts with
// a term, a page at a time, on the indexes of user-index.ts. A search merges two ordered scans (usernames, emails)
// into one list in the order of the text that matched; a user whose username and email both match is listed once,
// by the username. The cursor says where each scan stands, so a page reads about `limit` entries of each.
import { AuthError } from "revocable"
import type { Page } from "revocable/stores"
import { COLLECTIONS, searchTerm, type UserIndex } from "./user-index.ts"

export type UserSort = "name" | "created"

export interface UserQuery {
  /** The start of a username or of an email address; empty or absent: every user. */
  q?: string | undefined
  /** name: A to Z (the default); created: newest first. A search is in the order of what matched. */
  sort?: UserSort | undefined
  cursor?: string | null | undefined
  limit?: number | undefined
}

/** Where each scan stands: the last id it gave, null before the first; `true` once it has nothing more. */
interface Position {
  q: string
  sort: UserSort
  name: string | null | true
  email: string | null | true
}

const MAX_PAGE = 1000

export async function searchUsers<U extends { sub: string; username: string; email: string | null }>(
  index: UserIndex,
  get: (sub: string) => Promise<U | null>,
  query: UserQuery,
): Promise<Page<U>> {
  const limit = query.limit ?? 50
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new AuthError("invalid_request", `limit must be an integer from 1 to ${MAX_PAGE}.`)
  const sort = query.sort ?? "name"
  if (sort !== "name" && sort !== "created") throw new AuthError("invalid_request", "sort is name or created.")
  const q = searchTerm(query.q ?? "")
  if (q !== "" && sort !== "name") throw new AuthError("invalid_request", "A search lists its matches by name: sort by creation lists every user.")
  const position = decode(query.cursor, q, sort)
  await index.ready()

  if (q === "") {
    const collection = sort === "name" ? COLLECTIONS.name : COLLECTIONS.creation
    const { hits, more } = await index.scan(collection, "", position.name === true ? null : position.name, limit)
    const items: U[] = []
    for (const hit of hits) {
      const user = await get(hit.sub)
      if (user !== null && (sort === "created" || user.username === hit.id)) items.push(user)
    }
    const last = hits.at(-1)
    return { items, next: more && last !== undefined ? encode({ q, sort, name: last.id, email: true }) : null }
  }

  // Each scan reads one more than a page, so that it knows whether it has more.
  const byName = await matches(index, get, COLLECTIONS.name, q, position.name, limit + 1, (user) => user.username.startsWith(q))
  const byEmail = await matches(index, get, COLLECTIONS.email, q, position.email, limit + 1, (user) => {
    return user.email !== null && user.email.toLowerCase().startsWith(q) && !user.username.startsWith(q)
  })
  const merged = [...byName.found.map((hit) => ({ ...hit, scan: "name" as const })), ...byEmail.found.map((hit) => ({ ...hit, scan: "email" as const }))].sort((a, b) =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  )
  const page = merged.slice(0, limit)
  const next: Position = { q, sort, name: position.name, email: position.email }
  for (const hit of page) next[hit.scan] = hit.id
  // A scan is over when it ran out and each of its hits made the page.
  if (!byName.more && page.filter((hit) => hit.scan === "name").length === byName.found.length) next.name = true
  if (!byEmail.more && page.filter((hit) => hit.scan === "email").length === byEmail.found.length) next.email = true
  return { items: page.map((hit) => hit.user), next: next.name === true && next.email === true ? null : encode(next) }
}

/** Up to `limit` users of one index whose entry and record still match, from `start` on. */
async function matches<U extends { sub: string; username: string; email: string | null }>(
  index: UserIndex,
  get: (sub: string) => Promise<U | null>,
  collection: string,
  q: string,
  start: string | null | true,
  limit: number,
  still: (user: U) => boolean,
): Promise<{ found: Array<{ id: string; user: U }>; more: boolean }> {
  const found: Array<{ id: string; user: U }> = []
  if (start === true) return { found, more: false }
  let from = start
  for (;;) {
    const { hits, more } = await index.scan(collection, q, from, limit - found.length)
    for (const hit of hits) {
      const user = await get(hit.sub)
      // The id is the text that matched, the username or the email: the order of the merged list.
      if (user !== null && still(user)) found.push({ id: hit.id, user })
    }
    const last = hits.at(-1)
    if (!more || last === undefined) return { found, more: false }
    if (found.length === limit) return { found, more: true }
    from = last.id
  }
}

function encode(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString("base64url")
}

function decode(cursor: string | null | undefined, q: string, sort: UserSort): Position {
  if (cursor === undefined || cursor === null || cursor === "") return { q, sort, name: null, email: null }
  let position: Partial<Position> | null = null
  try {
    position = JSON.parse(Buffer.from(cursor, "base64url").toString()) as Partial<Position>
  } catch {
    position = null
  }
  const valid = (value: unknown) => value === null || value === true || (typeof value === "string" && value.length <= 1100)
  if (position === null || typeof position !== "object" || !valid(position.name) || !valid(position.email)) throw new AuthError("invalid_request", "Invalid cursor.")
  if (position.q !== q || position.sort !== sort) throw new AuthError("invalid_request", "This cursor belongs to another search: send the same q and sort as the page it came from.")
  return position as Position
}
