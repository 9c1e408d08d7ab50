// The flask-jwt-extended "revoking in a database" pattern, on Hono with revocable and its SQLite store. The
// Flask example leaves as an exercise "who revoked a JWT, notes for why, an endpoint to un-revoke": every
// revocation here records who (actor), why (reason) and when, and an admin can list and undo them. Revocations
// are in ./data (REVOCABLE_DATA), so they survive a restart.
//
// Run: npx node examples/flask-database-revocations.ts   (PORT, default a free port; HOST, default 127.0.0.1)
//   curl -s -X POST $URL/login -H 'content-type: application/json' -d '{"username":"alice","password":"alice-pw"}'
//   curl -s -X DELETE $URL/logout -H "authorization: Bearer $ALICE"
//   curl -s $URL/revocations -H "authorization: Bearer $ADMIN"                  # who, why, when
//   curl -s -X DELETE $URL/revocations/token/$JTI -H "authorization: Bearer $ADMIN"   # un-revoke
import { createHash, timingSafeEqual } from "node:crypto"
import { Hono } from "hono"
import { serve } from "@hono/node-server"
import { AuthError, createAuth, type Auth, type Revocation, type RevocationKind } from "revocable"
import { sqliteStore } from "revocable/stores/sqlite"
import { authenticate, authErrorHandler, readToken, requireClaims } from "revocable/hono"

const store = sqliteStore({ path: process.env.REVOCABLE_DATA ?? "./data/flask-database-revocations.db" })

const auth = createAuth({ issuer: "http://localhost", audience: "flask-database-revocations", store, accessTtl: "1h" })

// Demo users; a real application keeps password hashes (argon2id, scrypt).
const USERS = new Map([
  ["alice", { password: "alice-pw", role: "user" }],
  ["admin", { password: "admin-pw", role: "admin" }],
])

function passwordMatches(username: unknown, password: unknown): boolean {
  const user = typeof username === "string" ? USERS.get(username) : undefined
  const given = createHash("sha256").update(typeof password === "string" ? password : "").digest()
  const expected = createHash("sha256").update(user?.password ?? "").digest()
  return timingSafeEqual(given, expected) && user !== undefined
}

async function verifyEither(auth: Auth, token: string | null): Promise<{ type: "access" | "refresh"; sub: string }> {
  try {
    return { type: "access", sub: (await auth.verify(token)).sub }
  } catch (error) {
    if (!(error instanceof AuthError) || error.code !== "wrong_token_type") throw error
    return { type: "refresh", sub: (await auth.verify(token, { type: "refresh" })).sub }
  }
}

function describe(revocation: Revocation) {
  return {
    kind: revocation.kind,
    id: revocation.id,
    subject: revocation.subject,
    revoked_by: revocation.actor,
    reason: revocation.reason,
    revoked_at: new Date(revocation.createdAt).toISOString(),
    expires_at: new Date(revocation.expiresAt).toISOString(),
  }
}

async function jsonBody(request: Request): Promise<Record<string, unknown>> {
  const body: unknown = await request.json().catch(() => null)
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new AuthError("invalid_request", "The body must be a JSON object.")
  return body as Record<string, unknown>
}

const app = new Hono()
app.onError(authErrorHandler())
const admin = [authenticate(auth), requireClaims({ role: "admin" })] as const

app.post("/login", async (c) => {
  const { username, password } = await jsonBody(c.req.raw)
  if (!passwordMatches(username, password)) return c.json({ error: "invalid_credentials", error_description: "Invalid username or password." }, 401, { "www-authenticate": "Bearer" })
  const pair = await auth.issue(username as string, { claims: { role: USERS.get(username as string)?.role } })
  return c.json({ access_token: pair.accessToken, refresh_token: pair.refreshToken })
})

app.delete("/logout", async (c) => {
  const token = readToken(c)
  const { type, sub } = await verifyEither(auth, token)
  await auth.revoke(token, { actor: sub, reason: "logout" })
  return c.json({ msg: `${type === "access" ? "Access" : "Refresh"} token revoked` })
})

app.get("/protected", authenticate(auth), (c) => c.json({ hello: c.get("auth")?.sub }))

app.get("/revocations", ...admin, async (c) => {
  const kind = c.req.query("kind") as RevocationKind | undefined
  const page = await auth.listRevocations({ subject: c.req.query("subject"), kind, cursor: c.req.query("cursor") ?? null })
  return c.json({ revocations: page.items.map(describe), next_cursor: page.next })
})

// Revoke a whole session or every token of a user, saying why; the admin is recorded as the actor.
app.post("/revocations", ...admin, async (c) => {
  const { kind, id, reason } = await jsonBody(c.req.raw)
  if (typeof id !== "string" || (reason !== undefined && typeof reason !== "string")) {
    throw new AuthError("invalid_request", "id must be a string, and reason a string when given.")
  }
  const meta = { actor: c.get("auth")?.sub, reason }
  if (kind === "session") return c.json(describe(await auth.revokeSession(id, meta)), 201)
  if (kind === "subject") return c.json(describe(await auth.revokeSubject(id, meta)), 201)
  throw new AuthError("invalid_request", 'kind must be "session" or "subject".')
})

app.delete("/revocations/:kind/:id", ...admin, async (c) => {
  const existed = await auth.unrevoke(c.req.param("kind") as RevocationKind, c.req.param("id"))
  return existed ? c.json({ unrevoked: true }) : c.json({ error: "not_found", error_description: "No such revocation." }, 404)
})

await auth.ready()
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: process.env.HOST ?? "127.0.0.1" }, (info) => {
  console.log(`listening on http://${info.address}:${info.port}`)
})

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => server.close(() => void auth.close()))
}
