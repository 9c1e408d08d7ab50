// The `users` collection: each user's record (what the directory shows, and the password hash), read by subject or
// through a unique index, and changed by compare-and-set.
import { AuthError, randomId } from "revocable"
import { storeOperation, type ServerStore } from "revocable/stores"

export interface User {
  sub: string
  username: string
  roles: string[]
  createdAt: number
  suspendedAt: number | null
  passwordChangedAt: number
  /** Made by a federated sign-in with a password nobody knows: it signs in through its providers until one is set. */
  passwordless: boolean
  /** Where password-reset links go, as the user typed it; null when none is given. */
  email: string | null
  /** Whether its owner opened the link mailed to it since it was set (REVOCABLE_EMAIL_VERIFICATION). */
  emailVerified: boolean
}

export interface UserRecord extends User {
  passwordHash: string
}

export interface UserRecords {
  /** The user's record; null for an unknown subject. */
  record(sub: string): Promise<UserRecord | null>
  /** The user an index entry (`usernames`, `emails`) names, if that user still has `key`; the same reads when none does. */
  indexed(collection: string, key: string, keyOf: (user: UserRecord) => string | null): Promise<UserRecord | null>
  /** Compare-and-set update; resolves null when the user does not exist. */
  update(sub: string, change: (current: UserRecord) => UserRecord): Promise<UserRecord | null>
}

const CAS_ATTEMPTS = 16

export function userRecords(store: ServerStore): UserRecords {
  // A subject no user has: 128 random bits, like every real one.
  const absentSub = randomId()

  async function record(sub: string): Promise<UserRecord | null> {
    if (typeof sub !== "string" || sub === "" || sub.length > 1024) return null
    const text = await storeOperation(() => store.getDocument("users", sub))
    return text === null ? null : (JSON.parse(text) as UserRecord)
  }

  return {
    record,

    async indexed(collection, key, keyOf) {
      const index = await storeOperation(() => store.getDocument(collection, key))
      // An unknown key still reads a user record (one that never exists), so that it costs what a known one does.
      const found = await record(index === null ? absentSub : (JSON.parse(index) as { sub: string }).sub)
      return index !== null && found !== null && keyOf(found) === key ? found : null
    },

    async update(sub, change) {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const text = await storeOperation(() => store.getDocument("users", sub))
        if (text === null) return null
        const next = change(JSON.parse(text) as UserRecord)
        if (await storeOperation(() => store.putDocument("users", sub, JSON.stringify(next), text))) return next
      }
      throw new AuthError("store_unavailable", "The user record kept changing; try again.")
    },
  }
}

/** What the directory shows of a record: never the password hash. */
export function view(record: UserRecord): User {
  return {
    sub: record.sub,
    username: record.username,
    roles: record.roles,
    createdAt: record.createdAt,
    suspendedAt: record.suspendedAt,
    passwordChangedAt: record.passwordChangedAt,
    passwordless: record.passwordless === true,
    // Records from before addresses existed have neither field.
    email: record.email ?? null,
    emailVerified: record.emailVerified === true,
  }
}
