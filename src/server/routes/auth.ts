// The first-party API: register, log in, refresh, log out (one session or everywhere), sessions, password, /me.
// Cookie mode: a login with `"cookie": true` puts the tokens in HttpOnly cookies (the refresh cookie scoped to
// /auth) and answers a CSRF token; /auth/refresh then reads the refresh cookie, checked against that token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify"
import { AuthError, isAuthError } from "../../errors.ts"
import type { TokenPair } from "../../core/auth.ts"
import { clearAuthCookies, readToken, setAuthCookies } from "../../adapters/fastify.ts"
import { listClaim } from "../../adapters/http.ts"
import type { ServerContext } from "../context.ts"
import * as schemas from "../schemas.ts"
import { PASSWORD_RULE, USERNAME_RULE, type User } from "../users.ts"

const MAX_DEVICE = 200

/** The `client_id` claim (RFC 9068 §2.2) of tokens from /auth/login, and from a grant that named no client. */
const FIRST_PARTY_CLIENT = "revocable"

/**
 * Checks the password (rate-limited first) and issues a pair; shared by /auth/login and the password grant.
 * Access tokens carry the user's `roles` and the `client_id` that asked for them.
 */
export async function passwordLogin(
  ctx: ServerContext,
  username: string,
  password: string,
  request: FastifyRequest,
  options: { device?: unknown; clientId?: string } = {},
) {
  const { metrics, users, auth } = ctx
  let user: User
  try {
    await ctx.limits.login.attempt(request.ip, username)
    user = await users.authenticate(username, password)
  } catch (error) {
    if (isAuthError(error) && error.code !== "store_unavailable") {
      metrics.loginFailed(error.code === "forbidden" ? "suspended" : error.code)
    }
    throw error
  }
  const claims = { roles: user.roles, client_id: options.clientId ?? FIRST_PARTY_CLIENT }
  const pair = await auth.issue(user.sub, { claims, device: deviceOf(request, options.device) })
  if (!(await users.isCurrent(user))) {
    // A suspension or password change landed between the password check and the issue.
    await auth.revokeSession(pair.sessionId, { reason: "login raced an account change", actor: "revocable" })
    metrics.loginFailed("invalid_credentials")
    throw new AuthError("invalid_credentials")
  }
  return { user, pair }
}

function deviceOf(request: FastifyRequest, given: unknown): string {
  const label = typeof given === "string" && given.trim() !== "" ? given : request.headers["user-agent"] ?? "unknown"
  return label.replace(/[\x00-\x1F\x7F]/g, "").slice(0, MAX_DEVICE)
}

export function pairBody(pair: TokenPair): Record<string, unknown> {
  return {
    access_token: pair.accessToken,
    refresh_token: pair.refreshToken,
    token_type: pair.tokenType,
    expires_in: pair.expiresIn,
    refresh_expires_in: pair.refreshExpiresIn,
    session_id: pair.sessionId,
  }
}

export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header("cache-control", "no-store").header("pragma", "no-cache")
}

/** Cookie mode's answer: the tokens go to cookies, the body keeps the access token and gets the CSRF token. */
function cookieBody(ctx: ServerContext, reply: FastifyReply, pair: TokenPair): Record<string, unknown> {
  const csrfToken = setAuthCookies(reply, pair, ctx.cookies)
  const { refresh_token: _, ...body } = pairBody(pair)
  return { ...body, csrf_token: csrfToken }
}

function checkOrigin(ctx: ServerContext, request: FastifyRequest): void {
  const allowed = ctx.cookies.origins
  const origin = request.headers.origin
  if (allowed !== undefined && origin !== undefined && !allowed.includes(origin)) {
    throw new AuthError("csrf_failed", "The request's Origin is not allowed.")
  }
}

async function actorName(ctx: ServerContext, sub: string): Promise<string> {
  return (await ctx.users.get(sub))?.username ?? sub
}

export async function authRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { auth, users, config } = ctx
  const tags = ["auth"]
  const bearerOnly = { onRequest: ctx.bearer }

  app.post<{ Body: { username: string; password: string } }>("/auth/register", {
    schema: {
      summary: "Create an account (REVOCABLE_REGISTRATION=open).",
      description: `Username: ${USERNAME_RULE}. Password: ${PASSWORD_RULE}.`,
      tags,
      body: schemas.credentials,
      response: { 201: schemas.user, ...schemas.errors(400, 403, 429, 503) },
    },
    async handler(request, reply) {
      if (config.registration === "closed") throw new AuthError("forbidden", "Registration is closed.")
      await ctx.limits.register.attempt(request.ip)
      const user = await users.create({ username: request.body.username, password: request.body.password })
      return reply.code(201).send(schemas.userView(user))
    },
  })

  app.post<{ Body: { username: string; password: string; device?: string; cookie?: boolean } }>("/auth/login", {
    schema: {
      summary: "Log in: a new session and its token pair.",
      description: 'With "cookie": true, the tokens are set as HttpOnly cookies and the body carries a csrf_token instead of the refresh token.',
      tags,
      body: {
        ...schemas.credentials,
        properties: {
          ...(schemas.credentials.properties as object),
          device: { type: "string", maxLength: 1024, description: "A label for the session list; default: the User-Agent." },
          cookie: { type: "boolean", description: "Cookie mode." },
        },
      },
      response: { 200: schemas.tokenPair, ...schemas.errors(400, 401, 403, 429, 503) },
    },
    async handler(request, reply) {
      const cookies = request.body.cookie === true
      if (cookies) checkOrigin(ctx, request)
      const { pair } = await passwordLogin(ctx, request.body.username, request.body.password, request, { device: request.body.device })
      noStore(reply)
      return cookies ? cookieBody(ctx, reply, pair) : pairBody(pair)
    },
  })

  app.post<{ Body: { refresh_token?: string } }>("/auth/refresh", {
    schema: {
      summary: "Trade a refresh token for a new pair (the old refresh token is spent).",
      description: "Without refresh_token in the body, the refresh cookie is used (cookie mode, CSRF header required). A replayed refresh token revokes its session (refresh_token_reused).",
      tags,
      body: { type: "object", properties: { refresh_token: { type: "string", maxLength: 16384 } } },
      response: { 200: schemas.tokenPair, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request, reply) {
      let token = request.body.refresh_token
      const fromCookie = token === undefined
      if (fromCookie) token = readToken(request, { header: false, cookie: ctx.cookies, type: "refresh" }) ?? undefined
      if (token === undefined || token === "") throw new AuthError("invalid_request", "refresh_token is required.")
      const pair = await auth.refresh(token)
      noStore(reply)
      return fromCookie ? cookieBody(ctx, reply, pair) : pairBody(pair)
    },
  })

  app.post<{ Body: { refresh_token?: string } }>("/auth/logout", {
    ...bearerOnly,
    schema: {
      summary: "Log out: revoke this session, its access and refresh tokens.",
      description: "A refresh_token of another session of the same user, if given, is revoked too.",
      tags,
      security: "bearer",
      body: { type: "object", properties: { refresh_token: { type: "string", maxLength: 16384 } } },
      response: { 204: schemas.empty, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request, reply) {
      const claims = request.auth as NonNullable<typeof request.auth>
      const meta = { reason: "logout", actor: await actorName(ctx, claims.sub) }
      await auth.revokeSession(claims.sid, meta)
      const other = request.body.refresh_token
      if (other !== undefined && other !== "") {
        const refresh = await auth.verify(other, { type: "refresh" }).catch((error: unknown) => {
          if (isAuthError(error) && error.code !== "store_unavailable") return null
          throw error
        })
        if (refresh !== null && refresh.sub === claims.sub && refresh.sid !== claims.sid) await auth.revokeSession(refresh.sid, meta)
      }
      if (request.headers.cookie !== undefined) clearAuthCookies(reply, ctx.cookies)
      return reply.code(204).send()
    },
  })

  app.post("/auth/logout-all", {
    ...bearerOnly,
    schema: {
      summary: "Log out everywhere: revoke every token of this user issued so far.",
      tags,
      security: "bearer",
      response: { 204: schemas.empty, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request, reply) {
      const claims = request.auth as NonNullable<typeof request.auth>
      await auth.revokeSubject(claims.sub, { reason: "logout everywhere", actor: await actorName(ctx, claims.sub) })
      if (request.headers.cookie !== undefined) clearAuthCookies(reply, ctx.cookies)
      return reply.code(204).send()
    },
  })

  app.get("/auth/sessions", {
    ...bearerOnly,
    schema: {
      summary: "This user's live sessions.",
      tags,
      security: "bearer",
      response: { 200: { type: "array", items: schemas.session }, ...schemas.errors(400, 401, 503) },
    },
    async handler(request) {
      const claims = request.auth as NonNullable<typeof request.auth>
      return (await auth.listSessions(claims.sub)).map((entry) => schemas.sessionView(entry, claims.sid))
    },
  })

  app.delete<{ Params: { sid: string } }>("/auth/sessions/:sid", {
    ...bearerOnly,
    schema: {
      summary: "Revoke one of this user's sessions.",
      tags,
      security: "bearer",
      params: { type: "object", properties: { sid: { type: "string", maxLength: 256 } }, required: ["sid"] },
      response: { 204: schemas.empty, ...schemas.errors(400, 401, 403, 404, 503) },
    },
    async handler(request, reply) {
      const claims = request.auth as NonNullable<typeof request.auth>
      const own = (await auth.listSessions(claims.sub)).some((entry) => entry.sid === request.params.sid)
      if (!own) return reply.code(404).send({ error: "not_found", error_description: "No live session of yours has that id." })
      await auth.revokeSession(request.params.sid, { reason: "signed out by the user", actor: await actorName(ctx, claims.sub) })
      return reply.code(204).send()
    },
  })

  app.post<{ Body: { current_password: string; new_password: string } }>("/auth/password", {
    ...bearerOnly,
    schema: {
      summary: "Change the password; every other session of the user is revoked.",
      description: `New password: ${PASSWORD_RULE}.`,
      tags,
      security: "bearer",
      body: {
        type: "object",
        properties: { current_password: { type: "string", maxLength: 1024 }, new_password: { type: "string", maxLength: 1024 } },
        required: ["current_password", "new_password"],
      },
      response: {
        200: { type: "object", properties: { revoked_sessions: { type: "integer" } }, required: ["revoked_sessions"] },
        ...schemas.errors(400, 401, 403, 429, 503),
      },
    },
    async handler(request) {
      const claims = request.auth as NonNullable<typeof request.auth>
      await ctx.limits.password.attempt(request.ip, claims.sub)
      const revoked = await users.changePassword(claims.sub, request.body.current_password, request.body.new_password, claims.sid)
      return { revoked_sessions: revoked }
    },
  })

  app.get("/me", {
    ...bearerOnly,
    schema: {
      summary: "A protected example: who the access token says you are.",
      tags,
      security: "bearer",
      response: {
        200: {
          type: "object",
          properties: {
            sub: { type: "string" },
            username: { type: ["string", "null"] },
            roles: { type: "array", items: { type: "string" } },
            session_id: { type: "string" },
            jti: { type: "string" },
            expires_at: { type: "string", format: "date-time" },
          },
          required: ["sub", "username", "session_id", "jti"],
        },
        ...schemas.errors(400, 401, 503),
      },
    },
    async handler(request) {
      const claims = request.auth as NonNullable<typeof request.auth>
      const user = await users.get(claims.sub)
      return {
        sub: claims.sub,
        username: user?.username ?? null,
        // The admin guard's rule: an array of strings, else no roles.
        roles: listClaim(claims, "roles") ?? [],
        session_id: claims.sid,
        jti: claims.jti,
        expires_at: schemas.iso(claims.exp * 1000),
      }
    },
  })
}
