// The AuthX "token blocklist" app (FastAPI), on Fastify with revocable: the same routes and the same curl flow.
// The difference: a logged-out token is really refused. The original registers a blocklist callback that its
// library never calls, and re-checks the set by hand in one route; here verify checks revocation itself, on
// every route that authenticates.
//
// Run: npx node examples/authx-blocklist.ts          (PORT, default a free port; HOST, default 127.0.0.1)
//   curl -s -X POST $URL/login -H 'content-type: application/json' -d '{"username":"user1","password":"password1"}'
//   curl -s $URL/protected -H "authorization: Bearer $TOKEN"     # 200
//   curl -s -X POST $URL/logout -H "authorization: Bearer $TOKEN"
//   curl -s $URL/protected -H "authorization: Bearer $TOKEN"     # 401 token_revoked
//   curl -s $URL/blocklist                                       # the revoked jti
import { createHash, timingSafeEqual } from "node:crypto"
import Fastify from "fastify"
import { createAuth } from "revocable"
import { memoryStore } from "revocable/stores/memory"
import { authenticate, authErrorHandler, readToken } from "revocable/fastify"

// In memory, like the original's set: sqliteStore({ path }) keeps revocations across restarts.
const store = memoryStore()

const auth = createAuth({ issuer: "http://localhost", audience: "authx-blocklist", store })

// Demo users, as in the original; a real application keeps password hashes (argon2id, scrypt).
const USERS = new Map([
  ["user1", { password: "password1", email: "user1@example.com" }],
  ["user2", { password: "password2", email: "user2@example.com" }],
])

function passwordMatches(username: unknown, password: unknown): boolean {
  const user = typeof username === "string" ? USERS.get(username) : undefined
  const given = createHash("sha256").update(typeof password === "string" ? password : "").digest()
  const expected = createHash("sha256").update(user?.password ?? "").digest()
  return timingSafeEqual(given, expected) && user !== undefined
}

const app = Fastify()
app.setErrorHandler(authErrorHandler())

app.post<{ Body: { username?: unknown; password?: unknown } | null }>("/login", async (request, reply) => {
  const { username, password } = request.body ?? {}
  if (!passwordMatches(username, password)) return reply.code(401).header("www-authenticate", "Bearer").send({ error: "invalid_credentials", error_description: "Invalid username or password." })
  const pair = await auth.issue(username as string)
  return { access_token: pair.accessToken, token_type: "bearer" }
})

app.post("/logout", { onRequest: authenticate(auth) }, async (request) => {
  await auth.revoke(readToken(request), { actor: request.auth?.sub, reason: "logout" })
  return { message: "Successfully logged out" }
})

app.get("/blocklist", async () => {
  const page = await auth.listRevocations({ kind: "token", limit: 100 })
  return { blocklist: page.items.map((revocation) => revocation.id) }
})

app.get("/protected", { onRequest: authenticate(auth) }, async (request) => {
  const username = request.auth?.sub ?? ""
  return {
    message: "You have access to this protected resource",
    username,
    email: USERS.get(username)?.email ?? null,
    token_jti: request.auth?.jti,
  }
})

app.get("/", async () => ({
  message: "Welcome to the revocable port of the AuthX Token Blocklist Example",
  endpoints: {
    login: "POST /login - Get an access token",
    logout: "POST /logout - Revoke the current token",
    blocklist: "GET /blocklist - View the current blocklist",
    protected: "GET /protected - Access protected resource (requires token)",
  },
}))

await auth.ready()
const url = await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? "127.0.0.1" })
console.log(`listening on ${url}`)

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void app.close().then(() => auth.close())
  })
}
