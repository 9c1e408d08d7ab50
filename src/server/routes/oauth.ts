// OAuth 2.0 endpoints for clients that speak the standards: the token endpoint (RFC 6749 §4.3 password and §6
// refresh grants, errors as §5.2), revocation (RFC 7009), introspection (RFC 7662), the authorization server
// metadata (RFC 8414) and the JWKS. Requests are forms (application/x-www-form-urlencoded) and POST only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify"
import { isAuthError, RateLimitedError } from "../../errors.ts"
import { listClaim } from "../../adapters/http.ts"
import { checkStorable } from "../../stores/shared.ts"
import type { ServerContext } from "../context.ts"
import type { Client } from "../clients.ts"
import * as schemas from "../schemas.ts"
import { noStore, pairBody, passwordLogin } from "./auth.ts"

const FORM = "application/x-www-form-urlencoded"
const CLIENT_ID = /^[\x21-\x7E]{1,128}$/
const form = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: "object",
  properties: Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, { type: "string", maxLength: 16384, ...(schema as object) }])),
  required,
})

type Form = Record<string, string | undefined>

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
  return noStore(reply).code(error.status).headers(error.headers).send({ error: error.code, error_description: error.message })
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

function field(body: Form, name: string): string | undefined {
  const value = body[name]
  return value === undefined || value === "" ? undefined : value
}

/**
 * Client authentication of RFC 6749 §2.3.1: HTTP Basic with the form-encoded id and secret, or both in the form
 * (never both ways at once). Resolves undefined when the request presents no client credentials.
 */
async function clientOf(ctx: ServerContext, request: FastifyRequest, body: Form): Promise<Client | undefined> {
  const header = request.headers.authorization
  const basic = typeof header === "string" && /^basic /i.test(header) ? header.slice(6).trim() : undefined
  const inForm = field(body, "client_secret")
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
    id = field(body, "client_id")
    secret = inForm
  }
  const client = id !== undefined && secret !== undefined ? await ctx.clients.authenticate(id, secret) : null
  if (client === null) {
    throw new OAuthError(401, "invalid_client", "Client authentication failed.", { "www-authenticate": 'Basic realm="revocable", charset="UTF-8"' })
  }
  return client
}

export async function oauthRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { auth, config, users } = ctx
  const tags = ["oauth"]
  const notAllowed = async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.code(405).header("allow", "POST").send({ error: "invalid_request", error_description: "Use POST with a form body." })
  // Set before the body is read, so that the answers of the parser (413, 415, a repeated parameter) carry it too.
  const onRequest = async (_request: FastifyRequest, reply: FastifyReply) => void noStore(reply)

  for (const url of ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]) {
    app.route({ method: ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"], url, schema: { hide: true }, onRequest, handler: notAllowed })
  }

  /** Form bodies only; OAuth errors in the OAuth shape whatever went wrong. */
  function formRoute(handler: (request: FastifyRequest, reply: FastifyReply, body: Form) => Promise<unknown>) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        if (!isForm(request)) throw new OAuthError(400, "invalid_request", `The request body must be ${FORM}.`)
        if (request.validationError) throw new OAuthError(400, "invalid_request", request.validationError.message)
        return await handler(request, reply, (request.body ?? {}) as Form)
      } catch (error) {
        return oauthError(reply, grantError(error))
      }
    }
  }

  app.post("/oauth/token", {
    onRequest,
    schema: {
      summary: "Token endpoint: grant_type=password (RFC 6749 §4.3) or refresh_token (§6).",
      description: "Public clients need no client authentication; the client_id given becomes the access token's client_id claim (RFC 9068). Errors as RFC 6749 §5.2.",
      tags,
      consumes: [FORM],
      body: form({
        grant_type: { description: "password or refresh_token; anything else: unsupported_grant_type." },
        username: {},
        password: {},
        refresh_token: {},
        scope: { description: "Ignored: tokens carry no scopes." },
        client_id: {},
      }),
      response: { 200: schemas.tokenPair, ...schemas.errors(400, 401, 429, 503) },
    },
    // Validation errors are answered by formRoute, so that every error has the §5.2 shape.
    attachValidation: true,
    handler: formRoute(async (request, reply, body) => {
      const client = await clientOf(ctx, request, body)
      const grant = field(body, "grant_type")
      let pair
      if (grant === "password") {
        const username = field(body, "username")
        const password = field(body, "password")
        if (username === undefined || password === undefined) throw new OAuthError(400, "invalid_request", "username and password are required.")
        const clientId = client?.clientId ?? field(body, "client_id")
        if (clientId !== undefined && !CLIENT_ID.test(clientId)) throw new OAuthError(400, "invalid_request", "client_id must be 1 to 128 visible ASCII characters.")
        pair = (await passwordLogin(ctx, username, password, request, clientId === undefined ? {} : { clientId })).pair
      } else if (grant === "refresh_token") {
        const token = field(body, "refresh_token")
        if (token === undefined) throw new OAuthError(400, "invalid_request", "refresh_token is required.")
        pair = await auth.refresh(token)
      } else if (grant === undefined) {
        throw new OAuthError(400, "invalid_request", "grant_type is required.")
      } else {
        throw new OAuthError(400, "unsupported_grant_type", "Supported grant types: password, refresh_token.")
      }
      return noStore(reply).send(pairBody(pair))
    }),
  })

  app.post("/oauth/revoke", {
    onRequest,
    schema: {
      summary: "Token revocation (RFC 7009): an access token its own jti, a refresh token its whole session.",
      description: "200 for tokens that are unknown, expired or not tokens at all (RFC 7009 §2.2).",
      tags,
      consumes: [FORM],
      body: form({ token: {}, token_type_hint: { description: "access_token or refresh_token; not needed." }, client_id: {} }),
      response: { 200: schemas.empty, ...schemas.errors(400, 401, 503) },
    },
    attachValidation: true,
    handler: formRoute(async (request, reply, body) => {
      await clientOf(ctx, request, body)
      const token = field(body, "token")
      if (token === undefined) throw new OAuthError(400, "invalid_request", "token is required.")
      await auth.revoke(token, { reason: "revoked by the client (RFC 7009)", actor: "oauth-revoke" })
      return noStore(reply).code(200).send()
    }),
  })

  app.post("/oauth/introspect", {
    onRequest,
    schema: {
      summary: "Token introspection (RFC 7662) for resource servers, with client credentials.",
      description: 'Access tokens only: a revoked, expired, unknown or refresh token answers exactly {"active":false}.',
      tags,
      security: "client",
      consumes: [FORM],
      body: form({ token: {}, token_type_hint: {}, client_id: {}, client_secret: {} }),
      response: {
        200: {
          type: "object",
          properties: {
            active: { type: "boolean" },
            sub: { type: "string" },
            username: { type: "string" },
            roles: { type: "array", items: { type: "string" } },
            token_type: { type: "string" },
            exp: { type: "integer" },
            iat: { type: "integer" },
            nbf: { type: "integer" },
            iss: { type: "string" },
            aud: { type: "string" },
            jti: { type: "string" },
            sid: { type: "string" },
            client_id: { type: "string", description: "The client the token was issued to (RFC 7662 §2.2)." },
          },
          required: ["active"],
        },
        ...schemas.errors(400, 401, 503),
      },
    },
    attachValidation: true,
    handler: formRoute(async (request, reply, body) => {
      if ((await clientOf(ctx, request, body)) === undefined) {
        throw new OAuthError(401, "invalid_client", "Client authentication is required.", { "www-authenticate": 'Basic realm="revocable", charset="UTF-8"' })
      }
      const token = field(body, "token")
      if (token === undefined) throw new OAuthError(400, "invalid_request", "token is required.")
      noStore(reply)
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

  app.get("/.well-known/oauth-authorization-server", {
    schema: {
      summary: "Authorization server metadata (RFC 8414).",
      tags,
      response: { 200: { type: "object", additionalProperties: true } },
    },
    async handler(_request, reply) {
      const base = config.issuer
      reply.header("cache-control", "public, max-age=300")
      return {
        issuer: base,
        token_endpoint: `${base}/oauth/token`,
        revocation_endpoint: `${base}/oauth/revoke`,
        introspection_endpoint: `${base}/oauth/introspect`,
        jwks_uri: `${base}/.well-known/jwks.json`,
        grant_types_supported: ["password", "refresh_token"],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post"],
        revocation_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post"],
        introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        service_documentation: `${base}/docs`,
      }
    },
  })

  app.get("/.well-known/jwks.json", {
    schema: {
      summary: "The public keys that sign the tokens (JWKS); retired keys are gone from it.",
      tags,
      response: { 200: { type: "object", additionalProperties: true } },
    },
    async handler(_request, reply) {
      reply.header("cache-control", "public, max-age=60")
      return auth.jwks()
    },
  })
}
