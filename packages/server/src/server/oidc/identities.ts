// External identities and the local accounts they sign in to. An identity is (issuer, sub), never an email: a
// provider's email can change hands or be unverified, its (issuer, sub) pair cannot. Documents in the store:
//   oidc_identities   by digest(issuer, sub): the local user, and the local sessions it made (back-channel logout by sub)
//   oidc_sessions     by digest(issuer, sid): the local sessions made from that provider session (logout by sid)
//   oidc_user_identities  by user: the ids of the identities linked to them, written before the identity itself
//                     (so a superset: an id whose identity is missing or another user's is ignored)
// Linking to an existing account happens only (a) from a signed-in session, which proves the account, or (b) when
// the provider says the email is verified and the deployment opted in for that provider: otherwise whoever
// registers victim@example.com at a lax provider would sign in to the victim's account (docs/oidc.md).
import { createHash, randomBytes } from "node:crypto"
import { AuthError, isAuthError, type Auth } from "revocable"
import { storeOperation, type ServerStore } from "revocable/stores"
import type { User, UserDirectory } from "../user-directory.ts"
import type { OidcProviderConfig } from "./settings.ts"
import { OidcError } from "./oidc-error.ts"

export interface Identity {
  issuer: string
  subject: string
  provider: string
  userSub: string
  email: string | null
  linkedAt: number
  /** Local sessions made by signing in with this identity, live or recently so. */
  sessions: string[]
}

/** What names an identity and its user: carried in a handoff code until its session is issued. */
export type IdentityKey = Pick<Identity, "issuer" | "subject" | "userSub">

export interface ExternalClaims {
  iss: string
  sub: string
  sid?: unknown
  email?: unknown
  email_verified?: unknown
  preferred_username?: unknown
}

export interface Identities {
  /** The local user this identity signs in as: found, linked or created by the rules above. */
  resolve(provider: OidcProviderConfig, claims: ExternalClaims, link: { sub: string; sid: string } | null): Promise<{ user: User; identity: Identity }>
  /** Remembers that `sessionId` was made from this identity and provider session, for back-channel logout. */
  recordSession(identity: IdentityKey, providerSid: string | null, sessionId: string): Promise<void>
  /** The local sessions made from a provider session (`sid`), or from every session of an identity (`sub`). */
  sessionsOf(issuer: string, target: { sid?: string; sub?: string }): Promise<string[]>
}

/** An identity as its user and the admins see it; `id` names it in DELETE /me/identities/:id. */
export interface LinkedIdentity extends Omit<Identity, "sessions"> {
  id: string
}

export interface IdentityList {
  /** The identities linked to a user, oldest first. */
  list(userSub: string): Promise<LinkedIdentity[]>
  /**
   * Unlinks one of the user's identities; false when the user has no identity of that id. Refused with
   * `oidc_last_identity` when it is a passwordless user's last one: the account could not be signed in to any more.
   */
  unlink(userSub: string, id: string): Promise<boolean>
  /** Removes every identity linked to a user (a deleted account), whatever the last-identity rule. */
  forget(userSub: string): Promise<void>
}

const IDENTITIES = "oidc_identities"
const SESSIONS = "oidc_sessions"
const BY_USER = "oidc_user_identities"
const IDENTITY_ID = /^[A-Za-z0-9_-]{43}$/
const USERNAME = /^[a-z0-9][a-z0-9._@-]{2,63}$/
const CAS_ATTEMPTS = 16

export function identityDirectory(store: ServerStore, users: UserDirectory, auth: Auth, registration: "open" | "closed"): Identities {
  async function read<T>(collection: string, id: string): Promise<{ value: T; text: string } | null> {
    const text = await storeOperation(() => store.getDocument(collection, id))
    return text === null ? null : { value: JSON.parse(text) as T, text }
  }

  /** Adds `sessionId` to a document's list, dropping sessions that have ended. */
  async function addSession<T extends { sessions: string[] }>(collection: string, id: string, initial: T | null, userSub: string, sessionId: string): Promise<void> {
    const live = new Set((await auth.listSessions(userSub)).map((session) => session.sid))
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await read<T>(collection, id)
      const base = current?.value ?? initial
      // An identity unlinked meanwhile is not linked again by its sign-in's bookkeeping.
      if (base === null) return
      const next = { ...base, sessions: [...base.sessions.filter((sid) => live.has(sid) && sid !== sessionId), sessionId] }
      if (await storeOperation(() => store.putDocument(collection, id, JSON.stringify(next), current?.text ?? null))) return
    }
    throw new AuthError("store_unavailable", "The identity record kept changing; try again.")
  }

  async function link(identity: Identity): Promise<Identity> {
    const id = digest(identity.issuer, identity.subject)
    await listUnder(store, identity.userSub, id)
    if (await storeOperation(() => store.putDocument(IDENTITIES, id, JSON.stringify(identity), null))) return identity
    // Linked meanwhile (a concurrent first sign-in): the first link stands.
    const winner = await read<Identity>(IDENTITIES, id)
    if (winner === null) return link(identity)
    if (winner.value.userSub !== identity.userSub) throw new OidcError("oidc_identity_taken", "This identity is already linked to another account.")
    return winner.value
  }

  async function createUser(provider: OidcProviderConfig, claims: ExternalClaims): Promise<User> {
    // An email becomes the username only when verified: an unverified one could later be matched by auto-linking.
    const candidates = [
      claims.email_verified === true && typeof claims.email === "string" ? claims.email.toLowerCase() : null,
      typeof claims.preferred_username === "string" && !claims.preferred_username.includes("@") ? claims.preferred_username.toLowerCase() : null,
    ].filter((name): name is string => name !== null && USERNAME.test(name))
    candidates.push(`${provider.name}-${randomBytes(6).toString("hex")}`)
    for (const username of candidates) {
      try {
        // No password: one nobody knows, so that the account signs in through its provider only.
        return await users.create({ username, password: randomBytes(32).toString("base64url"), passwordless: true })
      } catch (error) {
        if (!isAuthError(error) || error.code !== "invalid_request" || error.field !== "username") throw error
      }
    }
    return users.create({ username: `${provider.name}-${randomBytes(8).toString("hex")}`, password: randomBytes(32).toString("base64url"), passwordless: true })
  }

  return {
    async resolve(provider, claims, linking) {
      const fresh: Omit<Identity, "userSub"> = {
        issuer: claims.iss,
        subject: claims.sub,
        provider: provider.name,
        email: typeof claims.email === "string" ? claims.email : null,
        linkedAt: Date.now(),
        sessions: [],
      }
      const existing = await read<Identity>(IDENTITIES, digest(claims.iss, claims.sub))
      let user: User | null = null
      let identity: Identity | null = null
      if (existing !== null) {
        user = await users.get(existing.value.userSub)
        // A link to a user that no longer exists is dropped; the identity is then new.
        if (user === null) await storeOperation(() => store.deleteDocument(IDENTITIES, digest(claims.iss, claims.sub)))
        else identity = existing.value
      }
      if (linking !== null) {
        const owner = await users.get(linking.sub)
        const live = owner !== null && (await auth.listSessions(linking.sub)).some((session) => session.sid === linking.sid)
        if (owner === null || !live) throw new OidcError("oidc_link_expired", "The session that asked to link this identity has ended; sign in and try again.")
        if (identity !== null && identity.userSub !== owner.sub) throw new OidcError("oidc_identity_taken", "This identity is already linked to another account.")
        user = owner
        identity ??= await link({ ...fresh, userSub: owner.sub })
      }
      if (identity === null && provider.linkVerifiedEmail && claims.email_verified === true && typeof claims.email === "string") {
        const owner = await users.findByUsername(claims.email)
        if (owner !== null) {
          user = owner
          identity = await link({ ...fresh, userSub: owner.sub })
        }
      }
      if (identity === null) {
        if (registration === "closed") throw new OidcError("oidc_registration_closed", "Registration is closed: an administrator must create your account first.")
        user = await createUser(provider, claims)
        identity = await link({ ...fresh, userSub: user.sub })
        if (identity.userSub !== user.sub) user = await users.get(identity.userSub)
      }
      if (user === null) throw new OidcError("oidc_link_expired", "The linked account no longer exists.")
      if (user.suspendedAt !== null) throw new AuthError("forbidden", "This account is suspended.")
      return { user, identity }
    },

    async recordSession(identity, providerSid, sessionId) {
      await addSession<Identity>(IDENTITIES, digest(identity.issuer, identity.subject), null, identity.userSub, sessionId)
      if (providerSid !== null) {
        await addSession(SESSIONS, digest(identity.issuer, providerSid), { userSub: identity.userSub, sessions: [] as string[] }, identity.userSub, sessionId)
      }
    },

    async sessionsOf(issuer, target) {
      const found = new Set<string>()
      if (target.sid !== undefined) for (const sid of (await read<{ sessions: string[] }>(SESSIONS, digest(issuer, target.sid)))?.value.sessions ?? []) found.add(sid)
      if (target.sid === undefined && target.sub !== undefined) {
        for (const sid of (await read<Identity>(IDENTITIES, digest(issuer, target.sub)))?.value.sessions ?? []) found.add(sid)
      }
      return [...found]
    },
  }
}

/** Document ids of fixed length, whatever the provider's strings hold. */
function digest(issuer: string, value: string): string {
  return createHash("sha256").update(issuer).update("\n").update(value).digest("base64url")
}

export function identityList(store: ServerStore, users: UserDirectory): IdentityList {
  async function linked(userSub: string, ids: string[]): Promise<LinkedIdentity[]> {
    const found: LinkedIdentity[] = []
    for (const id of ids) {
      const text = await storeOperation(() => store.getDocument(IDENTITIES, id))
      if (text === null) continue
      const { sessions: _, ...identity } = JSON.parse(text) as Identity
      if (identity.userSub === userSub) found.push({ id, ...identity })
    }
    return found.sort((a, b) => a.linkedAt - b.linkedAt)
  }

  return {
    async list(userSub) {
      const index = await storeOperation(() => store.getDocument(BY_USER, userSub))
      return index === null ? [] : linked(userSub, (JSON.parse(index) as { ids: string[] }).ids)
    },

    async unlink(userSub, id) {
      if (!IDENTITY_ID.test(id)) return false
      // The check and the removal from the index are one compare-and-set: two unlinks at once cannot both pass it.
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const index = await storeOperation(() => store.getDocument(BY_USER, userSub))
        if (index === null) return false
        const current = await linked(userSub, (JSON.parse(index) as { ids: string[] }).ids)
        if (!current.some((identity) => identity.id === id)) return false
        if (current.length === 1 && (await users.get(userSub))?.passwordless === true) {
          throw new OidcError("oidc_last_identity", "This is the only way to sign in to this account: set a password or link another identity first.")
        }
        const ids = current.filter((identity) => identity.id !== id).map((identity) => identity.id)
        if (!(await storeOperation(() => store.putDocument(BY_USER, userSub, JSON.stringify({ ids }), index)))) continue
        await storeOperation(() => store.deleteDocument(IDENTITIES, id))
        return true
      }
      throw new AuthError("store_unavailable", "The identity list kept changing; try again.")
    },

    async forget(userSub) {
      const index = await storeOperation(() => store.getDocument(BY_USER, userSub))
      if (index === null) return
      for (const identity of await linked(userSub, (JSON.parse(index) as { ids: string[] }).ids)) {
        await storeOperation(() => store.deleteDocument(IDENTITIES, identity.id))
      }
      await storeOperation(() => store.deleteDocument(BY_USER, userSub))
    },
  }
}

/** Adds an identity's id to its user's index, before the identity is written: the index may list more, never less. */
async function listUnder(store: ServerStore, userSub: string, id: string): Promise<void> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const text = await storeOperation(() => store.getDocument(BY_USER, userSub))
    const ids = text === null ? [] : (JSON.parse(text) as { ids: string[] }).ids
    if (ids.includes(id)) return
    if (await storeOperation(() => store.putDocument(BY_USER, userSub, JSON.stringify({ ids: [...ids, id] }), text))) return
  }
  throw new AuthError("store_unavailable", "The identity list kept changing; try again.")
}
