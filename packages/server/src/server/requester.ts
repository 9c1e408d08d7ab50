// Who calls the OAuth endpoints, and whether that caller may use a given token. RFC 6749 §2.3 / §3.2.1: a
// confidential client authenticates (HTTP Basic or the form's client_secret), a registered public client names
// itself with client_id, and a request naming no client is the first party. RFC 6749 §6 and RFC 7009 §2.1: a
// token issued to a confidential client is refreshed or revoked by that client only.
import type { FastifyRequest } from "fastify"
import { isAuthError, type Auth } from "revocable"
import { checkStorable } from "revocable/stores"
import type { Client, ClientDirectory } from "./client-directory.ts"

/** The `client_id` claim (RFC 9068 §2.2) of tokens from /auth/login, and from a grant that named no client. */
export const FIRST_PARTY_CLIENT = "revocable"

/** An RFC 6749 §5.2 error answer. */
export class OAuthError extends Error {
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

/** 401 invalid_client with the Basic challenge RFC 6749 §5.2 asks for. */
export function invalidClient(description: string): OAuthError {
  return new OAuthError(401, "invalid_client", description, { "www-authenticate": 'Basic realm="revocable", charset="UTF-8"' })
}

/** What every form has: the client's id, and its secret when it authenticates in the form. */
export type ClientForm = { client_id?: string | undefined; client_secret?: string | undefined }

/** A form field, an empty one as absent. */
export function given(value: string | undefined): string | undefined {
  return value === "" ? undefined : value
}

/**
 * The client making the request: a confidential client whose credentials check out (HTTP Basic with the
 * form-encoded id and secret, or both in the form, never both ways at once), a registered public client named by
 * client_id, or null when the request names no client. Anything else is 401 invalid_client: wrong credentials,
 * an unknown client_id, or a confidential client's id without its secret.
 */
export async function identifyClient(clients: ClientDirectory, request: FastifyRequest, form: ClientForm): Promise<Client | null> {
  const header = request.headers.authorization
  const basic = typeof header === "string" && /^basic /i.test(header) ? header.slice(6).trim() : undefined
  const named = given(form.client_id)
  const inForm = given(form.client_secret)
  if (basic !== undefined && inForm !== undefined) throw new OAuthError(400, "invalid_request", "Use one client authentication method per request.")
  if (basic === undefined && inForm === undefined) {
    if (named === undefined) return null
    const client = await clients.find(named)
    if (client === null) throw invalidClient("Unknown client_id: register the client with `revocable clients add`.")
    if (client.type === "confidential") throw invalidClient("This client is confidential: authenticate with its secret (HTTP Basic or client_secret).")
    return client
  }
  const [id, secret] = basic !== undefined ? basicCredentials(basic) : [named, inForm]
  const client = id !== undefined && secret !== undefined ? await clients.authenticate(id, secret) : null
  if (client === null) throw invalidClient("Client authentication failed.")
  if (named !== undefined && named !== client.clientId) throw invalidClient("client_id names another client than the credentials.")
  return client
}

/** RFC 6749 §2.3.1: the id and the secret are form-encoded, then joined by a colon, then base64. */
function basicCredentials(encoded: string): [string | undefined, string | undefined] {
  const decoded = Buffer.from(encoded, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return [undefined, undefined]
  let id: string
  let secret: string
  try {
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "))
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "))
  } catch {
    return [undefined, undefined]
  }
  // The form's fields were checked by the server's preValidation hook; the header's are checked here.
  checkStorable(id, "The client id")
  checkStorable(secret, "The client secret")
  return [id, secret]
}

/**
 * The client a token of ours was issued to: an access token's `client_id`, a refresh token's session's. Null for
 * a token that does not verify (not ours, expired, revoked) or whose session is over: nobody can use it anyway.
 */
export async function issuedTo(auth: Auth, token: string, types: readonly ("access" | "refresh")[]): Promise<string | null> {
  for (const type of types) {
    let claims
    try {
      claims = await auth.verify(token, { type })
    } catch (error) {
      if (isAuthError(error) && error.code !== "store_unavailable") continue
      throw error
    }
    // Refresh tokens carry no application claims: the session, which the core lists, holds them.
    const holder = type === "access" ? claims : (await auth.listSessions(claims.sub)).find((session) => session.sid === claims.sid)?.claims
    if (holder === undefined) return null
    return typeof holder.client_id === "string" ? holder.client_id : FIRST_PARTY_CLIENT
  }
  return null
}

/**
 * Whether `caller` may use a token issued to `owner`: "ok"; "another-client" when a different client
 * authenticated or named itself; "authenticate" when the owner is confidential and the caller did not
 * authenticate as it; "gone" when the owner was removed.
 */
export async function holding(clients: ClientDirectory, owner: string | null, caller: Client | null): Promise<"ok" | "another-client" | "authenticate" | "gone"> {
  if (owner === null || owner === FIRST_PARTY_CLIENT || owner === caller?.clientId) return "ok"
  if (caller !== null) return "another-client"
  const client = await clients.find(owner)
  if (client === null) return "gone"
  return client.type === "confidential" ? "authenticate" : "ok"
}
