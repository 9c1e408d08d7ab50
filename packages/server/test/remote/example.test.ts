// examples/remote-service (issue 15, point 8), as its README walks through it: a real server process, the CLI
// registering the service's client, the example running as a process of its own, and a user who signs in,
// calls the service (200), logs out, and calls it again (401 token_revoked).
import assert from "node:assert/strict"
import { spawn, type ChildProcess } from "node:child_process"
import { after, before, test } from "node:test"
import { fileURLToPath } from "node:url"
import { finished, runCli } from "../fixtures/cli-run.ts"
import { call, signIn } from "../helpers/server.ts"
import { claimsOf, startFeedServer, stop, type FeedServer } from "./helpers.ts"

const APP = fileURLToPath(new URL("../../../../examples/remote-service/app.ts", import.meta.url))

interface Service {
  base: string
  /** Resolves once the service has printed this line. */
  printed(line: string): Promise<void>
  child: ChildProcess
}

/** `node examples/remote-service/app.ts` on a free port; resolves once it listens. */
function startService(env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, [APP], { env: { ...process.env, ...env, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  const waiters: { line: string; resolve: () => void }[] = []
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const lines = stdout.split("\n")
      for (const waiter of [...waiters]) {
        if (lines.includes(waiter.line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve()
        }
      }
      const listening = /listening on (http:\/\/\S+)/.exec(stdout)
      if (listening) {
        const printed = (line: string) => new Promise<void>((done) => (stdout.split("\n").includes(line) ? done() : waiters.push({ line, resolve: done })))
        resolve({ base: listening[1] as string, printed, child })
      }
    })
    child.once("exit", (code) => reject(new Error(`the example exited (${code}) before listening:\n${stderr}`)))
  })
}

let server: FeedServer
let service: Service | undefined
before(async () => {
  server = await startFeedServer()
})
after(async () => {
  if (service !== undefined && service.child.exitCode === null) {
    const exited = finished(service.child)
    service.child.kill("SIGTERM")
    assert.equal((await exited).code, 0, "the service shuts down cleanly on SIGTERM")
  }
  await stop(server)
  server.cleanup()
})

test("the README's walk-through: client registered by the CLI, 200 for a signed-in user, 401 token_revoked after the logout", async () => {
  const registered = await runCli(["clients", "add", "orders", "--scope", "revocations:read", "--json"], server.env)
  assert.equal(registered.code, 0, registered.stderr)
  const client = JSON.parse(registered.stdout) as { clientId: string; clientSecret: string }
  service = await startService({ AUTH_ISSUER: server.url, AUTH_CLIENT_ID: client.clientId, AUTH_CLIENT_SECRET: client.clientSecret })

  const pair = await signIn(server.url, "alice")
  const { sub, sid } = claimsOf(pair.access_token)
  const orders = await call(service.base, "GET", "/orders", { token: pair.access_token })
  assert.equal(orders.status, 200, orders.text)
  assert.deepEqual(orders.body, { customer: sub, session: sid, orders: [] })

  // The service prints each revocation the feed brings: the logout has reached it once this line is out.
  const arrived = service.printed(`revoked session ${sid}`)
  assert.equal((await call(server.url, "POST", "/auth/logout", { token: pair.access_token })).status, 204)
  await arrived
  const refused = await call(service.base, "GET", "/orders", { token: pair.access_token })
  assert.equal(refused.status, 401)
  assert.equal(refused.body.error, "token_revoked")
  assert.match(refused.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/)

  const health = await call(service.base, "GET", "/healthz")
  assert.equal(health.status, 200)
  assert.equal(health.body.fresh, true)
  assert.equal(health.body.revocations, 1)
})

test("credentials the server refuses: the service says so and exits 1 instead of listening", async () => {
  const child = spawn(process.execPath, [APP], { env: { ...process.env, AUTH_ISSUER: server.url, AUTH_CLIENT_ID: "orders", AUTH_CLIENT_SECRET: "not the secret", PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] })
  const result = await finished(child)
  assert.equal(result.code, 1)
  assert.match(result.stderr, /the auth server refused this service: .*401/)
  assert.doesNotMatch(result.stdout, /listening on/)
})
