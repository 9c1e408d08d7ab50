// JSON schemas shared by the routes: they validate requests, shape responses (fields not listed are never
// sent) and make the OpenAPI document.
import type { Revocation, Session } from "../stores/contract.ts"
import type { User } from "./users.ts"
import type { JsonSchema } from "./openapi.ts"

export const error: JsonSchema = {
  type: "object",
  properties: {
    error: { type: "string", description: "A stable code: invalid_request, token_revoked, invalid_grant, …" },
    error_description: { type: "string" },
  },
  required: ["error"],
}

/** The error responses a route documents, by status. */
export function errors(...statuses: number[]): Record<string, JsonSchema> {
  return Object.fromEntries(statuses.map((status) => [String(status), error]))
}

export const empty: JsonSchema = { type: "null", description: "No content" }

const time = { type: "string", format: "date-time" }
const nullableTime = { type: ["string", "null"], format: "date-time" }

export const credentials: JsonSchema = {
  type: "object",
  properties: {
    username: { type: "string", maxLength: 256 },
    password: { type: "string", maxLength: 1024 },
  },
  required: ["username", "password"],
}

export const tokenPair: JsonSchema = {
  type: "object",
  properties: {
    access_token: { type: "string" },
    refresh_token: { type: "string", description: "Absent in cookie mode: it is in an HttpOnly cookie." },
    token_type: { type: "string", enum: ["Bearer"] },
    expires_in: { type: "integer", description: "Seconds until the access token expires." },
    refresh_expires_in: { type: "integer" },
    session_id: { type: "string" },
    csrf_token: { type: "string", description: "Cookie mode: echo it in the X-CSRF-Token header of unsafe requests." },
  },
  required: ["access_token", "token_type", "expires_in", "session_id"],
}

export const session: JsonSchema = {
  type: "object",
  properties: {
    session_id: { type: "string" },
    device: { type: ["string", "null"] },
    created_at: time,
    last_used_at: time,
    expires_at: time,
    current: { type: "boolean", description: "The session of the token that made this request." },
  },
  required: ["session_id", "device", "created_at", "last_used_at", "expires_at"],
}

export function sessionView(entry: Session, currentSid?: string): Record<string, unknown> {
  return {
    session_id: entry.sid,
    device: entry.device,
    created_at: iso(entry.createdAt),
    last_used_at: iso(entry.lastUsedAt),
    expires_at: iso(entry.expiresAt),
    ...(currentSid === undefined ? {} : { current: entry.sid === currentSid }),
  }
}

export const user: JsonSchema = {
  type: "object",
  properties: {
    sub: { type: "string" },
    username: { type: "string" },
    roles: { type: "array", items: { type: "string" } },
    created_at: time,
    suspended_at: nullableTime,
  },
  required: ["sub", "username", "roles", "created_at", "suspended_at"],
}

export function userView(entry: User): Record<string, unknown> {
  return {
    sub: entry.sub,
    username: entry.username,
    roles: entry.roles,
    created_at: iso(entry.createdAt),
    suspended_at: entry.suspendedAt === null ? null : iso(entry.suspendedAt),
  }
}

export const revocation: JsonSchema = {
  type: "object",
  properties: {
    kind: { type: "string", enum: ["token", "session", "subject", "key"] },
    id: { type: "string", description: "The jti, sid, sub or kid revoked." },
    subject: { type: ["string", "null"] },
    reason: { type: ["string", "null"] },
    actor: { type: ["string", "null"] },
    created_at: time,
    expires_at: { ...time, description: "When nothing it can match is valid any more; the entry is forgotten after." },
  },
  required: ["kind", "id", "subject", "reason", "actor", "created_at", "expires_at"],
}

export function revocationView(entry: Revocation): Record<string, unknown> {
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

export function page(items: JsonSchema): JsonSchema {
  return {
    type: "object",
    properties: { items: { type: "array", items }, next: { type: ["string", "null"], description: "The cursor of the next page." } },
    required: ["items", "next"],
  }
}

export const paging: JsonSchema = {
  type: "object",
  properties: {
    cursor: { type: "string", maxLength: 512 },
    limit: { type: "integer", minimum: 1, maximum: 1000, default: 50 },
  },
}

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}
