// What the server keeps about a session beside the core's record: the IP address and User-Agent it was signed in
// from. The core's session already has its start (`createdAt`), its last refresh (`lastUsedAt`, moved by each
// rotation, by the store's clock) and a device label; the rest is the server's, so it lives in the server's
// documents and the store contract stays as it is. Documents `session_details` by "<sub> <sid>", so that a user's
// are one ordered listing. Each is dropped once its session has expired, at the next sign-in or listing of the
// same user, or with the user; a revoked session's lingers until then, unseen (only live sessions are shown).
import type { FastifyRequest } from "fastify"
import type { Auth, TokenPair } from "revocable"
import { storeOperation, type ServerStore } from "revocable/stores"
import * as schemas from "./schemas.ts"
import { cursorAfter } from "./user-index.ts"

const DETAILS = "session_details"
const MAX_USER_AGENT = 256
const PAGE = 100

interface Details {
  ip: string | null
  userAgent: string | null
  /** When the session ends at the latest (its refresh token's expiry): the document is useless after. */
  expiresAt: number
}

export interface SessionDetails {
  /** Keeps where a new session was signed in from: the request's IP and User-Agent. */
  record(subject: string, pair: TokenPair, request: FastifyRequest): Promise<void>
  /** The subject's live sessions, newest first, as the API shows them (`currentSid` marks the caller's). */
  sessions(auth: Auth, subject: string, currentSid?: string): Promise<schemas.Session[]>
  /** Drops every detail kept about the subject's sessions (a deleted user). */
  forget(subject: string): Promise<void>
}

export function sessionDetails(store: ServerStore, clock: () => number = Date.now): SessionDetails {
  /** The subject's details by sid; the expired ones are deleted on the way. */
  async function detailsOf(subject: string): Promise<Map<string, Details>> {
    const prefix = `${subject} `
    const found = new Map<string, Details>()
    const now = clock()
    let cursor: string | null = cursorAfter(prefix)
    while (cursor !== null) {
      const page = await storeOperation(() => store.listDocuments(DETAILS, { cursor, limit: PAGE }))
      for (const item of page.items) {
        if (!item.id.startsWith(prefix)) return found
        const details = JSON.parse(item.json) as Details
        if (details.expiresAt > now) found.set(item.id.slice(prefix.length), details)
        else await storeOperation(() => store.deleteDocument(DETAILS, item.id))
      }
      cursor = page.next
    }
    return found
  }

  return {
    async record(subject, pair, request) {
      const userAgent = request.headers["user-agent"]
      const details: Details = {
        ip: request.ip ?? null,
        userAgent: typeof userAgent === "string" ? userAgent.replace(/[\x00-\x1F\x7F]/g, "").slice(0, MAX_USER_AGENT) : null,
        expiresAt: clock() + pair.refreshExpiresIn * 1000,
      }
      await storeOperation(() => store.putDocument(DETAILS, `${subject} ${pair.sessionId}`, JSON.stringify(details)))
      // A sign-in is when the user's expired details go.
      await detailsOf(subject)
    },

    async sessions(auth, subject, currentSid) {
      const [live, details] = await Promise.all([auth.listSessions(subject), detailsOf(subject)])
      return live.map((session) => schemas.sessionView(session, currentSid, details.get(session.sid)))
    },

    async forget(subject) {
      const prefix = `${subject} `
      let cursor: string | null = cursorAfter(prefix)
      while (cursor !== null) {
        const page = await storeOperation(() => store.listDocuments(DETAILS, { cursor, limit: PAGE }))
        const mine = page.items.filter((item) => item.id.startsWith(prefix))
        for (const item of mine) await storeOperation(() => store.deleteDocument(DETAILS, item.id))
        cursor = mine.length === page.items.length ? page.next : null
      }
    },
  }
}
