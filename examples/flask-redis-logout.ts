// The flask-jwt-extended "revoking on Redis" pattern, on Express with revocable. `DELETE /logout` revokes
// whichever token it is given: an access token alone, or a refresh token, which ends its session and so also
// the access tokens issued from it. `DELETE /logout/both` revokes the access and refresh tokens at once from the
// access token (the pattern that, in Flask, embeds the refresh jti in the access token). No blocklist loader
// to write: verify consults the revocations itself, and entries expire with the tokens they revoke.
//
// Run: npx node examples/flask-redis-logout.ts        (PORT, default a free port; HOST, default 127.0.0.1;
//                                                       REDIS_URL, default redis://127.0.0.1:6379)
//   curl -s -X POST $URL/login                                           # {access_token, refresh_token}
//   curl -s $URL/protected -H "authorization: Bearer $ACCESS"
//   curl -s -X DELETE $URL/logout -H "authorization: Bearer $REFRESH"    # "Refresh token successfully revoked"
//   curl -s -X DELETE $URL/logout/both -H "authorization: Bearer $ACCESS"
import express from "express"
import { AuthError, createAuth, type Auth } from "revocable"
import { redisStore } from "revocable/stores/redis"
import { authenticate, authErrorHandler, readToken } from "revocable/express"

// Redis, shared by every instance of the app: a revocation made by one is enforced by all of them.
const store = redisStore(
  { url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
  { prefix: process.env.REVOCABLE_PREFIX ?? "flask-redis-logout" },
)

const auth = createAuth({ issuer: "http://localhost", audience: "flask-redis-logout", store, accessTtl: "1h" })

/** Verifies a token of either kind, as `@jwt_required(verify_type=False)` does. */
async function verifyEither(auth: Auth, token: string | null): Promise<{ type: "access" | "refresh"; sub: string }> {
  try {
    return { type: "access", sub: (await auth.verify(token)).sub }
  } catch (error) {
    if (!(error instanceof AuthError) || error.code !== "wrong_token_type") throw error
    return { type: "refresh", sub: (await auth.verify(token, { type: "refresh" })).sub }
  }
}

const app = express()

// As in the Flask example, anyone may log in as example_user: the point is what happens at logout.
app.post("/login", async (_req, res) => {
  const pair = await auth.issue("example_user")
  res.json({ access_token: pair.accessToken, refresh_token: pair.refreshToken })
})

// Refresh tokens rotate: each use returns a new pair, and the spent refresh token is refused from then on.
app.post("/refresh", async (req, res) => {
  const pair = await auth.refresh(readToken(req))
  res.json({ access_token: pair.accessToken, refresh_token: pair.refreshToken })
})

app.delete("/logout", async (req, res) => {
  const token = readToken(req)
  const { type, sub } = await verifyEither(auth, token)
  await auth.revoke(token, { actor: sub, reason: "logout" })
  res.json({ msg: `${type === "access" ? "Access" : "Refresh"} token successfully revoked` })
})

app.delete("/logout/both", authenticate(auth), async (req, res) => {
  await auth.logout(readToken(req))
  res.json({ msg: `Access and refresh tokens of ${req.auth?.sub} successfully revoked` })
})

app.get("/protected", authenticate(auth), (_req, res) => {
  res.json({ hello: "world" })
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
