// Reading the audit log: GET /admin/audit (every event, filtered and paged, for admins) and GET /me/audit (the
// signed-in user's own recent events, with nothing about other people).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import { Type, type Static } from "typebox"
import { AuthError } from "revocable"
import { requireClaims } from "revocable/fastify"
import type { AuditEvent } from "revocable/stores"
import { AUDIT_TYPES } from "../audit.ts"
import { BEARER } from "../docs.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"

const Text = (description: string) => Type.Unsafe<string | null>({ type: ["string", "null"], description })

export const AuditEventView = Type.Object({
  id: Type.String(),
  at: Type.String({ format: "date-time", description: "When the store recorded it." }),
  type: Type.Enum([...AUDIT_TYPES], { type: "string", description: "What happened (docs/server.md lists the types)." }),
  subject: Text("The user (or client) it is about."),
  actor: Text('Who did it: a username, an admin\'s, "revocable" for the server itself, "cli:<user>".'),
  session_id: Text("The session concerned."),
  ip: Text("The client's address."),
  user_agent: Text("The client's User-Agent."),
  reason: Text("Why: a revocation's reason, a refused sign-in's error code."),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: "What else the type records (kind and id of a revocation, a client's id)." }),
})
export type AuditEventView = Static<typeof AuditEventView>

const AuditPage = Type.Object({
  items: Type.Array(AuditEventView),
  next: Type.Unsafe<string | null>({ type: ["string", "null"], description: "The cursor of the next page." }),
})

const AuditQuery = Type.Object({
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "A user's sub or username." })),
  type: Type.Optional(Type.Enum([...AUDIT_TYPES], { type: "string" })),
  since: Type.Optional(Type.String({ maxLength: 64, description: "Events at or after this time (ISO 8601)." })),
  until: Type.Optional(Type.String({ maxLength: 64, description: "Events before this time (ISO 8601)." })),
  ...schemas.Paging.properties,
})
const OwnQuery = Type.Object({ ...schemas.Paging.properties })

/** Attempts on the user's account: shown to the user with the address and User-Agent they came from. */
const OWN_ATTEMPTS: ReadonlySet<string> = new Set(["login.failed", "refresh.reused"])

function time(value: string | undefined, name: string): number | null {
  if (value === undefined) return null
  const ms = Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) throw new AuthError("invalid_request", `${name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z.`)
  return ms
}

export function auditView(event: AuditEvent): AuditEventView {
  return {
    id: event.id,
    at: schemas.iso(event.at),
    type: event.type as AuditEventView["type"],
    subject: event.subject,
    actor: event.actor,
    session_id: event.sessionId,
    ip: event.ip,
    user_agent: event.userAgent,
    reason: event.reason,
    details: event.details === null ? null : (JSON.parse(event.details) as Record<string, unknown>),
  }
}

export const auditRoutes: FastifyPluginAsyncTypebox<Pick<Services, "audit" | "users" | "bearer">> = async (app, { audit, users, bearer }) => {
  app.get("/admin/audit", {
    onRequest: [bearer, requireClaims({ roles: "admin" })],
    schema: {
      summary: "The audit log, newest first: sign-ins, revocations, account and admin changes; filter by user, type and time.",
      description: "Requires the role `admin`.",
      tags: ["admin"],
      security: BEARER,
      querystring: AuditQuery,
      response: { 200: AuditPage, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request) {
      const { subject, type, cursor, limit } = request.query
      const user = subject === undefined ? null : ((await users.get(subject)) ?? (await users.findByUsername(subject)))
      const page = await audit.list({
        subject: user?.sub ?? subject ?? null,
        type: type ?? null,
        since: time(request.query.since, "since"),
        until: time(request.query.until, "until"),
        cursor: cursor ?? null,
        limit: limit ?? 50,
      })
      return { items: page.items.map(auditView), next: page.next }
    },
  })

  app.get("/me/audit", {
    onRequest: bearer,
    schema: {
      summary: "Your recent security events: sign-ins and refused attempts on your account, sign-outs, revocations, password changes.",
      tags: ["auth"],
      security: BEARER,
      querystring: OwnQuery,
      response: { 200: AuditPage, ...schemas.errors(400, 401, 503) },
    },
    async handler(request) {
      const claims = claimsOf(request)
      const username = (await users.get(claims.sub))?.username ?? null
      const page = await audit.list({ subject: claims.sub, cursor: request.query.cursor ?? null, limit: request.query.limit ?? 50 })
      const own = (event: AuditEvent) => event.actor === claims.sub || (username !== null && event.actor === username)
      const items = page.items.map((event) => {
        const view = auditView(event)
        // An admin's name and address, or the server's, are not the user's to see; attempts on the account are.
        const theirs = own(event) || OWN_ATTEMPTS.has(event.type)
        return {
          ...view,
          actor: own(event) ? view.actor : event.actor === "revocable" ? "revocable" : event.actor === null ? null : "an administrator",
          ip: theirs ? view.ip : null,
          user_agent: theirs ? view.user_agent : null,
        }
      })
      return { items, next: page.next }
    },
  })
}
