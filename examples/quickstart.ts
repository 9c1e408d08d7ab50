// The whole life of a session on the embedded SQLite store: issue, verify, refresh, log out, refused.
// Run: npm start   (data in ./data/quickstart.db, kept between runs)
import { AuthError, createAuth } from "revocable"
import { sqliteStore } from "revocable/stores/sqlite"

const auth = createAuth({
  issuer: "http://localhost:8000",
  audience: "quickstart",
  store: sqliteStore({ path: process.env.REVOCABLE_DATA ?? "./data/quickstart.db" }),
})

function show(step: string, detail: unknown): void {
  console.log(`${step.padEnd(34)} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`)
}

async function attempt(step: string, action: () => Promise<unknown>): Promise<void> {
  try {
    show(step, await action())
  } catch (error) {
    if (!(error instanceof AuthError)) throw error
    show(step, `refused: ${error.code}`)
  }
}

await auth.ready()
const pair = await auth.issue("alice", { claims: { role: "reader" }, device: "quickstart" })
show("1. issued a pair for alice", { sessionId: pair.sessionId, expiresIn: pair.expiresIn })

const claims = await auth.verify(pair.accessToken)
show("2. verified the access token", { sub: claims.sub, role: claims.role, jti: claims.jti })

const next = await auth.refresh(pair.refreshToken)
show("3. refreshed (rotated)", { sameSession: next.sessionId === pair.sessionId })
await attempt("4. replaying the old refresh token", () => auth.refresh(pair.refreshToken))
await attempt("   ...which revoked its session", () => auth.verify(next.accessToken))

const second = await auth.issue("alice", { device: "quickstart" })
show("5. logged in again", { sessionId: second.sessionId })
await auth.logout(second.accessToken)
show("6. logged out", "session revoked")
await attempt("7. the logged-out token", () => auth.verify(second.accessToken))
await attempt("8. its refresh token", () => auth.refresh(second.refreshToken))

const third = await auth.issue("alice")
await auth.logout(third.accessToken, { everywhere: true })
const fresh = await auth.issue("alice")
await attempt("9. after logout everywhere, old", () => auth.verify(third.accessToken))
await attempt("   and a login right after", async () => `accepted: ${(await auth.verify(fresh.accessToken)).sub}`)

await auth.close()
