// The shapes of the API's answers, as TypeBox schemas: Fastify validates and serializes with them (fields not
// listed are never sent), @fastify/swagger puts them in the OpenAPI document, and their Static types type the
// route handlers and, imported as types only, the web console. Request schemas live beside their routes, but
// for the paging query that two lists share.
import { Type, type Static, type TSchema } from "typebox"
import type * as stored from "revocable/stores"
import type * as directory from "./user-directory.ts"
import type * as registry from "./client-directory.ts"
import type { LinkedIdentity } from "./oidc/identities.ts"

/** A string or null as one `type` array, rather than TypeBox's anyOf: the shorter schema to read and to serialize. */
function nullable(options: { format?: string; description?: string } = {}) {
  return Type.Unsafe<string | null>({ type: ["string", "null"], ...options })
}

const Time = Type.String({ format: "date-time" })

export const ErrorBody = Type.Object({
  error: Type.String({ description: "A stable code: invalid_request, token_revoked, invalid_grant, …" }),
  error_description: Type.Optional(Type.String()),
})

const ERRORS: Record<number, string> = {
  400: "invalid_request",
  401: "Authentication failed",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  429: "Too many attempts (Retry-After)",
  503: "The store is unavailable",
}

/** The error responses a route documents, by status. */
export function errors<const S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((status) => [status, Type.Object(ErrorBody.properties, { description: ERRORS[status] ?? String(status) })])) as Record<S, typeof ErrorBody>
}

/** No body: `send()` without a payload. */
export const Empty = Type.Unsafe<void>({ type: "null", description: "No content" })

export const TokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.Optional(Type.String({ description: "Absent in cookie mode: it is in an HttpOnly cookie." })),
  token_type: Type.Literal("Bearer"),
  expires_in: Type.Integer({ description: "Seconds until the access token expires." }),
  refresh_expires_in: Type.Optional(Type.Integer()),
  session_id: Type.String(),
  csrf_token: Type.Optional(Type.String({ description: "Cookie mode: echo it in the X-CSRF-Token header of unsafe requests." })),
})
export type TokenPair = Static<typeof TokenPair>

export const Session = Type.Object({
  session_id: Type.String(),
  device: nullable({ description: "The label the client gave at sign-in, or its User-Agent." }),
  ip: nullable({ description: "The IP address it was signed in from (as REVOCABLE_TRUST_PROXY resolves it); null when not kept." }),
  user_agent: nullable({ description: "The User-Agent it was signed in with; null when not kept." }),
  created_at: Type.String({ format: "date-time", description: "When it was signed in." }),
  last_used_at: Type.String({ format: "date-time", description: "When its refresh token was last used (its sign-in, until the first refresh)." }),
  expires_at: Time,
  provider: nullable({ description: "The OpenID provider it was signed in with (its configured name, the tokens' idp claim); null for a password sign-in." }),
  current: Type.Optional(Type.Boolean({ description: "The session of the token that made this request." })),
})
export type Session = Static<typeof Session>

export const User = Type.Object({
  sub: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  created_at: Time,
  suspended_at: nullable({ format: "date-time" }),
  email: nullable({ description: "Where password-reset links go; personal data." }),
  email_verified: Type.Boolean(),
})
export type User = Static<typeof User>

export const Identity = Type.Object({
  id: Type.String({ description: "Names the identity in DELETE /me/identities/{id}." }),
  provider: Type.String({ description: "The configured provider it was linked through (google, …)." }),
  issuer: Type.String(),
  subject: Type.String({ description: "The user's sub at that issuer." }),
  email: nullable({ description: "The email the provider gave when the identity was linked." }),
  linked_at: Time,
})
export type Identity = Static<typeof Identity>

const Passwordless = Type.Boolean({ description: "Made by a federated sign-in and no password set yet: it signs in through its identities only." })

export const Identities = Type.Object({ passwordless: Passwordless, identities: Type.Array(Identity) })
export type Identities = Static<typeof Identities>

/** One user as the admin API shows it: the list's fields, and how the user signs in. */
export const UserDetail = Type.Object({ ...User.properties, passwordless: Passwordless, identities: Type.Array(Identity) })
export type UserDetail = Static<typeof UserDetail>

export const Revocation = Type.Object({
  kind: Type.Enum(["token", "session", "subject", "key"], { type: "string" }),
  id: Type.String({ description: "The jti, sid, sub or kid revoked." }),
  subject: nullable(),
  reason: nullable(),
  actor: nullable(),
  created_at: Time,
  expires_at: Type.String({ format: "date-time", description: "When nothing it can match is valid any more; the entry is forgotten after." }),
})
export type Revocation = Static<typeof Revocation>

export const SigningKey = Type.Object({
  kid: Type.String(),
  alg: Type.String(),
  created_at: Time,
  activates_at: Type.String({ format: "date-time", description: "When it signs (or signed) from; a rotated key is published before." }),
  retired_at: nullable({ format: "date-time" }),
  status: Type.Union([Type.Literal("signing"), Type.Literal("next"), Type.Literal("verifies"), Type.Literal("retired")], {
    description: "signing: new tokens are signed with it; next: published, signs from activates_at; verifies: only verifies; retired: refused.",
  }),
})
export type SigningKey = Static<typeof SigningKey>

export const RotatedKey = Type.Object({
  kid: Type.String(),
  activates_at: Type.String({ format: "date-time", description: "When the new key starts signing." }),
})
export type RotatedKey = Static<typeof RotatedKey>

export const PasswordChanged = Type.Object({ revoked_sessions: Type.Integer({ description: "The user's other sessions, now revoked." }) })
export type PasswordChanged = Static<typeof PasswordChanged>

export const Me = Type.Object({
  sub: Type.String(),
  username: nullable(),
  email: nullable(),
  email_verified: Type.Boolean(),
  roles: Type.Array(Type.String()),
  session_id: Type.String(),
  jti: Type.String(),
  expires_at: Time,
})
export type Me = Static<typeof Me>

export const Client = Type.Object({
  client_id: Type.String(),
  name: Type.String(),
  type: Type.Enum(["confidential", "public"], { type: "string" }),
  scopes: Type.Array(Type.String(), { description: "What it may ask for with the client_credentials grant." }),
  created_at: Time,
})
export type Client = Static<typeof Client>

function page<T extends TSchema>(items: T) {
  return Type.Object({ items: Type.Array(items), next: nullable({ description: "The cursor of the next page." }) })
}
export const RevocationPage = page(Revocation)
export type RevocationPage = Static<typeof RevocationPage>
export const UserPage = page(User)
export type UserPage = Static<typeof UserPage>

/** The query of a paged list. */
export const Paging = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
})

/** A session as the API shows it; `where` is what the server kept of its sign-in (session-details.ts). */
export function sessionView(entry: stored.Session, currentSid?: string, where?: { ip: string | null; userAgent: string | null }): Session {
  return {
    session_id: entry.sid,
    device: entry.device,
    ip: where?.ip ?? null,
    user_agent: where?.userAgent ?? null,
    created_at: iso(entry.createdAt),
    last_used_at: iso(entry.lastUsedAt),
    expires_at: iso(entry.expiresAt),
    provider: typeof entry.claims.idp === "string" ? entry.claims.idp : null,
    ...(currentSid === undefined ? {} : { current: entry.sid === currentSid }),
  }
}

export function userView(entry: directory.User): User {
  return {
    sub: entry.sub,
    username: entry.username,
    roles: entry.roles,
    created_at: iso(entry.createdAt),
    suspended_at: entry.suspendedAt === null ? null : iso(entry.suspendedAt),
    email: entry.email,
    email_verified: entry.emailVerified,
  }
}

export function clientView(entry: registry.Client): Client {
  return { client_id: entry.clientId, name: entry.name, type: entry.type, scopes: entry.scopes, created_at: iso(entry.createdAt) }
}

export function identityView(entry: LinkedIdentity): Identity {
  return { id: entry.id, provider: entry.provider, issuer: entry.issuer, subject: entry.subject, email: entry.email, linked_at: iso(entry.linkedAt) }
}

export function revocationView(entry: stored.Revocation): Revocation {
  return {
    kind: entry.kind,
    id: entry.id,
    subject: entry.subject,
    reason: entry.reason,
    actor: entry.actor,
    created_at: iso(entry.createdAt),
    expires_at: iso(entry.expiresAt),
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}
