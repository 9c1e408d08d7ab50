// The admin API, registered under /admin, every route for the role `admin`: revocations with reason and actor,
// users and their sessions, suspension, keys. The OAuth clients are admin-clients.ts, which shares these guards.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyReply, FastifySchema } from "fastify"
import { Type, type Static } from "typebox"
import { AuthError } from "revocable"
import { storeOperation } from "revocable/stores"
import { requireClaims } from "revocable/fastify"
import { BEARER } from "../docs.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { listedKeys, storeNow } from "../keystore.ts"
import { identityList } from "../oidc/identities.ts"
import { noStore } from "../login.ts"
import { generatePassword } from "../password-reset.ts"
import { sessionDetails } from "../session-details.ts"
import { deleteUser } from "../user-deletion.ts"
import { actorName, type UserDirectory } from "../user-directory.ts"
import { AuditEventView, auditView } from "./audit.ts"

export type AdminRoutesOptions = Pick<Services, "auth" | "users" | "store" | "bearer" | "audit">

export const Id = Type.String({ minLength: 1, maxLength: 1024 })
const Reason = Type.Optional(Type.String({ maxLength: 1024 }))
const Kind = schemas.Revocation.properties.kind
const RevocationQuery = Type.Object({ subject: Type.Optional(Id), kind: Type.Optional(Kind), ...schemas.Paging.properties })
const RevokeBody = Type.Object({
  kind: Type.Enum(["token", "session", "subject"], { type: "string" }),
  id: Type.String({ minLength: 1, maxLength: 16384 }),
  reason: Reason,
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "With a bare jti, required: the sub or username of the user the token was issued to." })),
})
const ReasonBody = Type.Object({ reason: Reason })
const UserParams = Type.Object({ sub: Id })
const ResetBody = Type.Object({
  password: Type.Optional(Type.String({ maxLength: 1024, description: "The new password; absent: one is generated and answered once." })),
  reason: Reason,
})
const ResetAnswer = Type.Object({
  ...schemas.User.properties,
  password: Type.Optional(Type.String({ description: "The generated password, when none was given: shown here only. Hand it to the user to sign in and change it." })),
})
const UserQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 254, description: "The start of a username or an email address (any case): only those users." })),
  sort: Type.Optional(Type.Enum(["name", "created"], { type: "string", description: "name: A to Z (default); created: newest first. A search (q) lists by name." })),
  ...schemas.Paging.properties,
})
const RolesBody = Type.Object({ roles: Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16, description: "Every role the user has from now on: lower-case names such as admin." }) })
/** The recent events shown with a user. */
const USER_EVENTS = 20
export const UserOverview = Type.Object({
  ...schemas.UserDetail.properties,
  sessions: Type.Array(schemas.Session, { description: "Live sessions, newest first." }),
  events: Type.Array(AuditEventView, { description: `The user's ${USER_EVENTS} latest audit events, newest first (GET /admin/audit?subject= for more).` }),
})
export type UserOverview = Static<typeof UserOverview>
export const denied = schemas.errors(400, 401, 403, 503)
export const deniedOrMissing = schemas.errors(400, 401, 403, 404, 503)

/** What every admin route's documentation says: who may call it. */
export function guarded<S extends FastifySchema>(schema: S): S {
  return { ...schema, tags: ["admin"], security: BEARER, description: `${schema.description ?? ""} Requires the role \`admin\`.`.trim() }
}

export function notFound(reply: FastifyReply, what: string): FastifyReply {
  return reply.code(404).send({ error: "not_found", error_description: `No ${what} has that id.` })
}

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async (app, { auth, users, store, bearer, audit }) => {
  const identities = identityList(store, users)
  const details = sessionDetails(store)
  app.addHook("onRequest", bearer)
  app.addHook("onRequest", requireClaims({ roles: "admin" }))

  const actor = (sub: string) => actorName(users, sub)

  /** The sub of the user a bare jti was issued to: a jti alone names no owner, so the admin must. */
  async function ownerOf(subject: string | undefined): Promise<string> {
    if (subject === undefined) {
      throw new AuthError("invalid_request", "A bare jti does not say whose token it is: give subject (the user's sub or username), or send the token itself.")
    }
    const user = (await users.get(subject)) ?? (await users.findByUsername(subject))
    if (user === null) throw new AuthError("invalid_request", "No user has that subject or username.")
    return user.sub
  }

  async function listKeys() {
    try {
      return await store.listKeys()
    } catch (cause) {
      throw new AuthError("store_unavailable", undefined, { cause })
    }
  }

  app.get("/revocations", {
    schema: guarded({
      summary: "Live revocations, newest first; filter by subject and grain.",
      querystring: RevocationQuery,
      response: { 200: schemas.RevocationPage, ...denied },
    }),
    async handler(request) {
      const { subject, kind, cursor, limit } = request.query
      const page = await auth.listRevocations({ ...(subject === undefined ? {} : { subject }), ...(kind === undefined ? {} : { kind }), cursor: cursor ?? null, limit })
      return { items: page.items.map(schemas.revocationView), next: page.next }
    },
  })

  app.post("/revocations", {
    schema: guarded({
      summary: "Revoke a token, a session or every token of a subject.",
      description:
        "token: id is the token itself (an access token revokes its jti, a refresh token its session; its owner and expiry are read from it) or a bare jti, which needs `subject`: the owner's sub or username, so that the revocation is listed under that user. A jti does not carry its token's expiry: the entry is kept as long as any token of this server can live. session: a sid. subject: a sub (every token issued before now). Keys are retired with DELETE /admin/keys/{kid}.",
      body: RevokeBody,
      response: { 201: schemas.Revocation, ...denied },
    }),
    async handler(request, reply) {
      const { kind, id: target, subject } = request.body
      const bareJti = kind === "token" && !target.includes(".")
      if (subject !== undefined && !bareJti) {
        throw new AuthError("invalid_request", "subject goes only with a bare jti: a token names its owner itself, and a session or subject id needs none.")
      }
      const meta = { reason: request.body.reason ?? "revoked by an admin", actor: await actor(claimsOf(request).sub) }
      let revocation
      if (kind === "subject") {
        revocation = await auth.revokeSubject(target, meta)
      } else if (kind === "session") {
        revocation = await auth.revokeSession(target, meta)
      } else if (!bareJti) {
        revocation = await auth.revoke(target, meta)
        if (revocation === null) throw new AuthError("invalid_request", "That token is not a live token of this server: nothing to revoke.")
      } else {
        if (!/^[A-Za-z0-9_-]{1,256}$/.test(target)) throw new AuthError("invalid_request", "A jti is made of base64url characters.")
        revocation = await auth.revokeToken(target, { ...meta, subject: await ownerOf(subject) })
      }
      return reply.code(201).send(schemas.revocationView(revocation))
    },
  })

  app.delete("/revocations/:kind/:id", {
    schema: guarded({
      summary: "Un-revoke: remove a revocation (what it revoked is accepted again).",
      description:
        "A suspended user's subject revocation cannot be removed: unsuspend first (tokens from before the suspension stay revoked). A key revocation cannot be removed either (400): a retired key stays retired, rotate a new key instead.",
      params: Type.Object({ kind: Kind, id: Id }),
      response: { 204: schemas.Empty, ...schemas.errors(400, 401, 403, 404, 409, 503) },
    }),
    async handler(request, reply) {
      const { kind, id: target } = request.params
      if (kind === "subject" && (await users.get(target))?.suspendedAt != null) {
        return reply.code(409).send({ error: "invalid_request", error_description: "The user is suspended: unsuspend first." })
      }
      if (!(await auth.unrevoke(kind, target))) return notFound(reply, "revocation")
      return reply.code(204).send()
    },
  })

  app.get("/users", {
    schema: guarded({
      summary: "Users by name or newest first; with q, those whose username or email starts with it.",
      description: "Paged: send `next` back as cursor, with the same q and sort. Reads the indexes only, never every user.",
      querystring: UserQuery,
      response: { 200: schemas.UserPage, ...denied },
    }),
    async handler(request) {
      const { q, sort, cursor, limit } = request.query
      const page = await users.search({ q, sort, cursor: cursor ?? null, limit })
      return { items: page.items.map(schemas.userView), next: page.next }
    },
  })

  app.get("/users/:sub", {
    schema: guarded({
      summary: "One user: roles, status, linked OpenID Connect identities, live sessions (with where they signed in from) and latest audit events.",
      params: UserParams,
      response: { 200: UserOverview, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      const user = await users.get(request.params.sub)
      if (user === null) return notFound(reply, "user")
      const [linked, sessions, events] = await Promise.all([
        identities.list(user.sub),
        details.sessions(auth, user.sub),
        audit.list({ subject: user.sub, limit: USER_EVENTS }),
      ])
      return { ...schemas.userView(user), passwordless: user.passwordless, identities: linked.map(schemas.identityView), sessions, events: events.items.map(auditView) }
    },
  })

  app.put("/users/:sub/roles", {
    schema: guarded({
      summary: "Set a user's roles (every one: the list replaces the old).",
      description:
        "A session's tokens carry the roles of its sign-in: taking a role away revokes every token of the user (they sign in again, with the new roles); an added role shows in their next sign-in. Refused (400) when it would leave no admin who is not suspended. Recorded in the audit log as user.roles_changed.",
      params: UserParams,
      body: RolesBody,
      response: { 200: schemas.User, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      const by = await actor(claimsOf(request).sub)
      const changed = await users.setRoles(request.params.sub, request.body.roles, { reason: "roles changed by an admin", actor: by })
      if (changed === null) return notFound(reply, "user")
      const { before, after } = changed
      await audit.record({ type: "user.roles_changed", subject: after.sub, actor: by, details: { before: before.roles, after: after.roles } })
      return schemas.userView(after)
    },
  })

  app.delete("/users/:sub", {
    schema: guarded({
      summary: "Delete a user: every token revoked, the account, its linked identities and its sessions' sign-in details removed; the username and address are free again.",
      description: "The audit log keeps a user.deleted event with the subject only. Refused (400) for the last admin who is not suspended.",
      params: UserParams,
      response: { 204: schemas.Empty, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      if (!(await deleteUser({ users, store, audit }, request.params.sub, await actor(claimsOf(request).sub)))) return notFound(reply, "user")
      return reply.code(204).send()
    },
  })

  app.get("/users/:sub/sessions", {
    schema: guarded({ summary: "A user's live sessions.", params: UserParams, response: { 200: Type.Array(schemas.Session), ...deniedOrMissing } }),
    async handler(request, reply) {
      if ((await users.get(request.params.sub)) === null) return notFound(reply, "user")
      return details.sessions(auth, request.params.sub)
    },
  })

  app.post("/users/:sub/suspend", {
    schema: guarded({
      summary: "Suspend: every token of the user is revoked and logins are refused.",
      params: UserParams,
      body: ReasonBody,
      response: { 200: schemas.User, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      const meta = { reason: request.body.reason ?? "suspended by an admin", actor: await actor(claimsOf(request).sub) }
      const user = await users.suspend(request.params.sub, meta)
      if (user !== null) await audit.record({ type: "user.suspended", subject: user.sub, ...meta })
      return user === null ? notFound(reply, "user") : schemas.userView(user)
    },
  })

  app.post("/users/:sub/unsuspend", {
    schema: guarded({
      summary: "Allow logins again; tokens revoked by the suspension stay revoked.",
      params: UserParams,
      response: { 200: schemas.User, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      const user = await users.unsuspend(request.params.sub)
      if (user !== null) await audit.record({ type: "user.unsuspended", subject: user.sub, actor: await actor(claimsOf(request).sub) })
      return user === null ? notFound(reply, "user") : schemas.userView(user)
    },
  })

  app.post("/users/:sub/password", {
    schema: guarded({
      summary: "Reset a user's password: every token of the user is revoked.",
      description: "With password, sets it (the password policy applies); without, generates one (24 random characters) and answers it once. Recorded in the audit log as password.reset.",
      params: UserParams,
      body: ResetBody,
      response: { 200: ResetAnswer, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      const generated = request.body.password === undefined ? generatePassword() : null
      const by = await actor(claimsOf(request).sub)
      const reason = request.body.reason ?? "password reset by an admin"
      const user = await users.resetPassword(request.params.sub, request.body.password ?? (generated as string), { meta: { reason, actor: by } })
      if (user === null) return notFound(reply, "user")
      await audit.record({ type: "password.reset", subject: user.sub, actor: by, reason, details: { method: "admin", generated: generated !== null } })
      noStore(reply)
      return { ...schemas.userView(user), ...(generated === null ? {} : { password: generated }) }
    },
  })

  app.get("/keys", {
    schema: guarded({ summary: "Signing keys, newest first (public data only), with what each does now.", response: { 200: Type.Array(schemas.SigningKey), ...denied } }),
    async handler() {
      const stored = await listKeys()
      const now = await storeOperation(() => storeNow(store))
      return listedKeys(stored, now).map((entry) => ({
        kid: entry.kid,
        alg: entry.alg,
        created_at: schemas.iso(entry.createdAt),
        activates_at: schemas.iso(entry.activatesAt),
        retired_at: entry.retiredAt === null ? null : schemas.iso(entry.retiredAt),
        status: entry.status,
      }))
    },
  })

  app.post("/keys/rotate", {
    schema: guarded({
      summary: "Make a new signing key: published in the JWKS at once, signing once the activation delay has passed (`now: true`: at once, an emergency). Older keys keep verifying until their tokens expire.",
      body: Type.Object({ now: Type.Optional(Type.Boolean({ description: "Sign with it at once: verifiers holding a cached JWKS refuse its tokens until they refetch it." })) }, { additionalProperties: false }),
      response: { 201: schemas.RotatedKey, ...denied },
    }),
    async handler(request, reply) {
      const { kid, activatesAt } = await auth.rotateKey({ now: request.body.now === true })
      return reply.code(201).send({ kid, activates_at: schemas.iso(activatesAt) })
    },
  })

  app.delete("/keys/:kid", {
    schema: guarded({
      summary: "Retire a key: every token it signed is refused from now on, on every instance.",
      params: Type.Object({ kid: Type.String({ minLength: 1, maxLength: 128 }) }),
      body: ReasonBody,
      response: { 200: schemas.Revocation, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      if (!(await listKeys()).some((entry) => entry.kid === request.params.kid)) return notFound(reply, "key")
      const revocation = await auth.retireKey(request.params.kid, {
        reason: request.body.reason ?? "retired by an admin",
        actor: await actor(claimsOf(request).sub),
      })
      return schemas.revocationView(revocation)
    },
  })
}
