// The first-party API, registered under /auth: register, log in, refresh; with an access token, log out (one
// session or everywhere), sessions, password. Cookie mode: a login with `"cookie": true` puts the tokens in
// HttpOnly cookies (the refresh cookie scoped to /auth) and answers a CSRF token; /auth/refresh then reads the
// refresh cookie, checked against that token.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyReply } from "fastify"
import { Type } from "typebox"
import { AuthError, isAuthError, type TokenPair } from "revocable"
import { clearAuthCookies, readToken, setAuthCookies, type CookieOptions } from "revocable/fastify"
import { BEARER } from "../docs.ts"
import { noStore, pairBody, passwordLogin, SignInAnswer } from "../login.ts"
import { originGuard } from "../origin.ts"
import { createRecovery } from "../password-reset.ts"
import { holding, issuedTo } from "../requester.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { recoveryRoutes } from "./recovery.ts"
import { sessionDetails } from "../session-details.ts"
import { actorName, PASSWORD_RULE, USERNAME_RULE } from "../user-directory.ts"

export type AuthRoutesOptions = Pick<Services, "auth" | "users" | "config" | "metrics" | "limits" | "cookies" | "bearer" | "clients" | "store" | "audit">

const Credentials = Type.Object({
  username: Type.String({ maxLength: 256 }),
  password: Type.String({ maxLength: 1024 }),
})
const RegisterBody = Type.Object({
  ...Credentials.properties,
  email: Type.Optional(Type.String({ maxLength: 320, description: "Where password-reset links go; personal data, shown only to the user and admins." })),
})
const LoginBody = Type.Object({
  ...Credentials.properties,
  device: Type.Optional(Type.String({ maxLength: 1024, description: "A label for the session list; default: the User-Agent." })),
  cookie: Type.Optional(Type.Boolean({ description: "Cookie mode." })),
  device_token: Type.Optional(Type.String({ maxLength: 128, description: "The device_token of this client's last sign-in to this account (browsers send a device cookie instead)." })),
})
const RefreshBody = Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 16384 })) })
const PasswordBody = Type.Object({
  current_password: Type.String({ maxLength: 1024 }),
  new_password: Type.String({ maxLength: 1024 }),
})
const SessionParams = Type.Object({ sid: Type.String({ maxLength: 256 }) })

/** Cookie mode's answer: the tokens go to cookies, the body keeps the access token and gets the CSRF token. */
function cookieBody(cookies: CookieOptions, reply: FastifyReply, pair: TokenPair): schemas.TokenPair {
  const csrfToken = setAuthCookies(reply, pair, cookies)
  const { refresh_token: _, ...body } = pairBody(pair)
  return { ...body, csrf_token: csrfToken }
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, services) => {
  const { auth, users, config, cookies } = services
  const origins = originGuard(config.issuer, cookies)
  const tags = ["auth"]
  const recovery = createRecovery({ config, store: services.store, users, log: app.log })
  app.addHook("onClose", () => recovery.close())
  const { store, audit, bearer, limits } = services
  await app.register(recoveryRoutes, { config, store, users, audit, bearer, limits, recovery })

  app.post("/register", {
    schema: {
      summary: "Create an account (REVOCABLE_REGISTRATION=open).",
      description: `Username: ${USERNAME_RULE}. Password: ${PASSWORD_RULE}. Email, optional: one account per address; with REVOCABLE_EMAIL_VERIFICATION a link to verify it is mailed.`,
      tags,
      body: RegisterBody,
      response: { 201: schemas.User, ...schemas.errors(400, 403, 429, 503) },
    },
    async handler(request, reply) {
      if (config.registration === "closed") throw new AuthError("forbidden", "Registration is closed.")
      await services.limits.register.attempt(request.ip)
      const user = await users.create({ username: request.body.username, password: request.body.password, email: request.body.email })
      recovery.sendVerification(user)
      return reply.code(201).send(schemas.userView(user))
    },
  })

  app.post("/login", {
    schema: {
      summary: "Log in: a new session and its token pair.",
      description:
        'With "cookie": true, the tokens are set as HttpOnly cookies and the body carries a csrf_token instead of the refresh token. Failed sign-ins are limited per account and per IP, except for a client presenting a device cookie or device_token of an earlier sign-in to the account, which is limited on its own.',
      tags,
      body: LoginBody,
      response: { 200: SignInAnswer, ...schemas.errors(400, 401, 403, 429, 503) },
    },
    async handler(request, reply) {
      const cookie = request.body.cookie === true
      // Login CSRF: another site must not sign the visitor's browser in to an account of its choosing.
      if (cookie) origins.check(request)
      const body = request.body
      const signIn = await passwordLogin(services, body.username, body.password, request, { device: body.device, deviceToken: body.device_token })
      noStore(reply).header("set-cookie", signIn.deviceCookie)
      return cookie ? cookieBody(cookies, reply, signIn.pair) : { ...pairBody(signIn.pair), device_token: signIn.deviceToken }
    },
  })

  app.post("/refresh", {
    schema: {
      summary: "Trade a refresh token for a new pair (the old refresh token is spent).",
      description: "Without refresh_token in the body, the refresh cookie is used (cookie mode, CSRF header required). A replayed refresh token revokes its session (refresh_token_reused).",
      tags,
      body: RefreshBody,
      response: { 200: schemas.TokenPair, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request, reply) {
      let token = request.body.refresh_token
      const fromCookie = token === undefined
      if (fromCookie) token = readToken(request, { header: false, cookie: cookies, type: "refresh" }) ?? undefined
      if (token === undefined || token === "") throw new AuthError("invalid_request", "refresh_token is required.")
      // A confidential client's refresh token is refreshed by that client only, at /oauth/token (RFC 6749 §6).
      if ((await holding(services.clients, await issuedTo(auth, token, ["refresh"]), null)) !== "ok") {
        throw new AuthError("forbidden", "This refresh token was issued to an OAuth client: that client refreshes it at /oauth/token.")
      }
      const pair = await auth.refresh(token)
      noStore(reply)
      return fromCookie ? cookieBody(cookies, reply, pair) : pairBody(pair)
    },
  })

  // The routes of a signed-in user: the scope's hook verifies the access token first.
  const accountRoutes: FastifyPluginAsyncTypebox = async (account) => {
    account.addHook("onRequest", services.bearer)

    account.post("/logout", {
      schema: {
        summary: "Log out: revoke this session, its access and refresh tokens.",
        description: "A refresh_token of another session of the same user, if given, is revoked too.",
        tags,
        security: BEARER,
        body: RefreshBody,
        response: { 204: schemas.Empty, ...schemas.errors(400, 401, 403, 503) },
      },
      async handler(request, reply) {
        const claims = claimsOf(request)
        const meta = { reason: "logout", actor: await actorName(users, claims.sub) }
        await auth.revokeSession(claims.sid, meta)
        const other = request.body.refresh_token
        if (other !== undefined && other !== "") {
          const refresh = await auth.verify(other, { type: "refresh" }).catch((error: unknown) => {
            if (isAuthError(error) && error.code !== "store_unavailable") return null
            throw error
          })
          if (refresh !== null && refresh.sub === claims.sub && refresh.sid !== claims.sid) await auth.revokeSession(refresh.sid, meta)
        }
        if (request.headers.cookie !== undefined) clearAuthCookies(reply, cookies)
        return reply.code(204).send()
      },
    })

    account.post("/logout-all", {
      schema: {
        summary: "Log out everywhere: revoke every token of this user issued so far.",
        tags,
        security: BEARER,
        response: { 204: schemas.Empty, ...schemas.errors(400, 401, 403, 503) },
      },
      async handler(request, reply) {
        const claims = claimsOf(request)
        await auth.revokeSubject(claims.sub, { reason: "logout everywhere", actor: await actorName(users, claims.sub) })
        if (request.headers.cookie !== undefined) clearAuthCookies(reply, cookies)
        return reply.code(204).send()
      },
    })

    account.get("/sessions", {
      schema: {
        summary: "This user's live sessions.",
        tags,
        security: BEARER,
        response: { 200: Type.Array(schemas.Session), ...schemas.errors(400, 401, 503) },
      },
      async handler(request) {
        const claims = claimsOf(request)
        return sessionDetails(services.store).sessions(auth, claims.sub, claims.sid)
      },
    })

    account.delete("/sessions/:sid", {
      schema: {
        summary: "Revoke one of this user's sessions.",
        tags,
        security: BEARER,
        params: SessionParams,
        response: { 204: schemas.Empty, ...schemas.errors(400, 401, 403, 404, 503) },
      },
      async handler(request, reply) {
        const claims = claimsOf(request)
        const own = (await auth.listSessions(claims.sub)).some((entry) => entry.sid === request.params.sid)
        if (!own) return reply.code(404).send({ error: "not_found", error_description: "No live session of yours has that id." })
        await auth.revokeSession(request.params.sid, { reason: "signed out by the user", actor: await actorName(users, claims.sub) })
        return reply.code(204).send()
      },
    })

    account.post("/password", {
      schema: {
        summary: "Change the password; every other session of the user is revoked.",
        description: `New password: ${PASSWORD_RULE}.`,
        tags,
        security: BEARER,
        body: PasswordBody,
        response: { 200: schemas.PasswordChanged, ...schemas.errors(400, 401, 403, 429, 503) },
      },
      async handler(request) {
        const claims = claimsOf(request)
        await services.limits.password.attempt(request.ip, claims.sub)
        const revoked = await users.changePassword(claims.sub, request.body.current_password, request.body.new_password, claims.sid)
        await services.audit.record({ type: "password.changed", subject: claims.sub, sessionId: claims.sid, details: { revoked_sessions: revoked } })
        return { revoked_sessions: revoked }
      },
    })
  }
  await app.register(accountRoutes)
}
