// Users' mail addresses: optional, personal data, and each belongs to one account at most (the `emails` index, by
// the address in lower case), so that a password reset asked for by address names exactly one account.
import { AuthError } from "revocable"
import { storeOperation, type ServerStore } from "revocable/stores"
import { ServerError } from "./errors.ts"
import { isMailAddress } from "./mail-values.ts"
import type { UserDirectory } from "./user-directory.ts"
import { checkCurrent } from "./user-passwords.ts"
import { view, type UserRecords } from "./user-records.ts"

const EMAIL_RULE = "an address such as alice@example.com, at most 254 characters"

export type UserEmails = Pick<UserDirectory, "findByEmail" | "setEmail" | "markEmailVerified"> & {
  /** Takes the index entry of `key` (an emailKey) for `sub`; throws `invalid_request` when another account has it. */
  claim(key: string, sub: string): Promise<void>
}

export function userEmails(store: ServerStore, { record, indexed, update }: UserRecords): UserEmails {
  async function claim(key: string, sub: string): Promise<void> {
    const entry = JSON.stringify({ sub })
    if (await storeOperation(() => store.putDocument("emails", key, entry, null))) return
    const existing = await storeOperation(() => store.getDocument("emails", key))
    if (existing !== null) {
      const owner = await record((JSON.parse(existing) as { sub: string }).sub)
      // Its own, or left by a create or a change that failed half-way: taken over.
      const stale = owner === null || owner.sub === sub || emailKey(owner.email) !== key
      if (stale && (await storeOperation(() => store.putDocument("emails", key, entry, existing)))) return
    }
    throw new AuthError("invalid_request", "That mail address belongs to another account.", { field: "email" })
  }

  async function release(key: string, sub: string): Promise<void> {
    const existing = await storeOperation(() => store.getDocument("emails", key))
    if (existing !== null && (JSON.parse(existing) as { sub: string }).sub === sub) await storeOperation(() => store.deleteDocument("emails", key))
  }

  return {
    claim,

    async findByEmail(email) {
      const key = typeof email === "string" && isMailAddress(email.trim()) ? emailKey(email) : null
      const user = await indexed("emails", key ?? "", (found) => emailKey(found.email))
      return user && view(user)
    },

    async setEmail(sub, current, email) {
      const user = await record(sub)
      if (user === null) throw new ServerError("invalid_credentials")
      await checkCurrent(user, current)
      const next = readEmail(email)
      const [before, after] = [emailKey(user.email), emailKey(next)]
      if (after !== null && after !== before) await claim(after, sub)
      const changed = await update(sub, (latest) => ({ ...latest, email: next, emailVerified: after === before && latest.emailVerified === true }))
      if (changed === null) throw new ServerError("invalid_credentials")
      if (before !== null && before !== after) await release(before, sub)
      return view(changed)
    },

    async markEmailVerified(sub, email) {
      let matches = false
      const user = await update(sub, (latest) => {
        matches = emailKey(latest.email) === emailKey(email)
        return matches ? { ...latest, emailVerified: true } : latest
      })
      return user !== null && matches ? view(user) : null
    },
  }
}

/** The address as stored: trimmed; null for none. Throws `invalid_request` for a malformed one. */
export function readEmail(email: unknown): string | null {
  if (email === undefined || email === null || email === "") return null
  const address = typeof email === "string" ? email.trim() : ""
  if (!isMailAddress(address)) throw new AuthError("invalid_request", `The mail address must be ${EMAIL_RULE}.`, { field: "email" })
  return address
}

/** The `emails` index key: an address in lower case (in practice no mail system tells cases apart). */
export function emailKey(email: string | null | undefined): string | null {
  return email === null || email === undefined ? null : email.trim().toLowerCase()
}
