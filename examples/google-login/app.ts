// The seed's "Google login with FastAPI" tutorial, rebuilt on Express with revocable: "Sign in with Google" (or any
// OpenID Connect provider), revocable JWTs in HttpOnly cookies, a page that shows the user with "Refresh" and
// "Log out" buttons, and the tutorial's blocklist, which here is revocable's revocation: logging out revokes the
// session, so its access token is refused at once, not when it expires.
//
// Run (README.md in this folder says how to get the Google credentials):
//   OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… PORT=8000 PUBLIC_URL=http://localhost:8000 npx node examples/google-login/app.ts
//   OIDC_ISSUER=https://sso.example.com/realms/main …                     # any other provider, by its issuer
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import express from "express"
import { createAuth, randomId } from "revocable"
import { memoryStore } from "revocable/stores/memory"
import { authenticate, authErrorHandler, clearAuthCookies, readToken, setAuthCookies } from "revocable/express"
import { expressOidc, oidcLogin } from "revocable/oidc"
import { PAGE } from "./page.ts"

const { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET } = process.env
if (!OIDC_CLIENT_ID || !OIDC_CLIENT_SECRET) {
  console.error("Set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (examples/google-login/README.md says where to get them).")
  process.exit(1)
}

// The callback URL registered at the provider depends on the public URL, which with PORT=0 is known once listening.
const server = createServer()
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 8000), process.env.HOST ?? "127.0.0.1", resolve))
const { address, port } = server.address() as AddressInfo
const publicUrl = process.env.PUBLIC_URL ?? `http://${address}:${port}`

// One process, nothing to keep: sqliteStore({ path }) to survive restarts, a shared store for several instances.
const auth = createAuth({ issuer: publicUrl, audience: "google-login", store: memoryStore(), accessTtl: "15m", refreshTtl: "7d" })
await auth.ready()

// Cookie mode: HttpOnly tokens; unsafe requests need the CSRF header and this origin.
const COOKIES = { secure: publicUrl.startsWith("https:"), origins: [new URL(publicUrl).origin] }
const COOKIE_ONLY = { cookie: COOKIES, header: false } as const

// The application's users, keyed by the provider's (issuer, sub): never by email, which can change hands.
interface User {
  id: string
  email: string | null
  name: string | null
  picture: string | null
}
const users = new Map<string, User>()

const google = expressOidc(
  oidcLogin({
    auth,
    issuer: process.env.OIDC_ISSUER ?? "https://accounts.google.com",
    clientId: OIDC_CLIENT_ID,
    clientSecret: OIDC_CLIENT_SECRET,
    redirectUri: `${publicUrl}/auth/oidc/google/callback`,
    // Seals the sign-in's state between the redirect and the callback; the same on every instance.
    cookieSecret: process.env.COOKIE_SECRET ?? randomBytes(32),
    cookie: COOKIES,
    onIdentity: ({ issuer, sub, email, claims }) => {
      const key = `${issuer} ${sub}`
      const user = users.get(key) ?? { id: randomId(), email: null, name: null, picture: null }
      // The profile is refreshed at each sign-in; the id stays.
      Object.assign(user, { email, name: typeof claims.name === "string" ? claims.name : null, picture: typeof claims.picture === "string" ? claims.picture : null })
      users.set(key, user)
      return { subject: user.id, claims: { email, name: user.name } }
    },
  }),
  // A failed sign-in comes back to the page, which says what went wrong.
  { errorRedirect: "/" },
)

const app = express()

app.get("/", (_req, res) => void res.type("html").send(PAGE))
app.get("/auth/oidc/google", google.start)
app.get("/auth/oidc/google/callback", google.callback)

app.get("/api/me", authenticate(auth, COOKIE_ONLY), (req, res) => {
  res.json({ sub: req.auth?.sub, email: req.auth?.email, name: req.auth?.name, session_id: req.auth?.sid, expires_at: req.auth?.exp })
})

// Rotates the refresh token: the old one is spent, and replaying it would revoke the whole session.
app.post("/auth/refresh", async (req, res) => {
  const pair = await auth.refresh(readToken(req, { ...COOKIE_ONLY, type: "refresh" }))
  setAuthCookies(res, pair, COOKIES)
  res.json({ expires_in: pair.expiresIn })
})

// The blocklist: the session is revoked (its access and refresh tokens alike), on every instance of the app.
app.post("/auth/logout", authenticate(auth, COOKIE_ONLY), async (req, res) => {
  await auth.logout(readToken(req, COOKIE_ONLY))
  clearAuthCookies(res, COOKIES)
  res.status(204).end()
})

app.use(authErrorHandler())

server.on("request", app)
console.log(`listening on http://${address}:${port} (sign in at ${publicUrl})`)

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.closeAllConnections()
    server.close(() => void auth.close())
  })
}
