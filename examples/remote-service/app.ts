// An orders API of another team that trusts the revocable auth server without holding its store's credentials:
// `revocable/remote` follows the server's keys and revocation feed, and the Express adapter takes it as it takes
// `createAuth`. A user who logs out at the auth server is refused here within milliseconds, not when the token expires.
//
// Run (README.md in this folder walks through it with curl, from `npm start` to the refused token):
//   AUTH_CLIENT_ID=… AUTH_CLIENT_SECRET=… NODE_OPTIONS=--conditions=revocable-source npx node examples/remote-service/app.ts
import express from "express"
import { authenticate } from "revocable/express"
import { remoteVerifier } from "revocable/remote"

const { AUTH_CLIENT_ID, AUTH_CLIENT_SECRET } = process.env
if (!AUTH_CLIENT_ID || !AUTH_CLIENT_SECRET) {
  console.error("Set AUTH_CLIENT_ID and AUTH_CLIENT_SECRET: a client of the auth server with the scope revocations:read (`revocable clients add orders --scope revocations:read`).")
  process.exit(1)
}
const issuer = process.env.AUTH_ISSUER ?? "http://localhost:8000"

const verifier = remoteVerifier({ issuer, clientId: AUTH_CLIENT_ID, clientSecret: AUTH_CLIENT_SECRET, audience: process.env.AUTH_AUDIENCE ?? "api" })
// What reaches the service from the feed, so that a logout can be watched arriving.
verifier.on("revoked", (entry) => console.log(`revoked ${entry.kind} ${entry.id}`))
verifier.on("unrevoked", (change) => console.log(`unrevoked ${change.kind} ${change.id}`))
verifier.on("stale", () => console.log("no contact with the auth server for maxStaleness: refusing tokens (503) until it is back"))
verifier.on("fresh", () => console.log(`following the auth server's revocations (${verifier.status().mode})`))
verifier.on("error", (error) => console.error(`auth server: ${error.message}`))

console.log(`waiting for the auth server at ${issuer}`)
try {
  await verifier.ready
} catch (error) {
  // Refused credentials do not get better by waiting: say so and stop.
  console.error(`the auth server refused this service: ${(error as Error).message}`)
  process.exit(1)
}

const app = express()

// A valid, unrevoked access token of the auth server, or 401 (503 when the verifier cannot vouch); req.auth is its claims.
app.get("/orders", authenticate(verifier), (req, res) => {
  res.json({ customer: req.auth!.sub, session: req.auth!.sid, orders: [] })
})

// For a load balancer: 503 while the verifier cannot vouch for its revocations (it refuses tokens then too).
app.get("/healthz", (_req, res) => {
  const { fresh, mode, size, lastContact } = verifier.status()
  res.status(fresh ? 200 : 503).json({ fresh, mode, revocations: size, last_contact: lastContact === null ? null : new Date(lastContact).toISOString() })
})

const host = process.env.HOST ?? "127.0.0.1"
const server = app.listen(Number(process.env.PORT ?? 3000), host, (error?: Error) => {
  if (error) {
    console.error(`cannot listen: ${error.message}`)
    process.exit(1)
  }
  const { port } = server.address() as { port: number }
  console.log(`orders service listening on http://${host}:${port}`)
})

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close()
    server.closeAllConnections()
    void verifier.close().then(() => process.exit(0))
  })
}
