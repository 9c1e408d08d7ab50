// examples/flask-database-revocations.ts, run as a process on a SQLite file of its own, driven over HTTP, and
// restarted on the same file.
import assert from "node:assert/strict"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, test } from "node:test"
import { bearer, call, type Reply } from "../adapters/client.ts"
import { runExample, type RunningExample } from "./run.ts"

let dir: string
let env: Record<string, string>
let app: RunningExample

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "revocable-example-"))
  env = { REVOCABLE_DATA: join(dir, "revocations.db") }
  app = await runExample("flask-database-revocations", env)
})

after(async () => {
  assert.equal(await app.stop(), 0, "the example shuts down cleanly on SIGTERM")
  await rm(dir, { recursive: true, force: true })
})

async function login(username: string): Promise<{ access: string; refresh: string }> {
  const reply = await call(app.base, "POST", "/login", { json: { username, password: `${username}-pw` } })
  assert.equal(reply.status, 200, reply.text)
  return { access: reply.json.access_token, refresh: reply.json.refresh_token }
}

function status(reply: Reply, expected: number, error?: string): void {
  assert.equal(reply.status, expected, reply.text)
  if (error !== undefined) assert.equal(reply.json.error, error)
}

const jtiOf = (token: string): string => JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).jti

test("logout records who, why and when; an admin lists it and un-revokes it", async () => {
  const alice = await login("alice")
  const admin = await login("admin")
  status(await call(app.base, "GET", "/protected", { headers: [bearer(alice.access)] }), 200)
  const startedAt = Date.now()
  status(await call(app.base, "DELETE", "/logout", { headers: [bearer(alice.access)] }), 200)
  status(await call(app.base, "GET", "/protected", { headers: [bearer(alice.access)] }), 401, "token_revoked")

  const listed = await call(app.base, "GET", "/revocations?subject=alice&kind=token", { headers: [bearer(admin.access)] })
  status(listed, 200)
  const entry = listed.json.revocations.find((row: { id: string }) => row.id === jtiOf(alice.access))
  assert.ok(entry, "the revoked token is listed")
  assert.equal(entry.kind, "token")
  assert.equal(entry.subject, "alice")
  assert.equal(entry.revoked_by, "alice")
  assert.equal(entry.reason, "logout")
  assert.ok(Date.parse(entry.revoked_at) >= startedAt - 1000 && Date.parse(entry.revoked_at) <= Date.now())

  status(await call(app.base, "DELETE", `/revocations/token/${entry.id}`, { headers: [bearer(admin.access)] }), 200)
  status(await call(app.base, "GET", "/protected", { headers: [bearer(alice.access)] }), 200)
  status(await call(app.base, "DELETE", `/revocations/token/${entry.id}`, { headers: [bearer(admin.access)] }), 404)
})

test("only an admin may list, revoke or un-revoke", async () => {
  const alice = await login("alice")
  const headers = [bearer(alice.access)]
  status(await call(app.base, "GET", "/revocations", { headers }), 403, "forbidden")
  status(await call(app.base, "POST", "/revocations", { headers, json: { kind: "subject", id: "admin" } }), 403, "forbidden")
  status(await call(app.base, "DELETE", "/revocations/subject/alice", { headers }), 403, "forbidden")
  status(await call(app.base, "GET", "/revocations"), 401, "token_missing")
})

test("an admin revokes every token of a user with a reason, and the revocation survives a restart", async () => {
  const alice = await login("alice")
  const admin = await login("admin")
  const revoked = await call(app.base, "POST", "/revocations", { headers: [bearer(admin.access)], json: { kind: "subject", id: "alice", reason: "suspicious activity" } })
  status(revoked, 201)
  assert.equal(revoked.json.revoked_by, "admin")
  assert.equal(revoked.json.reason, "suspicious activity")
  status(await call(app.base, "GET", "/protected", { headers: [bearer(alice.access)] }), 401, "token_revoked")
  status(await call(app.base, "DELETE", "/logout", { headers: [bearer(alice.refresh)] }), 401, "token_revoked")

  assert.equal(await app.stop(), 0)
  app = await runExample("flask-database-revocations", env)
  status(await call(app.base, "GET", "/protected", { headers: [bearer(alice.access)] }), 401, "token_revoked")
  status(await call(app.base, "GET", "/protected", { headers: [bearer(admin.access)] }), 200)
  const fresh = await login("alice")
  status(await call(app.base, "GET", "/protected", { headers: [bearer(fresh.access)] }), 200)
})

test("bad admin requests are 400 invalid_request, never 500", async () => {
  const admin = await login("admin")
  const headers = [bearer(admin.access)]
  status(await call(app.base, "POST", "/revocations", { headers, json: { kind: "token", id: "x" } }), 400, "invalid_request")
  status(await call(app.base, "POST", "/revocations", { headers, json: { kind: "session" } }), 400, "invalid_request")
  status(await call(app.base, "POST", "/revocations", { headers: [...headers, ["content-type", "application/json"]], json: undefined }), 400, "invalid_request")
  status(await call(app.base, "GET", "/revocations?kind=everything", { headers }), 400, "invalid_request")
  status(await call(app.base, "DELETE", "/revocations/everything/x", { headers }), 400, "invalid_request")
  status(await call(app.base, "POST", "/login", { json: ["alice"] }), 400, "invalid_request")
})
