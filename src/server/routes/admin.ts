// The admin API (role `admin`): revocations with reason and actor, users and their sessions, suspension, keys.
import type { FastifyInstance, FastifyReply } from "fastify"
import { AuthError } from "../../errors.ts"
import type { RevocationKind } from "../../stores/contract.ts"
import type { ServerContext } from "../context.ts"
import * as schemas from "../schemas.ts"

const GRAINS = ["token", "session", "subject"] as const
const KINDS = ["token", "session", "subject", "key"] as const
const id = { type: "string", minLength: 1, maxLength: 1024 }
const reason = { type: "string", maxLength: 1024 }
const subParams = { type: "object", properties: { sub: id }, required: ["sub"] }

function notFound(reply: FastifyReply, what: string): FastifyReply {
  return reply.code(404).send({ error: "not_found", error_description: `No ${what} has that id.` })
}

export async function adminRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { auth, users, config, store } = ctx
  const tags = ["admin"]
  const guarded = { onRequest: ctx.admin }
  const denied = schemas.errors(400, 401, 403, 503)

  async function actor(sub: string): Promise<string> {
    return (await users.get(sub))?.username ?? sub
  }

  app.get<{ Querystring: { subject?: string; kind?: RevocationKind; cursor?: string; limit: number } }>("/admin/revocations", {
    ...guarded,
    schema: {
      summary: "Live revocations, newest first; filter by subject and grain.",
      tags,
      security: "admin",
      querystring: {
        type: "object",
        properties: { subject: id, kind: { type: "string", enum: KINDS }, ...(schemas.paging.properties as object) },
      },
      response: { 200: schemas.page(schemas.revocation), ...denied },
    },
    async handler(request) {
      const { subject, kind, cursor, limit } = request.query
      const page = await auth.listRevocations({ ...(subject === undefined ? {} : { subject }), ...(kind === undefined ? {} : { kind }), cursor: cursor ?? null, limit })
      return { items: page.items.map(schemas.revocationView), next: page.next }
    },
  })

  app.post<{ Body: { kind: (typeof GRAINS)[number]; id: string; reason?: string } }>("/admin/revocations", {
    ...guarded,
    schema: {
      summary: "Revoke a token, a session or every token of a subject.",
      description:
        "token: id is the token itself (an access token revokes its jti, a refresh token its session) or a jti. session: a sid. subject: a sub (every token issued before now). Keys are retired with DELETE /admin/keys/{kid}.",
      tags,
      security: "admin",
      body: { type: "object", properties: { kind: { type: "string", enum: GRAINS }, id: { ...id, maxLength: 16384 }, reason }, required: ["kind", "id"] },
      response: { 201: schemas.revocation, ...denied },
    },
    async handler(request, reply) {
      const { kind, id: target } = request.body
      const meta = { reason: request.body.reason ?? "revoked by an admin", actor: await actor(request.auth?.sub as string) }
      let revocation
      if (kind === "subject") {
        revocation = await auth.revokeSubject(target, meta)
      } else if (kind === "session") {
        revocation = await auth.revokeSession(target, meta)
      } else if (target.includes(".")) {
        revocation = await auth.revoke(target, meta)
        if (revocation === null) throw new AuthError("invalid_request", "That token is not a live token of this server: nothing to revoke.")
      } else {
        if (!/^[A-Za-z0-9_-]{1,256}$/.test(target)) throw new AuthError("invalid_request", "A jti is made of base64url characters.")
        revocation = await auth.revokeToken(target, meta)
      }
      return reply.code(201).send(schemas.revocationView(revocation))
    },
  })

  app.delete<{ Params: { kind: RevocationKind; id: string } }>("/admin/revocations/:kind/:id", {
    ...guarded,
    schema: {
      summary: "Un-revoke: remove a revocation (what it revoked is accepted again).",
      description:
        "A suspended user's subject revocation cannot be removed: unsuspend first (tokens from before the suspension stay revoked). A key revocation cannot be removed either (400): a retired key stays retired, rotate a new key instead.",
      tags,
      security: "admin",
      params: { type: "object", properties: { kind: { type: "string", enum: KINDS }, id }, required: ["kind", "id"] },
      response: { 204: schemas.empty, ...schemas.errors(400, 401, 403, 404, 409, 503) },
    },
    async handler(request, reply) {
      const { kind, id: target } = request.params
      if (kind === "subject" && (await users.get(target))?.suspendedAt != null) {
        return reply.code(409).send({ error: "invalid_request", error_description: "The user is suspended: unsuspend first." })
      }
      if (!(await auth.unrevoke(kind, target))) return notFound(reply, "revocation")
      return reply.code(204).send()
    },
  })

  app.get<{ Querystring: { cursor?: string; limit: number } }>("/admin/users", {
    ...guarded,
    schema: { summary: "Users, in id order.", tags, security: "admin", querystring: schemas.paging, response: { 200: schemas.page(schemas.user), ...denied } },
    async handler(request) {
      const page = await users.list({ cursor: request.query.cursor ?? null, limit: request.query.limit })
      return { items: page.items.map(schemas.userView), next: page.next }
    },
  })

  app.get<{ Params: { sub: string } }>("/admin/users/:sub", {
    ...guarded,
    schema: { summary: "One user.", tags, security: "admin", params: subParams, response: { 200: schemas.user, ...schemas.errors(400, 401, 403, 404, 503) } },
    async handler(request, reply) {
      const user = await users.get(request.params.sub)
      return user === null ? notFound(reply, "user") : schemas.userView(user)
    },
  })

  app.get<{ Params: { sub: string } }>("/admin/users/:sub/sessions", {
    ...guarded,
    schema: {
      summary: "A user's live sessions.",
      tags,
      security: "admin",
      params: subParams,
      response: { 200: { type: "array", items: schemas.session }, ...schemas.errors(400, 401, 403, 404, 503) },
    },
    async handler(request, reply) {
      if ((await users.get(request.params.sub)) === null) return notFound(reply, "user")
      return (await auth.listSessions(request.params.sub)).map((entry) => schemas.sessionView(entry))
    },
  })

  app.post<{ Params: { sub: string }; Body: { reason?: string } }>("/admin/users/:sub/suspend", {
    ...guarded,
    schema: {
      summary: "Suspend: every token of the user is revoked and logins are refused.",
      tags,
      security: "admin",
      params: subParams,
      body: { type: "object", properties: { reason } },
      response: { 200: schemas.user, ...schemas.errors(400, 401, 403, 404, 503) },
    },
    async handler(request, reply) {
      const user = await users.suspend(request.params.sub, {
        reason: request.body.reason ?? "suspended by an admin",
        actor: await actor(request.auth?.sub as string),
      })
      return user === null ? notFound(reply, "user") : schemas.userView(user)
    },
  })

  app.post<{ Params: { sub: string } }>("/admin/users/:sub/unsuspend", {
    ...guarded,
    schema: {
      summary: "Allow logins again; tokens revoked by the suspension stay revoked.",
      tags,
      security: "admin",
      params: subParams,
      response: { 200: schemas.user, ...schemas.errors(400, 401, 403, 404, 503) },
    },
    async handler(request, reply) {
      const user = await users.unsuspend(request.params.sub)
      return user === null ? notFound(reply, "user") : schemas.userView(user)
    },
  })

  const key = {
    type: "object",
    properties: {
      kid: { type: "string" },
      alg: { type: "string" },
      created_at: { type: "string", format: "date-time" },
      retired_at: { type: ["string", "null"], format: "date-time" },
    },
    required: ["kid", "alg", "created_at", "retired_at"],
  }

  app.get("/admin/keys", {
    ...guarded,
    schema: { summary: "Signing keys, newest first (public data only).", tags, security: "admin", response: { 200: { type: "array", items: key }, ...denied } },
    async handler() {
      let keys
      try {
        keys = await store.listKeys()
      } catch (cause) {
        throw new AuthError("store_unavailable", undefined, { cause })
      }
      return keys
        .sort((a, b) => b.createdAt - a.createdAt)
        .map((entry) => ({
          kid: entry.kid,
          alg: entry.alg,
          created_at: schemas.iso(entry.createdAt),
          retired_at: entry.retiredAt === null ? null : schemas.iso(entry.retiredAt),
        }))
    },
  })

  app.post("/admin/keys/rotate", {
    ...guarded,
    schema: {
      summary: "Make a new signing key current; older keys keep verifying until their tokens expire.",
      tags,
      security: "admin",
      response: { 201: { type: "object", properties: { kid: { type: "string" } }, required: ["kid"] }, ...denied },
    },
    async handler(_request, reply) {
      return reply.code(201).send(await auth.rotateKey())
    },
  })

  app.delete<{ Params: { kid: string }; Body: { reason?: string } }>("/admin/keys/:kid", {
    ...guarded,
    schema: {
      summary: "Retire a key: every token it signed is refused from now on, on every instance.",
      tags,
      security: "admin",
      params: { type: "object", properties: { kid: { type: "string", minLength: 1, maxLength: 128 } }, required: ["kid"] },
      body: { type: "object", properties: { reason } },
      response: { 200: schemas.revocation, ...schemas.errors(400, 401, 403, 404, 503) },
    },
    async handler(request, reply) {
      let keys
      try {
        keys = await store.listKeys()
      } catch (cause) {
        throw new AuthError("store_unavailable", undefined, { cause })
      }
      if (!keys.some((entry) => entry.kid === request.params.kid)) return notFound(reply, "key")
      const revocation = await auth.retireKey(request.params.kid, {
        reason: request.body.reason ?? "retired by an admin",
        actor: await actor(request.auth?.sub as string),
      })
      return schemas.revocationView(revocation)
    },
  })
}
