// Password recovery and mail addresses, registered by the auth routes under /auth: ask for a reset link, set the
// password with it, and with an access token see or change your address; verify an address with its link.
// See password-reset.ts for the links.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import { Type } from "typebox"
import { AuthError } from "revocable"
import { BEARER } from "../docs.ts"
import type { Recovery } from "../password-reset.ts"
import { limiter } from "../ratelimit.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { PASSWORD_RULE, type User } from "../user-directory.ts"

export type RecoveryRoutesOptions = Pick<Services, "config" | "store" | "users" | "audit" | "bearer" | "limits"> & { recovery: Recovery }

const Offer = Type.Object({
  available: Type.Boolean({ description: "Whether this server mails reset links (REVOCABLE_SMTP_URL is set)." }),
  email_verification: Type.Boolean({ description: "Whether addresses are used only once verified (REVOCABLE_EMAIL_VERIFICATION)." }),
})
const ResetRequest = Type.Object({
  email: Type.Optional(Type.String({ maxLength: 320 })),
  username: Type.Optional(Type.String({ maxLength: 256 })),
})
const Accepted = Type.Object({ message: Type.String() })
const ResetConfirm = Type.Object({
  token: Type.String({ maxLength: 256, description: "The token of the mailed link (after #/reset?token=)." }),
  new_password: Type.String({ maxLength: 1024 }),
})
const ResetDone = Type.Object({ username: Type.String({ description: "The account whose password was set: every session of it is revoked." }) })
const Email = Type.Object({
  email: Type.Unsafe<string | null>({ type: ["string", "null"] }),
  email_verified: Type.Boolean(),
})
const EmailChange = Type.Object({
  email: Type.Union([Type.String({ maxLength: 320 }), Type.Null()], { description: "The new address; null or \"\" removes it." }),
  current_password: Type.Optional(Type.String({ maxLength: 1024, description: "Required unless the account has no password yet." })),
})
const EmailChanged = Type.Object({ ...Email.properties, verification_sent: Type.Boolean({ description: "A link to verify the address was mailed to it." }) })
const VerifyBody = Type.Object({ token: Type.String({ maxLength: 256 }) })

const ACCEPTED = "If an account matches and has an address to mail, a link to reset its password is on its way."

function emailView(user: User): { email: string | null; email_verified: boolean } {
  return { email: user.email, email_verified: user.emailVerified }
}

export const recoveryRoutes: FastifyPluginAsyncTypebox<RecoveryRoutesOptions> = async (app, services) => {
  const { config, users, audit, bearer, recovery } = services
  // Counted per address (or name) asked about and per IP, whether or not an account matches.
  const requests = limiter(services.store, "password-reset", config.loginLimit)
  const tags = ["auth"]

  app.get("/password-reset", {
    schema: { summary: "Whether this server offers password reset by mail.", tags, response: { 200: Offer } },
    async handler() {
      return { available: recovery.available, email_verification: config.emailVerification }
    },
  })

  app.post("/password-reset", {
    schema: {
      summary: "Ask for a password-reset link, mailed to the account's address.",
      description:
        "Give the account's email or its username. The answer is 202 and the same whether or not an account matches, and the mail is sent afterwards. Limited per address and per IP as sign-ins are (REVOCABLE_LOGIN_LIMIT_*). 501 when the server sends no mail (REVOCABLE_SMTP_URL unset).",
      tags,
      body: ResetRequest,
      response: { 202: Accepted, ...schemas.errors(400, 429, 501, 503) },
    },
    async handler(request, reply) {
      if (!recovery.available) {
        return reply.code(501).send({ error: "not_configured", error_description: "This server sends no mail (REVOCABLE_SMTP_URL is not set): ask an administrator to reset your password." })
      }
      const { email, username } = request.body
      const identifier = (email ?? username ?? "").trim()
      if (identifier === "" || (email !== undefined && username !== undefined)) {
        throw new AuthError("invalid_request", "Give either email or username.")
      }
      await requests.attempt(request.ip, identifier)
      recovery.request(identifier)
      return reply.code(202).send({ message: ACCEPTED })
    },
  })

  app.post("/password-reset/confirm", {
    schema: {
      summary: "Set a new password with a mailed reset link; every session of the account is revoked.",
      description: `New password: ${PASSWORD_RULE}. A refused password leaves the link usable; a link works once, for REVOCABLE_PASSWORD_RESET_TTL (30 minutes by default), and dies if the password or the address changes meanwhile.`,
      tags,
      body: ResetConfirm,
      response: { 200: ResetDone, ...schemas.errors(400, 503) },
    },
    async handler(request) {
      const user = await recovery.confirm(request.body.token, request.body.new_password)
      await audit.record({ type: "password.reset", subject: user.sub, actor: user.username, reason: "reset link", details: { method: "email" } })
      return { username: user.username }
    },
  })

  app.post("/email/verify", {
    schema: {
      summary: "Verify a mail address with the link mailed to it.",
      tags,
      body: VerifyBody,
      response: { 200: Email, ...schemas.errors(400, 503) },
    },
    async handler(request) {
      return emailView(await recovery.verifyEmail(request.body.token))
    },
  })

  app.get("/email", {
    onRequest: bearer,
    schema: { summary: "Your mail address, and whether it is verified.", tags, security: BEARER, response: { 200: Email, ...schemas.errors(400, 401, 503) } },
    async handler(request) {
      const user = await users.get(claimsOf(request).sub)
      if (user === null) throw new AuthError("invalid_request", "This token's subject has no account here.")
      return emailView(user)
    },
  })

  app.post("/email", {
    onRequest: bearer,
    schema: {
      summary: "Set, change or remove your mail address (where password-reset links go).",
      description: "Needs the current password (unless the account has none yet). An address belongs to one account at most. With REVOCABLE_EMAIL_VERIFICATION, a new address gets a link to verify it and receives reset links only once verified.",
      tags,
      security: BEARER,
      body: EmailChange,
      response: { 200: EmailChanged, ...schemas.errors(400, 401, 403, 429, 503) },
    },
    async handler(request) {
      const claims = claimsOf(request)
      await services.limits.password.attempt(request.ip, claims.sub)
      const user = await users.setEmail(claims.sub, request.body.current_password ?? "", request.body.email)
      recovery.sendVerification(user)
      return { ...emailView(user), verification_sent: recovery.available && config.emailVerification && user.email !== null && !user.emailVerified }
    },
  })
}
