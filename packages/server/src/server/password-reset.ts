/**
 * Password recovery by mail, and the verification of the addresses it mails to.
 *
 * A link carries a random 32-byte token; the store keeps only its SHA-256 (collection `password_resets` or
 * `email_verifications`), with the user, the address it was mailed to and when it expires. It is spent by deleting
 * that document, which only one request can do, so a link works once. A reset link is also bound to the password
 * it was issued under (the user's `passwordChangedAt`) and to the address: a password change or a new address
 * since kills it.
 *
 * Links point at the console, the token in the URL's fragment (`ISSUER/#/reset?token=…`): a browser never sends a
 * fragment, so the token stays out of server and proxy logs, and the console posts it.
 *
 * A request for a reset answers the same whether or not the account exists: the lookup, the token and the mail
 * happen afterwards, one at a time, on the mailer's queue (mailer.ts).
 *
 * @example
 * const recovery = createRecovery({ config, store, users, log: app.log })
 * recovery.request("alice@example.com")                    // returns at once; the mail follows
 * const alice = await recovery.confirm(token, "a new long passphrase")   // every session of hers revoked
 */
import { createHash, randomBytes } from "node:crypto"
import { AuthError } from "revocable"
import { type ServerStore, storeOperation } from "revocable/stores"
import type { ServerConfig } from "./config.ts"
import { createMailer, type MailLogger, type Mail, type Mailer } from "./mailer.ts"
import type { User, UserDirectory } from "./user-directory.ts"

export interface Recovery {
  /** Whether this server sends mail (REVOCABLE_SMTP_URL): without it, no self-service reset and no verification. */
  readonly available: boolean
  /**
   * Mails a reset link to the account that `identifier` names (its address, else its username) if it has a
   * usable address and is not suspended. Returns at once, whatever the account; the work follows on the queue.
   */
  request(identifier: string): void
  /**
   * Sets the password a reset link was mailed for (the password policy applies, and a refused password leaves the
   * link usable) and revokes every token of the user. Throws `invalid_request` for a link unknown, used, expired
   * or dead.
   */
  confirm(token: string, password: string): Promise<User>
  /** Mails a link that verifies the user's address, when REVOCABLE_EMAIL_VERIFICATION is on and it has one. */
  sendVerification(user: User): void
  /** Marks the address a verification link was mailed to verified; throws `invalid_request` for a bad link. */
  verifyEmail(token: string): Promise<User>
  /** Resolves once the mail queued so far has been handled. */
  settled(): Promise<void>
  /** Waits for the queue and closes the SMTP connection. */
  close(): Promise<void>
}

export interface RecoveryOptions {
  config: Pick<ServerConfig, "issuer" | "smtp" | "passwordResetTtlMs" | "emailVerification">
  store: ServerStore
  users: UserDirectory
  log: MailLogger
  /** A mailer to use instead of one made from `config.smtp` (tests). */
  mailer?: Mailer
  clock?: () => number
}

interface Link {
  sub: string
  /** The address in lower case, as the `emails` index keys it. */
  email: string
  /** Reset links: the user's passwordChangedAt when it was issued. */
  passwordChangedAt?: number
  expiresAt: number
}

const TOKEN_BYTES = 32
const VERIFICATION_TTL_MS = 24 * 3_600_000
/** Expired links deleted each time one is issued, so that a collection stays about as large as its live links. */
const SWEEP = 20
const INVALID_LINK = "This link is not valid: it was used already, it expired, or the password or address changed since it was sent. Ask for a new one."

/** A password of 144 random bits (24 characters), for an admin's reset that sets none: shown once. */
export function generatePassword(): string {
  return randomBytes(18).toString("base64url")
}

export function createRecovery(options: RecoveryOptions): Recovery {
  const { config, store, users } = options
  const clock = options.clock ?? Date.now
  const mailer = options.mailer ?? (config.smtp === null ? null : createMailer(config.smtp, options.log))
  const resets = oneTimeLinks(store, "password_resets", clock)
  const verifications = oneTimeLinks(store, "email_verifications", clock)
  const consoleUrl = config.issuer.replace(/\/+$/, "")

  function invalidLink(): AuthError {
    return new AuthError("invalid_request", INVALID_LINK, { field: "token" })
  }

  async function resetMail(identifier: string): Promise<Mail | null> {
    const user = (await users.findByEmail(identifier)) ?? (await users.findByUsername(identifier))
    if (user === null || user.email === null || user.suspendedAt !== null) return null
    // An address nobody proved to own could be anyone's: with verification on, resets go to proven ones only.
    if (config.emailVerification && !user.emailVerified) return null
    const minutes = Math.round(config.passwordResetTtlMs / 60_000)
    const token = await resets.issue({ sub: user.sub, email: user.email.toLowerCase(), passwordChangedAt: user.passwordChangedAt, expiresAt: clock() + config.passwordResetTtlMs })
    return {
      to: user.email,
      subject: "Reset your password",
      text: [
        `Someone, hopefully you, asked to reset the password of the account ${user.username} at ${consoleUrl}.`,
        "",
        `To choose a new password, open this link within ${minutes} minutes. It works once, and signs the account out everywhere:`,
        "",
        `${consoleUrl}/#/reset?token=${token}`,
        "",
        "If it was not you, ignore this mail: the password stays as it is.",
      ].join("\n"),
    }
  }

  return {
    available: mailer !== null,

    request(identifier) {
      mailer?.enqueue(() => resetMail(identifier), "password reset")
    },

    async confirm(token, password) {
      const link = await resets.find(token)
      if (link === null) throw invalidLink()
      const user = await users.get(link.sub)
      if (user === null || user.passwordChangedAt !== link.passwordChangedAt || user.email?.toLowerCase() !== link.email) {
        await resets.spend(token)
        throw invalidLink()
      }
      const updated = await users.resetPassword(user.sub, password, {
        meta: { reason: "password reset", actor: user.username },
        passwordChangedAt: link.passwordChangedAt,
        claim: async () => {
          if (!(await resets.spend(token))) throw invalidLink()
        },
      })
      if (updated === null) throw invalidLink()
      return updated
    },

    sendVerification(user) {
      const email = user.email
      if (!config.emailVerification || email === null || user.emailVerified) return
      mailer?.enqueue(async () => {
        const token = await verifications.issue({ sub: user.sub, email: email.toLowerCase(), expiresAt: clock() + VERIFICATION_TTL_MS })
        return {
          to: email,
          subject: "Confirm your mail address",
          text: [
            `This address was given for the account ${user.username} at ${consoleUrl}.`,
            "",
            "To confirm that it is yours, open this link within 24 hours:",
            "",
            `${consoleUrl}/#/verify-email?token=${token}`,
            "",
            "If it was not you, ignore this mail: the address will not be used.",
          ].join("\n"),
        }
      }, "address verification")
    },

    async verifyEmail(token) {
      const link = await verifications.find(token)
      if (link === null || !(await verifications.spend(token))) throw invalidLink()
      const user = await users.markEmailVerified(link.sub, link.email)
      if (user === null) throw invalidLink()
      return user
    },

    settled: async () => mailer?.settled(),
    close: async () => mailer?.close(),
  }
}

/** Single-use tokens whose SHA-256 keys a document of `collection`. */
function oneTimeLinks(store: ServerStore, collection: string, clock: () => number) {
  const idOf = (token: string) => createHash("sha256").update(token).digest("base64url")

  async function sweep(now: number): Promise<void> {
    const page = await storeOperation(() => store.listDocuments(collection, { limit: SWEEP }))
    for (const item of page.items) {
      if ((JSON.parse(item.json) as Link).expiresAt <= now) await storeOperation(() => store.deleteDocument(collection, item.id))
    }
  }

  return {
    async issue(link: Link): Promise<string> {
      await sweep(clock())
      const token = randomBytes(TOKEN_BYTES).toString("base64url")
      await storeOperation(() => store.putDocument(collection, idOf(token), JSON.stringify(link), null))
      return token
    },
    /** The live link of a token; null for an unknown or expired one (or anything that is not a token). */
    async find(token: unknown): Promise<Link | null> {
      if (typeof token !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(token)) return null
      const text = await storeOperation(() => store.getDocument(collection, idOf(token)))
      const link = text === null ? null : (JSON.parse(text) as Link)
      return link !== null && link.expiresAt > clock() ? link : null
    },
    /** Deletes the link; true for the one caller that did, so that it works once. */
    spend: (token: string): Promise<boolean> => storeOperation(() => store.deleteDocument(collection, idOf(token))),
  }
}
