// OAuth 2.0 endpoints for clients that speak the standards, registered under /oauth: the token endpoint (RFC 6749
// §4.3 password, §4.4 client credentials and §6 refresh grants, errors as §5.2), revocation (RFC 7009) and
// introspection (RFC 7662).
// Requests are forms (application/x-www-form-urlencoded) and POST only.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyReply, FastifyRequest } from "fastify"
import { Type, type Static } from "typebox"
import { AuthError, isAuthError, type TokenPair } from "revocable"
import type { Client } from "../client-directory.ts"
import { RateLimitedError, ServerError } from "../errors.ts"
import { listClaim } from "revocable/fastify"
import { CLIENT } from "../docs.ts"
import { noStore, pairBody, passwordLogin, SignInAnswer } from "../login.ts"
import { FIRST_PARTY_CLIENT, given, holding, identifyClient, invalidClient, issuedTo, OAuthError } from "../requester.ts"
import * as schemas from "../schemas.ts"
import { isScope, scopeText } from "../scopes.ts"
import type { Services } from "../services.ts"
import { FORM, parseForm } from "../forms.ts"
import { clientActor, SYSTEM_ACTOR } from "../actors.ts"

export type OAuthRoutesOptions = Pick<Services, "auth" | "users" | "clients" | "metrics" | "limits" | "store" | "config" | "audit">


/** A form field: optional text, as the handlers say which fields a request needs, in RFC 6749 §5.2's terms. */
function text(description?: string) {
  return Type.Optional(Type.String({ maxLength: 16384, ...(description === undefined ? {} : { description }) }))
}
const TokenForm = Type.Object({
  grant_type: text("password, client_credentials or refresh_token; anything else: unsupported_grant_type."),
  username: text(),
  password: text(),
  refresh_token: text(),
  scope: text("Space-separated scopes. client_credentials: some of the client's registered scopes (all of them when absent); a scope it may not have is invalid_scope. The password and refresh grants grant no scopes."),
  client_id: text(),
  client_secret: text(),
  device_token: text("The device_token of this client's last password grant for this account: its sign-ins are then limited on their own."),
})
/** A token answer; `scope` as RFC 6749 §5.1 asks, and no refresh token for client credentials (§4.4.3). */
const TokenAnswer = Type.Object({
  ...SignInAnswer.properties,
  scope: Type.Optional(Type.String({ description: "The granted scopes, space-separated: present whenever some were asked for or granted." })),
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

function oauthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  return reply.code(error.status).headers(error.headers).send({ error: error.code, error_description: error.message })
}

/** Maps what the core and the directories throw to the token endpoint's vocabulary. */
function grantError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error
  if (error instanceof RateLimitedError) return new OAuthError(429, "rate_limited", error.message, { "retry-after": String(error.retryAfter) })
  if (error instanceof ServerError) return new OAuthError(400, "invalid_grant", "Invalid username or password.")
  if (!isAuthError(error)) throw error
  switch (error.code) {
    case "store_unavailable":
      return new OAuthError(503, "temporarily_unavailable", error.message, { "retry-after": "1" })
    case "invalid_request":
      return new OAuthError(400, "invalid_request", error.message)
    case "forbidden":
      return new OAuthError(400, "invalid_grant", "The account is suspended.")
    default:
      return new OAuthError(400, "invalid_grant", error.message)
  }
}

/** The scopes a token request asks for, each once; a malformed one is invalid_scope (RFC 6749 §5.2). */
function requestedScopes(scope: string | undefined): string[] {
  const scopes = new Set((scope ?? "").split(" ").filter((name) => name !== ""))
  for (const name of scopes) {
    if (!isScope(name)) throw new OAuthError(400, "invalid_scope", "scope is a space-separated list of RFC 6749 §3.3 scope tokens.")
  }
  return [...scopes]
}

/** RFC 6749 §5.1: the granted scope when it differs from the requested one; said too when any was granted. */
function scopeAnswer(asked: readonly string[], granted: readonly string[]): { scope?: string } {
  return asked.length === 0 && granted.length === 0 ? {} : { scope: scopeText(granted) }
}

function isForm(request: FastifyRequest): boolean {
  const type = request.headers["content-type"]
  return typeof type === "string" && type.split(";")[0]?.trim().toLowerCase() === FORM
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
  // Forms are parsed here only: elsewhere a cross-site HTML form could post as the visitor's browser.
  app.addContentTypeParser(FORM, { parseAs: "string" }, parseForm)
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
      summary: "Token endpoint: grant_type=password (RFC 6749 §4.3), client_credentials (§4.4) or refresh_token (§6).",
      description: "A confidential client authenticates (HTTP Basic or client_secret); a registered public client names itself with client_id; a request naming no client gets first-party tokens. The client becomes the access token's client_id claim (RFC 9068), and only that client refreshes its refresh tokens. client_credentials: a confidential client's own access token (sub and client_id are its id, scope the granted scopes), no refresh token, revocable as any other. Errors as RFC 6749 §5.2.",
      tags,
      consumes: [FORM],
      body: TokenForm,
      response: { 200: TokenAnswer, ...schemas.errors(400, 401, 429, 503) },
    },
    // Validation errors are answered by formRoute, so that every error has the §5.2 shape.
    attachValidation: true,
    handler: formRoute(async (request, body: Static<typeof TokenForm>): Promise<Static<typeof TokenAnswer>> => {
      const client = await identifyClient(clients, request, body)
      const grant = given(body.grant_type)
      const asked = requestedScopes(given(body.scope))
      if (grant === "client_credentials") {
        // RFC 6749 §4.4: confidential clients only, for themselves.
        if (client?.type !== "confidential") throw invalidClient("The client_credentials grant needs a confidential client's credentials (HTTP Basic or client_secret).")
        const refused = asked.filter((scope) => !client.scopes.includes(scope))
        if (refused.length > 0) throw new OAuthError(400, "invalid_scope", `This client may not ask for: ${scopeText(refused)}.`)
        const granted = asked.length > 0 ? asked : client.scopes
        const { refresh_token: _refresh, refresh_expires_in: _refreshExpiry, ...access } = pairBody(await issueToClient(client, granted))
        return { ...access, ...scopeAnswer(asked, granted) }
      }
      if (grant === "password") {
        const username = given(body.username)
        const password = given(body.password)
        if (username === undefined || password === undefined) throw new OAuthError(400, "invalid_request", "username and password are required.")
        const signIn = await passwordLogin(services, username, password, request, { clientId: client?.clientId ?? FIRST_PARTY_CLIENT, deviceToken: given(body.device_token) })
        return { ...pairBody(signIn.pair), device_token: signIn.deviceToken, ...scopeAnswer(asked, []) }
      }
      if (grant === "refresh_token") {
        const token = given(body.refresh_token)
        if (token === undefined) throw new OAuthError(400, "invalid_request", "refresh_token is required.")
        // RFC 6749 §6: the refresh token's own client, authenticated when it is confidential.
        const verdict = await holding(clients, await issuedTo(auth, token, ["refresh"]), client)
        if (verdict === "authenticate") throw invalidClient("The refresh token was issued to a confidential client: authenticate as that client.")
        if (verdict === "another-client") throw new OAuthError(400, "invalid_grant", "The refresh token was issued to another client.")
        if (verdict === "gone") throw new OAuthError(400, "invalid_grant", "The client this refresh token was issued to was removed.")
        return { ...pairBody(await auth.refresh(token)), ...scopeAnswer(asked, []) }
      }
      if (grant === undefined) throw new OAuthError(400, "invalid_request", "grant_type is required.")
      throw new OAuthError(400, "unsupported_grant_type", "Supported grant types: password, client_credentials, refresh_token.")
    }),
  })

  /**
   * A client's own token, through the core's issue so that its session can be revoked like a user's. Its refresh
   * token is never handed out. A client removed while this ran loses the token at once.
   */
  async function issueToClient(client: Client, scopes: readonly string[]): Promise<TokenPair> {
    const claims = { client_id: client.clientId, ...(scopes.length === 0 ? {} : { scope: scopeText(scopes) }) }
    const pair = await auth.issue(client.clientId, { claims, device: `client credentials: ${client.name}` })
    if ((await clients.find(client.clientId)) === null) {
      await auth.revokeSession(pair.sessionId, { reason: "client removed while its token was issued", actor: SYSTEM_ACTOR })
      throw invalidClient("Client authentication failed.")
    }
    return pair
  }

  app.post("/revoke", {
    schema: {
      summary: "Token revocation (RFC 7009): an access token its own jti, a refresh token its whole session.",
      description: "200 for tokens that are unknown, expired or not tokens at all (RFC 7009 §2.2). A token issued to a confidential client is revoked only by that client (§2.1): 401 invalid_client without its credentials, 400 invalid_grant for another client.",
      tags,
      consumes: [FORM],
      body: RevokeForm,
      response: { 200: schemas.Empty, ...schemas.errors(400, 401, 503) },
    },
    attachValidation: true,
    handler: formRoute(async (request, body: Static<typeof RevokeForm>) => {
      const client = await identifyClient(clients, request, body)
      const token = given(body.token)
      if (token === undefined) throw new OAuthError(400, "invalid_request", "token is required.")
      // RFC 7009 §2.1: a confidential client's token is revoked by that client; a removed client's by anyone.
      const verdict = await holding(clients, await issuedTo(auth, token, ["access", "refresh"]), client)
      if (verdict === "authenticate") throw invalidClient("The token was issued to a confidential client: authenticate as that client.")
      if (verdict === "another-client") throw new OAuthError(400, "invalid_grant", "The token was issued to another client.")
      await auth.revoke(token, { reason: "revoked by the client (RFC 7009)", actor: clientActor(client?.clientId ?? null) })
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
      if ((await identifyClient(clients, request, body))?.type !== "confidential") throw invalidClient("Client authentication is required.")
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
