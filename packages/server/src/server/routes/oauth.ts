// OAuth 2.0 endpoints for clients that speak the standards, registered under /oauth: the token endpoint (RFC 6749
// §4.3 password and §6 refresh grants, errors as §5.2), revocation (RFC 7009) and introspection (RFC 7662).
// Requests are forms (application/x-www-form-urlencoded) and POST only.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyReply, FastifyRequest } from "fastify"
import { Type, type Static } from "typebox"
import { isAuthError, RateLimitedError } from "revocable"
import { listClaim } from "revocable/fastify"
import { checkStorable } from "revocable/stores"
import type { Client, ClientDirectory } from "../clients.ts"
import { CLIENT } from "../docs.ts"
import { noStore, pairBody, passwordLogin } from "../login.ts"
import * as schemas from "../schemas.ts"
import type { Services } from "../services.ts"

export type OAuthRoutesOptions = Pick<Services, "auth" | "users" | "clients" | "metrics" | "limits">

const FORM = "application/x-www-form-urlencoded"
const CLIENT_ID = /^[\x21-\x7E]{1,128}$/

/** A form field: optional text, as the handlers say which fields a request needs, in RFC 6749 §5.2's terms. */
function text(description?: string) {
  return Type.Optional(Type.String({ maxLength: 16384, ...(description === undefined ? {} : { description }) }))
}
const TokenForm = Type.Object({
  grant_type: text("password or refresh_token; anything else: unsupported_grant_type."),
  username: text(),
  password: text(),
  refresh_token: text(),
  scope: text("Ignored: tokens carry no scopes."),
  client_id: text(),
  client_secret: text(),
})
const RevokeForm = Type.Object({ token: text(), token_type_hint: text("access_token or refresh_token; not needed."), client_id: text(), client_secret: text() })
const IntrospectForm = Type.Object({ token: text(), token_type_hint: text(), client_id: text(), client_secret: text() })
const Introspection = Type.Object({
  active: Type.Boolean(),
  sub: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  token_type: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  nbf: Type.Optional(Type.Integer()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String({ description: "The client the token was issued to (RFC 7662 §2.2)." })),
})

/** What every form has: the client's credentials, when it sends them in the form. */
type ClientForm = { client_id?: string | undefined; client_secret?: string | undefined }

/** An RFC 6749 §5.2 error answer. */
class OAuthError extends Error {
  readonly status: number
  readonly code: string
  readonly headers: Record<string, string>

  constructor(status: number, code: string, description: string, headers: Record<string, string> = {}) {
    super(description)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

function oauthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  return reply.code(error.status).headers(error.headers).send({ error: error.code, error_description: error.message })
}

/** Maps what the core and the directories throw to the token endpoint's vocabulary. */
function grantError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error
  if (!isAuthError(error)) throw error
  if (error instanceof RateLimitedError) return new OAuthError(429, "rate_limited", error.message, { "retry-after": String(error.retryAfter) })
  switch (error.code) {
    case "store_unavailable":
      return new OAuthError(503, "temporarily_unavailable", error.message, { "retry-after": "1" })
    case "invalid_request":
      return new OAuthError(400, "invalid_request", error.message)
    case "invalid_credentials":
      return new OAuthError(400, "invalid_grant", "Invalid username or password.")
    case "forbidden":
      return new OAuthError(400, "invalid_grant", "The account is suspended.")
    default:
      return new OAuthError(400, "invalid_grant", error.message)
  }
}

function isForm(request: FastifyRequest): boolean {
  const type = request.headers["content-type"]
  return typeof type === "string" && type.split(";")[0]?.trim().toLowerCase() === FORM
}

/** A form field, an empty one as absent. */
function given(value: string | undefined): string | undefined {
  return value === "" ? undefined : value
}

/**
 * Client authentication of RFC 6749 §2.3.1: HTTP Basic with the form-encoded id and secret, or both in the form
 * (never both ways at once). Resolves undefined when the request presents no client credentials.
 */
async function clientOf(clients: ClientDirectory, request: FastifyRequest, body: ClientForm): Promise<Client | undefined> {
  const header = request.headers.authorization
  const basic = typeof header === "string" && /^basic /i.test(header) ? header.slice(6).trim() : undefined
  const inForm = given(body.client_secret)
  if (basic === undefined && inForm === undefined) return undefined
  if (basic !== undefined && inForm !== undefined) throw new OAuthError(400, "invalid_request", "Use one client authentication method per request.")
  let id: string | undefined
  let secret: string | undefined
  if (basic !== undefined) {
    const decoded = Buffer.from(basic, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    try {
      id = colon < 0 ? undefined : decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "))
      secret = colon < 0 ? undefined : decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "))
    } catch {
      id = undefined
    }
    // The form's fields were checked by the server's preValidation hook; the header's are checked here.
    if (id !== undefined) checkStorable(id, "The client id")
    if (secret !== undefined) checkStorable(secret, "The client secret")
  } else {
    id = given(body.client_id)
    secret = inForm
  }
  const client = id !== undefined && secret !== undefined ? await clients.authenticate(id, secret) : null
  if (client === null) {
    throw new OAuthError(401, "invalid_client", "Client authentication failed.", { "www-authenticate": 'Basic realm="revocable", charset="UTF-8"' })
  }
  return client
}

/** Form bodies only; the handler's answer is sent, and errors in the OAuth shape whatever went wrong. */
function formRoute<F>(handler: (request: FastifyRequest, body: F) => Promise<unknown>) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      if (!isForm(request)) throw new OAuthError(400, "invalid_request", `The request body must be ${FORM}.`)
      if (request.validationError) throw new OAuthError(400, "invalid_request", request.validationError.message)
      reply.send(await handler(request, request.body as F))
    } catch (error) {
      oauthError(reply, grantError(error))
    }
  }
}

export const oauthRoutes: FastifyPluginAsyncTypebox<OAuthRoutesOptions> = async (app, services) => {
  const { auth, users, clients } = services
  const tags = ["oauth"]
  // Set before the body is read, so that the answers of the parser (413, 415, a repeated parameter) carry it too.
  app.addHook("onRequest", async (_request, reply) => void noStore(reply))

  for (const url of ["/token", "/revoke", "/introspect"]) {
    app.route({
      method: ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
      url,
      schema: { hide: true },
      handler: (_request, reply) => reply.code(405).header("allow", "POST").send({ error: "invalid_request", error_description: "Use POST with a form body." }),
    })
  }

  app.post("/token", {
    schema: {
      summary: "Token endpoint: grant_type=password (RFC 6749 §4.3) or refresh_token (§6).",
      description: "Public clients need no client authentication; the client_id given becomes the access token's client_id claim (RFC 9068). Errors as RFC 6749 §5.2.",
      tags,
      consumes: [FORM],
      body: TokenForm,
      response: { 200: schemas.TokenPair, ...schemas.errors(400, 401, 429, 503) },
    },
    // Validation errors are answered by formRoute, so that every error has the §5.2 shape.
    attachValidation: true,
    handler: formRoute(async (request, body: Static<typeof TokenForm>): Promise<schemas.TokenPair> => {
      const client = await clientOf(clients, request, body)
      const grant = given(body.grant_type)
      let pair
      if (grant === "password") {
        const username = given(body.username)
        const password = given(body.password)
        if (username === undefined || password === undefined) throw new OAuthError(400, "invalid_request", "username and password are required.")
        const clientId = client?.clientId ?? given(body.client_id)
        if (clientId !== undefined && !CLIENT_ID.test(clientId)) throw new OAuthError(400, "invalid_request", "client_id must be 1 to 128 visible ASCII characters.")
        pair = (await passwordLogin(services, username, password, request, clientId === undefined ? {} : { clientId })).pair
      } else if (grant === "refresh_token") {
        const token = given(body.refresh_token)
        if (token === undefined) throw new OAuthError(400, "invalid_request", "refresh_token is required.")
        pair = await auth.refresh(token)
      } else if (grant === undefined) {
        throw new OAuthError(400, "invalid_request", "grant_type is required.")
      } else {
        throw new OAuthError(400, "unsupported_grant_type", "Supported grant types: password, refresh_token.")
      }
      return pairBody(pair)
    }),
  })

  app.post("/revoke", {
    schema: {
      summary: "Token revocation (RFC 7009): an access token its own jti, a refresh token its whole session.",
      description: "200 for tokens that are unknown, expired or not tokens at all (RFC 7009 §2.2).",
      tags,
      consumes: [FORM],
      body: RevokeForm,
      response: { 200: schemas.Empty, ...schemas.errors(400, 401, 503) },
    },
    attachValidation: true,
    handler: formRoute(async (request, body: Static<typeof RevokeForm>) => {
      await clientOf(clients, request, body)
      const token = given(body.token)
      if (token === undefined) throw new OAuthError(400, "invalid_request", "token is required.")
      await auth.revoke(token, { reason: "revoked by the client (RFC 7009)", actor: "oauth-revoke" })
    }),
  })

  app.post("/introspect", {
    schema: {
      summary: "Token introspection (RFC 7662) for resource servers, with client credentials.",
      description: 'Access tokens only: a revoked, expired, unknown or refresh token answers exactly {"active":false}.',
      tags,
      security: CLIENT,
      consumes: [FORM],
      body: IntrospectForm,
      response: { 200: Introspection, ...schemas.errors(400, 401, 503) },
    },
    attachValidation: true,
    handler: formRoute(async (request, body: Static<typeof IntrospectForm>): Promise<Static<typeof Introspection>> => {
      if ((await clientOf(clients, request, body)) === undefined) {
        throw new OAuthError(401, "invalid_client", "Client authentication is required.", { "www-authenticate": 'Basic realm="revocable", charset="UTF-8"' })
      }
      const token = given(body.token)
      if (token === undefined) throw new OAuthError(400, "invalid_request", "token is required.")
      let claims
      try {
        claims = await auth.verify(token)
      } catch (error) {
        if (isAuthError(error) && error.code !== "store_unavailable") return { active: false }
        throw error
      }
      const user = await users.get(claims.sub)
      // The admin guard's rule: an array of strings, else no roles (the member is left out).
      const roles = listClaim(claims, "roles")
      return {
        active: true,
        sub: claims.sub,
        ...(user === null ? {} : { username: user.username }),
        ...(roles === null ? {} : { roles }),
        token_type: "Bearer",
        exp: claims.exp,
        iat: claims.iat,
        ...(claims.nbf === undefined ? {} : { nbf: claims.nbf }),
        iss: claims.iss,
        aud: claims.aud,
        jti: claims.jti,
        sid: claims.sid,
        ...(typeof claims.client_id === "string" ? { client_id: claims.client_id } : {}),
      }
    }),
  })
}
