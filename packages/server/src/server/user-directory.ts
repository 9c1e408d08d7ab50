/**
 * The server's user accounts, kept as documents in the store (collection `users` by subject, `usernames` and
 * `emails` as the unique indexes), with argon2id password hashes. A mail address is optional, personal data, and
 * belongs to one account at most, so that a password reset asked for by address names exactly one account.
 *
 * Logging in with an unknown username costs the same argon2id work as a wrong password and fails with the same
 * `invalid_credentials`, so neither the answer nor its time tells whether the account exists.
 *
 * The parts: records (user-records.ts), mail addresses (user-emails.ts), password changes and resets
 * (user-passwords.ts), the indexes and search (user-index.ts, user-search.ts).
 *
 * @example
 * const users = userDirectory(store, auth)
 * const alice = await users.create({ username: "alice", password: "correct horse battery" })
 * const same = await users.authenticate("alice", "correct horse battery")   // throws invalid_credentials
 * await users.suspend(alice.sub, { reason: "incident 42", actor: "ops" })    // her tokens die, login refused
 */
import { randomBytes } from "node:crypto"
import { AuthError, randomId, type Auth, type RevokeMeta } from "revocable"
import { type Page, type ServerStore, storeOperation } from "revocable/stores"
import { ServerError } from "./errors.ts"
import { hashPassword, needsRehash, verifyPassword } from "./password.ts"
import { MAX_PASSWORD_LENGTH as MAX_PASSWORD } from "./password-policy.ts"
import { emailKey, readEmail, userEmails } from "./user-emails.ts"
import { COLLECTIONS, userIndex } from "./user-index.ts"
import { checkPassword, userPasswords } from "./user-passwords.ts"
import { userRecords, view, type User, type UserRecord } from "./user-records.ts"
import { searchUsers, type UserQuery } from "./user-search.ts"

export type { User } from "./user-records.ts"

export interface UserDirectory {
  /** Throws `invalid_request` for a taken or malformed username, a weak password or bad roles. */
  create(input: { username: string; password: string; roles?: string[]; passwordless?: boolean; email?: string | null | undefined }): Promise<User>
  /** Throws `invalid_credentials` for an unknown user or a wrong password, alike; `forbidden` when suspended. */
  authenticate(username: string, password: string): Promise<User>
  get(sub: string): Promise<User | null>
  findByUsername(username: string): Promise<User | null>
  /** The user with this mail address (any case); as costly for an unknown address as for a known one. */
  findByEmail(email: string): Promise<User | null>
  list(query?: { cursor?: string | null | undefined; limit?: number | undefined }): Promise<Page<User>>
  /** Users by name or newest first, or those whose username or email starts with `q` (see user-search.ts). */
  search(query: UserQuery): Promise<Page<User>>
  /**
   * Replaces the user's roles; resolves the user before and after the change, null for an unknown subject. A
   * session's tokens carry the roles of its sign-in: when a role is taken away, every token of the user is revoked
   * (`meta` says why), so that it is gone at once. Throws `invalid_request` for bad roles, and for taking the role
   * admin from the last admin who is not suspended.
   */
  setRoles(sub: string, roles: unknown, meta?: RevokeMeta): Promise<{ before: User; after: User } | null>
  /**
   * Deletes the account: suspended first (logins refused, every token revoked), then its record and index entries,
   * so that its username and address are free again. False for an unknown subject. The caller removes what other
   * parts keep about the user (identities, session details).
   */
  remove(sub: string, meta?: RevokeMeta): Promise<boolean>
  /** Refuses further logins and revokes every token of the user. Null for an unknown subject. */
  suspend(sub: string, meta?: RevokeMeta): Promise<User | null>
  /** Allows logins again; tokens revoked by the suspension stay revoked. Null for an unknown subject. */
  unsuspend(sub: string): Promise<User | null>
  /**
   * Checks the current password, stores the new one and revokes every other session of the user (the one
   * named by `keepSessionId` survives). Resolves the number of sessions revoked. A passwordless user has no
   * current password to show: `current` is ignored and the new one ends the passwordless state.
   */
  changePassword(sub: string, current: string, next: string, keepSessionId?: string | null): Promise<number>
  /**
   * Whether the account is still as `user` saw it: not suspended and the password unchanged since. Checked after
   * a login issued its tokens, to close the race with a concurrent suspension or password change.
   */
  isCurrent(user: User): Promise<boolean>
  /**
   * Sets (or with null or "" removes) the user's mail address, unverified, after checking the current password as
   * changePassword does. Throws `invalid_request` for a malformed address or one of another account.
   */
  setEmail(sub: string, current: string, email: string | null): Promise<User>
  /** Marks the address verified if it is still the user's; null when it is not (or the user is gone). */
  markEmailVerified(sub: string, email: string): Promise<User | null>
  /**
   * Sets a new password without the current one (an admin's reset, or a reset link) and revokes every token of
   * the user. `passwordChangedAt`, when given, must still be the user's (a link dies with the password it was
   * issued for); `claim` runs once the new password passed the policy, before it is stored (a link is spent
   * there). Null for an unknown subject.
   */
  resetPassword(sub: string, next: string, options: { meta: RevokeMeta; passwordChangedAt?: number; claim?: () => Promise<void> }): Promise<User | null>
}

export const USERNAME_RULE = "3 to 64 characters: letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
export { PASSWORD_RULE } from "./password-policy.ts"
const USERNAME = /^[a-z0-9][a-z0-9._@-]{2,63}$/
const ROLE = /^[a-z][a-z0-9_-]{0,31}$/
const MAX_PAGE = 1000

export function userDirectory(store: ServerStore, auth: Auth): UserDirectory {
  // Hashed once, so that a login for an unknown user does the same argon2id work as a wrong password.
  const dummyHash = hashPassword(randomBytes(16).toString("base64url"))
  dummyHash.catch(() => undefined)
  const index = userIndex(store)
  const records = userRecords(store)
  const { record, indexed, update } = records
  const { claim: claimEmail, ...emails } = userEmails(store, records)

  async function recordByUsername(username: unknown): Promise<UserRecord | null> {
    const name = normalise(username)
    if (name === null) return null
    return indexed("usernames", name, (user) => user.username)
  }

  async function claimUsername(name: string, sub: string): Promise<void> {
    const entry = JSON.stringify({ sub })
    if (await storeOperation(() => store.putDocument("usernames", name, entry, null))) return
    // A username whose user record is missing was left by a create that failed half-way: take it over.
    const existing = await storeOperation(() => store.getDocument("usernames", name))
    if (existing !== null) {
      const owner = await record((JSON.parse(existing) as { sub: string }).sub)
      if (owner === null && (await storeOperation(() => store.putDocument("usernames", name, entry, existing)))) return
    }
    throw new AuthError("invalid_request", "That username is taken.", { field: "username" })
  }

  /**
   * Whether a user other than `sub` has the role admin and is not suspended. Taking the role admin from a user, or
   * deleting one, asks it before the write and again after it. Two admins who take it from each other at once each
   * see the other before either writes; whichever checks last finds no admin left and undoes its own change (at
   * worst both do, and both are refused), so one always remains.
   */
  async function anotherAdmin(sub: string): Promise<boolean> {
    let start: string | null = null
    for (;;) {
      const { hits, more } = await index.scan(COLLECTIONS.role, "admin ", start, 20)
      for (const hit of hits) {
        if (hit.sub === sub) continue
        const user = await record(hit.sub)
        if (user !== null && user.roles.includes("admin") && user.suspendedAt === null) return true
      }
      const last = hits.at(-1)
      if (!more || last === undefined) return false
      start = last.id
    }
  }

  return {
    async create(input) {
      const username = normalise(input?.username)
      if (username === null) throw new AuthError("invalid_request", `The username must be ${USERNAME_RULE}.`, { field: "username" })
      await checkPassword(input.password, username)
      const roles = readRoles(input.roles ?? [])
      const email = readEmail(input.email)
      const now = Date.now()
      const user: UserRecord = {
        sub: randomId(),
        username,
        roles,
        createdAt: now,
        suspendedAt: null,
        passwordChangedAt: now,
        passwordless: input.passwordless === true,
        email,
        emailVerified: false,
        passwordHash: await hashPassword(input.password),
      }
      await claimUsername(username, user.sub)
      if (email !== null) await claimEmail(emailKey(email) as string, user.sub)
      await storeOperation(() => store.putDocument("users", user.sub, JSON.stringify(user), null))
      await index.reindex(null, user)
      return view(user)
    },

    async authenticate(username, password) {
      const user = await recordByUsername(username)
      const valid = typeof password === "string" && password.length <= MAX_PASSWORD
      const matches = await verifyPassword(valid ? password : "", user?.passwordHash ?? (await dummyHash))
      if (user === null || !valid || !matches) throw new ServerError("invalid_credentials")
      if (user.suspendedAt !== null) throw new AuthError("forbidden", "This account is suspended.")
      if (needsRehash(user.passwordHash)) {
        const passwordHash = await hashPassword(password)
        await update(user.sub, (current) => (current.passwordHash === user.passwordHash ? { ...current, passwordHash } : current))
      }
      return view(user)
    },

    async get(sub) {
      const user = await record(sub)
      return user && view(user)
    },

    async findByUsername(username) {
      const user = await recordByUsername(username)
      return user && view(user)
    },

    async list(query = {}) {
      const limit = query.limit ?? 50
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
        throw new AuthError("invalid_request", `limit must be an integer from 1 to ${MAX_PAGE}.`)
      }
      const page = await storeOperation(() => store.listDocuments("users", { cursor: query.cursor, limit }))
      return { items: page.items.map((item) => view(JSON.parse(item.json) as UserRecord)), next: page.next }
    },

    search(query) {
      return searchUsers(index, async (sub) => {
        const user = await record(sub)
        return user && view(user)
      }, query)
    },

    async setRoles(sub, roles, meta = {}) {
      const next = readRoles(roles)
      const before = await record(sub)
      if (before === null) return null
      const dropsAdmin = before.roles.includes("admin") && !next.includes("admin")
      if (dropsAdmin && !(await anotherAdmin(sub))) throw lastAdmin("roles")
      const after = await update(sub, (current) => ({ ...current, roles: next }))
      if (after === null) return null
      if (dropsAdmin && !(await anotherAdmin(sub))) {
        // Our change is undone only where no other came after it.
        await update(sub, (current) => (sameRoles(current.roles, next) ? { ...current, roles: before.roles } : current))
        throw lastAdmin("roles")
      }
      await index.reindex(before, after)
      if (before.roles.some((role) => !next.includes(role))) {
        await auth.revokeSubject(sub, { reason: meta.reason ?? "roles changed", ...(meta.actor === undefined ? {} : { actor: meta.actor }) })
      }
      return { before: view(before), after: view(after) }
    },

    async remove(sub, meta = {}) {
      const user = await record(sub)
      if (user === null) return false
      const isAdmin = user.roles.includes("admin")
      if (isAdmin && !(await anotherAdmin(sub))) throw lastAdmin()
      // Suspended first: a sign-in racing the deletion is refused, or its session revoked by isCurrent's check.
      const suspended = await update(sub, (current) => ({ ...current, suspendedAt: current.suspendedAt ?? Date.now() }))
      if (suspended === null) return false
      if (isAdmin && !(await anotherAdmin(sub))) {
        await update(sub, (current) => (current.suspendedAt === suspended.suspendedAt ? { ...current, suspendedAt: user.suspendedAt } : current))
        throw lastAdmin()
      }
      await auth.revokeSubject(sub, { reason: meta.reason ?? "user deleted", ...(meta.actor === undefined ? {} : { actor: meta.actor }) })
      await index.reindex(user, null)
      const owned = async (collection: string, key: string | null) => {
        const entry = key === null ? null : await storeOperation(() => store.getDocument(collection, key))
        if (key !== null && entry !== null && (JSON.parse(entry) as { sub: string }).sub === sub) await storeOperation(() => store.deleteDocument(collection, key))
      }
      await owned(COLLECTIONS.name, user.username)
      await owned(COLLECTIONS.email, emailKey(user.email))
      return storeOperation(() => store.deleteDocument("users", sub))
    },

    async suspend(sub, meta = {}) {
      const user = await update(sub, (current) => ({ ...current, suspendedAt: current.suspendedAt ?? Date.now() }))
      if (user === null) return null
      await auth.revokeSubject(sub, { reason: meta.reason ?? "suspended", ...(meta.actor === undefined ? {} : { actor: meta.actor }) })
      return view(user)
    },

    async unsuspend(sub) {
      const user = await update(sub, (current) => ({ ...current, suspendedAt: null }))
      return user && view(user)
    },

    async isCurrent(user) {
      const latest = await record(user.sub)
      return latest !== null && latest.suspendedAt === null && latest.passwordChangedAt === user.passwordChangedAt
    },

    ...emails,
    ...userPasswords(records, auth),
  }
}

function lastAdmin(field?: string): AuthError {
  return new AuthError("invalid_request", "This is the last admin: make another user admin first.", field === undefined ? undefined : { field })
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((role, index) => role === b[index])
}

function normalise(username: unknown): string | null {
  if (typeof username !== "string") return null
  const name = username.trim().toLowerCase()
  return USERNAME.test(name) ? name : null
}

/** The roles as stored, each once; throws `invalid_request` for anything else than a few lower-case names. */
function readRoles(roles: unknown): string[] {
  if (!Array.isArray(roles) || roles.length > 16 || !roles.every((role) => typeof role === "string" && ROLE.test(role))) {
    throw new AuthError("invalid_request", "Roles must be at most 16 lower-case names such as \"admin\".", { field: "roles" })
  }
  return [...new Set(roles as string[])]
}

/** A person as the audit log and revocations name them: by username, by sub once the user is gone. */
export async function actorName(users: Pick<UserDirectory, "get">, sub: string): Promise<string> {
  return (await users.get(sub))?.username ?? sub
}
