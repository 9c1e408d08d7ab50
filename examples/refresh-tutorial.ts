// The access + refresh token tutorial, on Express with revocable: log in, call a protected route, renew the pair
// at `POST /auth/refresh` with `grant_type=refresh_token` (RFC 6749 §6: form or JSON body, errors as §5.2), and
// log out, which kills the refresh token too. Refresh tokens rotate on each use; replaying a spent one revokes
// its whole session.
//
// Run: npx node examples/refresh-tutorial.ts           (PORT, default a free port; HOST, default 127.0.0.1)
//   curl -s -X POST $URL/auth/login -H 'content-type: application/json' -d '{"username":"ada","password":"lovelace"}'
//   curl -s $URL/me -H "authorization: Bearer $ACCESS"
//   curl -s -X POST $URL/auth/refresh -d grant_type=refresh_token -d refresh_token=$REFRESH
//   curl -s -X POST $URL/auth/logout -H "authorization: Bearer $ACCESS"        # the refresh token dies with it
import { createHash, timingSafeEqual } from "node:crypto"
import express, { type Response } from "express"
import { AuthError, createAuth, type TokenPair } from "revocable"
import { memoryStore } from "revocable/stores/memory"
import { authenticate, authErrorHandler, errorAnswer, readToken } from "revocable/express"

// One process, nothing to keep: sqliteStore({ path }) or a shared store once there are several instances.
const store = memoryStore()

const auth = createAuth({ issuer: "http://localhost", audience: "refresh-tutorial", store, accessTtl: "15m", refreshTtl: "7d" })

// A demo user; a real application keeps password hashes (argon2id, scrypt).
const USERS = new Map([["ada", "lovelace"]])

function passwordMatches(username: unknown, password: unknown): boolean {
  const known = typeof username === "string" ? USERS.get(username) : undefined
  const given = createHash("sha256").update(typeof password === "string" ? password : "").digest()
  const expected = createHash("sha256").update(known ?? "").digest()
  return timingSafeEqual(given, expected) && known !== undefined
}

/** The token response of RFC 6749 §5.1. */
function sendTokens(res: Response, pair: TokenPair): void {
  res.set("cache-control", "no-store").json({
    access_token: pair.accessToken,
    token_type: pair.tokenType,
    expires_in: pair.expiresIn,
    refresh_token: pair.refreshToken,
  })
}

/** An error response of RFC 6749 §5.2. */
function sendGrantError(res: Response, error: string, description: string): void {
  res.status(400).set("cache-control", "no-store").json({ error, error_description: description })
}

const app = express()
app.use(express.json(), express.urlencoded({ extended: false }))

app.post("/auth/login", async (req, res) => {
  const { username, password } = req.body ?? {}
  if (!passwordMatches(username, password)) return void res.status(401).set("www-authenticate", "Bearer").json({ error: "invalid_credentials", error_description: "Invalid username or password." })
  sendTokens(res, await auth.issue(username, { device: req.get("user-agent") }))
})

app.post("/auth/refresh", async (req, res) => {
  const { grant_type: grantType, refresh_token: refreshToken } = req.body ?? {}
  if (grantType === undefined) return sendGrantError(res, "invalid_request", "grant_type is required.")
  if (grantType !== "refresh_token") return sendGrantError(res, "unsupported_grant_type", "Only grant_type=refresh_token is supported here.")
  if (typeof refreshToken !== "string" || refreshToken === "") return sendGrantError(res, "invalid_request", "refresh_token is required.")
  try {
    sendTokens(res, await auth.refresh(refreshToken))
  } catch (error) {
    // An expired, revoked, replayed or foreign refresh token is an invalid grant; a store outage stays a 503.
    if (error instanceof AuthError && errorAnswer(error).status === 401) return sendGrantError(res, "invalid_grant", error.message)
    throw error
  }
})

// Revokes the session: this access token, every other access token of the login, and its refresh token.
app.post("/auth/logout", authenticate(auth), async (req, res) => {
  await auth.logout(readToken(req))
  res.status(204).end()
})

app.get("/me", authenticate(auth), (req, res) => {
  res.json({ sub: req.auth?.sub, session_id: req.auth?.sid })
})

app.use(authErrorHandler())

await auth.ready()
const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? "127.0.0.1", (error) => {
  if (error) throw error
  const address = server.address()
  if (address !== null && typeof address === "object") console.log(`listening on http://${address.address}:${address.port}`)
})

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => server.close(() => void auth.close()))
}
