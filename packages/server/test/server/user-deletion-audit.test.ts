import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { createAuthFromConfig } from "../../src/server/engine.ts"
import { userDirectory } from "../../src/server/user-directory.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"
const USERNAME = "henrietta"
const EMAIL = "henrietta.h@example.com"
const IP = "203.0.113.77"
const USER_AGENT = "HenriettaBrowser/7.3 (deletion test)"
/** Her requests come through the proxy the server trusts; the admin's straight from 127.0.0.1. */
const HERS = { "x-forwarded-for": IP, "user-agent": USER_AGENT }

interface EventView {
  id: string
  type: string
  subject: string | null
  actor: string | null
}

let server: TestServer
let admin: string

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_TRUST_PROXY: "true" })
  admin = (await signIn(server.url, "admin", ADMIN_PASSWORD, false)).access_token
})
after(() => server.close())

/** The whole audit log through the admin API, every page. */
async function auditLog(): Promise<{ events: EventView[]; text: string }> {
  const events: EventView[] = []
  let cursor: string | null = null
  do {
    const page = await call(server.url, "GET", `/admin/audit?limit=3${cursor === null ? "" : `&cursor=${cursor}`}`, { token: admin })
    assert.equal(page.status, 200, page.text)
    events.push(...page.body.items)
    cursor = page.body.next
  } while (cursor !== null)
  return { events, text: JSON.stringify(events) }
}

test("deleting a user erases their name, address, IP and User-Agent from the audit log, which keeps their events by subject", async () => {
  const directory = userDirectory(server.store, createAuthFromConfig(server.config, server.store))
  const { sub } = await directory.create({ username: USERNAME, password: PASSWORD, email: EMAIL })
  const login = async (password: string) => call(server.url, "POST", "/auth/login", { json: { username: USERNAME, password }, headers: HERS })
  // Two sessions: changing the password revokes the other one, under her name.
  assert.equal((await login(PASSWORD)).status, 200)
  const current = await login(PASSWORD)
  assert.equal(current.status, 200)
  assert.equal((await login("not her password at all")).status, 401)
  const changed = await call(server.url, "POST", "/auth/password", {
    token: current.body.access_token,
    json: { current_password: PASSWORD, new_password: "a brand new horse battery staple" },
    headers: HERS,
  })
  assert.equal(changed.status, 200, changed.text)

  const before = await auditLog()
  for (const trace of [USERNAME, IP, USER_AGENT]) assert.ok(before.text.includes(trace), `the log held ${trace} before the deletion`)
  assert.equal((await call(server.url, "DELETE", `/admin/users/${sub}`, { token: admin })).status, 204)

  const { events, text } = await auditLog()
  for (const trace of [USERNAME, EMAIL, IP, USER_AGENT]) assert.ok(!text.includes(trace), `${trace} is gone from the log`)
  const ids = new Set(events.map((event) => event.id))
  assert.ok(before.events.every((event) => ids.has(event.id)), "every earlier event is kept")
  const hers = (type: string) => events.filter((event) => event.subject === sub && event.type === type)
  assert.equal(hers("login.succeeded").length, 2)
  assert.ok(hers("login.succeeded").every((event) => event.actor === sub), "her name as actor became her subject")
  assert.equal(hers("login.failed").length, 1)
  assert.equal(hers("password.changed").length, 1)
  assert.equal(hers("session.revoked").length, 1)
  assert.equal(hers("subject.revoked").length, 1)
  const [deleted] = hers("user.deleted")
  assert.equal(deleted?.actor, "admin")
  assert.equal(events[0]?.id, deleted?.id, "the deletion is the newest event")
})
