// Users' passwords: the policy on a new one, the check of the current one, and the two ways to replace one (a
// change, which ends the user's other sessions; a reset, which ends them all).
import { AuthError, type Auth } from "revocable"
import { ServerError } from "./errors.ts"
import { hashPassword, verifyPassword } from "./password.ts"
import { MAX_PASSWORD_LENGTH, passwordProblem } from "./password-policy.ts"
import type { UserDirectory } from "./user-directory.ts"
import { view, type UserRecord, type UserRecords } from "./user-records.ts"

export function userPasswords({ record, update }: UserRecords, auth: Auth): Pick<UserDirectory, "changePassword" | "resetPassword"> {
  return {
    async changePassword(sub, current, next, keepSessionId = null) {
      const user = await record(sub)
      if (user === null) throw new ServerError("invalid_credentials")
      await checkCurrent(user, current)
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

    async resetPassword(sub, next, options) {
      const user = await record(sub)
      if (user === null) return null
      await checkPassword(next, user.username)
      const passwordHash = await hashPassword(next)
      await options.claim?.()
      const changed = await update(sub, (latest) => {
        if (options.passwordChangedAt !== undefined && latest.passwordChangedAt !== options.passwordChangedAt) {
          throw new AuthError("invalid_request", "The password was changed meanwhile.")
        }
        return { ...latest, passwordHash, passwordless: false, passwordChangedAt: Math.max(Date.now(), latest.passwordChangedAt + 1) }
      })
      if (changed === null) return null
      await auth.revokeSubject(sub, { reason: options.meta.reason ?? "password reset", ...(options.meta.actor === undefined ? {} : { actor: options.meta.actor }) })
      return view(changed)
    },
  }
}

/** Throws `invalid_credentials` unless `current` is the user's password; a passwordless user has none to show. */
export async function checkCurrent(user: UserRecord, current: unknown): Promise<void> {
  const valid = typeof current === "string" && current.length <= MAX_PASSWORD_LENGTH
  if (!user.passwordless && (!(await verifyPassword(valid ? current : "", user.passwordHash)) || !valid)) throw new ServerError("invalid_credentials")
}

/** Throws `invalid_request` that says why the password policy refuses `password`. */
export async function checkPassword(password: unknown, username: string): Promise<void> {
  const problem = typeof password === "string" ? await passwordProblem(password, username) : "The password must be a string."
  if (problem !== null) throw new AuthError("invalid_request", problem, { field: "password" })
}
