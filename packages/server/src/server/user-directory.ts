/**
 * The server's user accounts, kept as documents in the store (collection `users` by subject, `usernames` as the
 * unique index), with argon2id password hashes.
 *
 * Logging in with an unknown username costs the same argon2id work as a wrong password and fails with the same
 * `invalid_credentials`, so neither the answer nor its time tells whether the account exists.
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
import { MAX_PASSWORD_LENGTH as MAX_PASSWORD, passwordProblem } from "./password-policy.ts"

export interface User {
  sub: string
  username: string
  roles: string[]
  createdAt: number
  suspendedAt: number | null
  passwordChangedAt: number
  /** Made by a federated sign-in with a password nobody knows: it signs in through its providers until one is set. */
  passwordless: boolean
}

interface UserRecord extends User {
  passwordHash: string
}

export interface UserDirectory {
  /** Throws `invalid_request` for a taken or malformed username, a weak password or bad roles. */
  create(input: { username: string; password: string; roles?: string[]; passwordless?: boolean }): Promise<User>
  /** Throws `invalid_credentials` for an unknown user or a wrong password, alike; `forbidden` when suspended. */
  authenticate(username: string, password: string): Promise<User>
  get(sub: string): Promise<User | null>
  findByUsername(username: string): Promise<User | null>
  list(query?: { cursor?: string | null | undefined; limit?: number | undefined }): Promise<Page<User>>
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
}

export const USERNAME_RULE = "3 to 64 characters: letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
export { PASSWORD_RULE } from "./password-policy.ts"
const USERNAME = /^[a-z0-9][a-z0-9._@-]{2,63}$/
const ROLE = /^[a-z][a-z0-9_-]{0,31}$/
const MAX_PAGE = 1000
const CAS_ATTEMPTS = 16

export function userDirectory(store: ServerStore, auth: Auth): UserDirectory {
  // Hashed once, so that a login for an unknown user does the same argon2id work as a wrong password.
  const dummyHash = hashPassword(randomBytes(16).toString("base64url"))
  dummyHash.catch(() => undefined)
  // A subject no user has: 128 random bits, like every real one.
  const absentSub = randomId()

  async function record(sub: string): Promise<UserRecord | null> {
    if (typeof sub !== "string" || sub === "" || sub.length > 1024) return null
    const text = await storeOperation(() => store.getDocument("users", sub))
    return text === null ? null : (JSON.parse(text) as UserRecord)
  }

  async function recordByUsername(username: unknown): Promise<UserRecord | null> {
    const name = normalise(username)
    if (name === null) return null
    const index = await storeOperation(() => store.getDocument("usernames", name))
    // An unknown name still reads a user record (one that never exists), so that it costs what a known one does.
    const found = await record(index === null ? absentSub : (JSON.parse(index) as { sub: string }).sub)
    return index !== null && found !== null && found.username === name ? found : null
  }

  /** Compare-and-set update; resolves null when the user does not exist. */
  async function update(sub: string, change: (current: UserRecord) => UserRecord): Promise<UserRecord | null> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const text = await storeOperation(() => store.getDocument("users", sub))
      if (text === null) return null
      const next = change(JSON.parse(text) as UserRecord)
      if (await storeOperation(() => store.putDocument("users", sub, JSON.stringify(next), text))) return next
    }
    throw new AuthError("store_unavailable", "The user record kept changing; try again.")
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

  return {
    async create(input) {
      const username = normalise(input?.username)
      if (username === null) throw new AuthError("invalid_request", `The username must be ${USERNAME_RULE}.`, { field: "username" })
      await checkPassword(input.password, username)
      const roles = input.roles ?? []
      if (!Array.isArray(roles) || roles.length > 16 || !roles.every((role) => typeof role === "string" && ROLE.test(role))) {
        throw new AuthError("invalid_request", "Roles must be at most 16 lower-case names such as \"admin\".", { field: "roles" })
      }
      const now = Date.now()
      const user: UserRecord = {
        sub: randomId(),
        username,
        roles: [...new Set(roles)],
        createdAt: now,
        suspendedAt: null,
        passwordChangedAt: now,
        passwordless: input.passwordless === true,
        passwordHash: await hashPassword(input.password),
      }
      await claimUsername(username, user.sub)
      await storeOperation(() => store.putDocument("users", user.sub, JSON.stringify(user), null))
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

    async changePassword(sub, current, next, keepSessionId = null) {
      const user = await record(sub)
      if (user === null) throw new ServerError("invalid_credentials")
      const valid = typeof current === "string" && current.length <= MAX_PASSWORD
      if (!user.passwordless && (!(await verifyPassword(valid ? current : "", user.passwordHash)) || !valid)) throw new ServerError("invalid_credentials")
      await checkPassword(next, user.username)
      const passwordHash = await hashPassword(next)
      const changed = await update(sub, (latest) => {
        if (latest.passwordHash !== user.passwordHash) throw new AuthError("invalid_request", "The password was changed meanwhile; try again.")
        return { ...latest, passwordHash, passwordless: false, passwordChangedAt: Math.max(Date.now(), latest.passwordChangedAt + 1) }
      })
      if (changed === null) throw new ServerError("invalid_credentials")
      let revoked = 0
      for (const session of await auth.listSessions(sub)) {
        if (session.sid === keepSessionId) continue
        await auth.revokeSession(session.sid, { reason: "password changed", actor: user.username })
        revoked++
      }
      return revoked
    },

    async isCurrent(user) {
      const latest = await record(user.sub)
      return latest !== null && latest.suspendedAt === null && latest.passwordChangedAt === user.passwordChangedAt
    },
  }
}

function normalise(username: unknown): string | null {
  if (typeof username !== "string") return null
  const name = username.trim().toLowerCase()
  return USERNAME.test(name) ? name : null
}

/** Throws `invalid_request` that says why the password policy refuses `password`. */
async function checkPassword(password: unknown, username: string): Promise<void> {
  const problem = typeof password === "string" ? await passwordProblem(password, username) : "The password must be a string."
  if (problem !== null) throw new AuthError("invalid_request", problem, { field: "password" })
}

function view(record: UserRecord): User {
  return {
    sub: record.sub,
    username: record.username,
    roles: record.roles,
    createdAt: record.createdAt,
    suspendedAt: record.suspendedAt,
    passwordChangedAt: record.passwordChangedAt,
    passwordless: record.passwordless === true,
  }
}
