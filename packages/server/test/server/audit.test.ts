import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { memoryStore } from "revocable/stores/memory"
import { createAudit } from "../../src/server/audit.ts"
import { loadConfig } from "../../src/server/config.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"
const USER_AGENT = "AuditTest/1.0"

let server: TestServer
let url: string
let admin: string

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  url = server.url
  admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
})
after(() => server.close())

const subOf = (token: string): string => JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).sub
const as = (token: string, method: string, path: string, json?: unknown) => call(url, method, path, { token, ...(json === undefined ? {} : { json }) })

/** The admin API's events about a user (sub or username; "" for everyone's), newest first. */
async function eventsOf(subject: string, query = ""): Promise<any[]> {
  const about = subject === "" ? "" : `subject=${encodeURIComponent(subject)}&`
  const answer = await as(admin, "GET", `/admin/audit?${about}limit=1000${query}`)
  assert.equal(answer.status, 200, answer.text)
  return answer.body.items
}

describe("the audit log records security events through the real routes", () => {
  test("a failed then a successful sign-in: login.failed with its reason, then login.succeeded with the session", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "alice", password: PASSWORD } })
    const failed = await call(url, "POST", "/auth/login", { json: { username: "alice", password: "wrong password!!" }, headers: { "user-agent": USER_AGENT } })
    assert.equal(failed.status, 401)
    const ok = await call(url, "POST", "/auth/login", { json: { username: "alice", password: PASSWORD }, headers: { "user-agent": USER_AGENT } })
    assert.equal(ok.status, 200)
    const sub = subOf(ok.body.access_token)
    const [succeeded, refused] = await eventsOf("alice")
    assert.equal(succeeded.type, "login.succeeded")
    assert.equal(succeeded.subject, sub)
    assert.equal(succeeded.actor, "alice")
    assert.equal(succeeded.session_id, ok.body.session_id)
    assert.equal(succeeded.user_agent, USER_AGENT)
    assert.match(succeeded.ip, /127\.0\.0\.1|::1/)
    assert.equal(refused.type, "login.failed")
    assert.equal(refused.subject, sub, "a refused sign-in is filed under the account whose name was given")
    assert.equal(refused.reason, "invalid_credentials")
    assert.deepEqual(refused.details, { method: "password", username: "alice" })
    assert.ok(Date.parse(refused.at) <= Date.parse(succeeded.at))

    const unknown = await call(url, "POST", "/auth/login", { json: { username: "nobody-here", password: "whatever it is" } })
    assert.equal(unknown.status, 401)
    const [stranger] = await eventsOf("", "&type=login.failed")
    assert.equal(stranger.subject, null, "an unknown name: no subject, the name in details")
    assert.equal(stranger.details.username, "nobody-here")
  })

  test("an admin's revocation: session.revoked with the admin as actor, the reason and the session", async () => {
    const pair = await signIn(url, "bob")
    const revoked = await as(admin, "POST", "/admin/revocations", { kind: "session", id: pair.session_id, reason: "stolen laptop" })
    assert.equal(revoked.status, 201, revoked.text)
    const [event] = await eventsOf("bob", "&type=session.revoked")
    assert.equal(event.subject, subOf(pair.access_token))
    assert.equal(event.actor, "admin")
    assert.equal(event.reason, "stolen laptop")
    assert.equal(event.session_id, pair.session_id)
    assert.deepEqual(event.details, { kind: "session", id: pair.session_id })

    assert.equal((await as(admin, "DELETE", `/admin/revocations/session/${pair.session_id}`)).status, 204)
    const [removed] = await eventsOf("", "&type=revocation.removed")
    assert.deepEqual([removed.session_id, removed.actor, removed.details], [pair.session_id, subOf(admin), { kind: "session", id: pair.session_id }])
  })

  test("a replayed refresh token: refresh.reused names the session it revoked, in the log before the answer", async () => {
    const pair = await signIn(url, "carol")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).status, 200)
    const replay = await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })
    assert.equal(replay.body.error, "refresh_token_reused")
    const [event] = await eventsOf("carol", "&type=refresh.reused")
    assert.ok(event, "recorded by the time the refresh was answered")
    assert.equal(event.subject, subOf(pair.access_token))
    assert.equal(event.session_id, pair.session_id)
    assert.equal(event.actor, "system:revocable")
    assert.deepEqual(event.details, { revoked_session: pair.session_id })
  })

  test("a suspension: user.suspended with actor and reason, and the revocation of every token", async () => {
    const pair = await signIn(url, "dave")
    const sub = subOf(pair.access_token)
    assert.equal((await as(admin, "POST", `/admin/users/${sub}/suspend`, { reason: "incident 42" })).status, 200)
    const events = await eventsOf(sub)
    const suspended = events.find((event) => event.type === "user.suspended")
    assert.deepEqual([suspended.subject, suspended.actor, suspended.reason], [sub, "admin", "incident 42"])
    const revoked = events.find((event) => event.type === "subject.revoked")
    assert.deepEqual([revoked.subject, revoked.actor, revoked.reason], [sub, "admin", "incident 42"])
    const refused = await call(url, "POST", "/auth/login", { json: { username: "dave", password: PASSWORD } })
    assert.equal(refused.status, 403)
    assert.equal((await eventsOf(sub, "&type=login.failed"))[0].reason, "forbidden")
  })

  test("logout, logout everywhere and a password change are recorded as the user's own", async () => {
    const pair = await signIn(url, "erin")
    assert.equal((await as(pair.access_token, "POST", "/auth/logout")).status, 204)
    const second = await signIn(url, "erin", PASSWORD, false)
    const changed = await as(second.access_token, "POST", "/auth/password", { current_password: PASSWORD, new_password: "another fine passphrase" })
    assert.equal(changed.status, 200, changed.text)
    assert.equal((await as(second.access_token, "POST", "/auth/logout-all")).status, 204)
    const events = (await eventsOf("erin")).map((event) => `${event.type}:${event.reason ?? ""}:${event.actor}`)
    assert.deepEqual(events.slice(0, 3), ["subject.revoked:logout everywhere:erin", `password.changed::${subOf(second.access_token)}`, "login.succeeded::erin"])
    assert.ok(events.includes("session.revoked:logout:erin"))
  })
})

describe("reading the audit log", () => {
  test("/admin/audit pages newest first and filters by type, user and time; bad input is a 400", async () => {
    const pair = await signIn(url, "frank")
    for (let i = 0; i < 3; i++) await call(url, "POST", "/auth/login", { json: { username: "frank", password: `wrong password ${i}` } })
    const all = await eventsOf("frank")
    assert.equal(all.length, 4)
    const paged: any[] = []
    let cursor: string | null = null
    do {
      const page: any = await as(admin, "GET", `/admin/audit?subject=frank&limit=3${cursor === null ? "" : `&cursor=${cursor}`}`)
      assert.ok(page.body.items.length <= 3)
      paged.push(...page.body.items)
      cursor = page.body.next
    } while (cursor !== null)
    assert.deepEqual(paged, all)
    assert.deepEqual((await eventsOf(subOf(pair.access_token), "&type=login.failed")).length, 3, "by sub as by username")
    const newest = all[0].at
    assert.deepEqual(await eventsOf("frank", `&since=${newest}`), all.filter((event) => event.at >= newest))
    assert.deepEqual(await eventsOf("frank", `&until=${all.at(-1).at}`), [])
    for (const query of ["type=nonsense", "since=yesterday", "cursor=%3F%3F", "limit=0"]) {
      const answer = await as(admin, "GET", `/admin/audit?${query}`)
      assert.equal(answer.status, 400, query)
      assert.equal(answer.body.error, "invalid_request", query)
    }
    const user = await as(pair.access_token, "GET", "/admin/audit")
    assert.equal(user.status, 403, "admins only")
  })

  test("/me/audit: a user sees their own events only, without an admin's name or address", async () => {
    const grace = await signIn(url, "grace", PASSWORD)
    await signIn(url, "heidi")
    await as(admin, "POST", "/admin/revocations", { kind: "subject", id: subOf(grace.access_token), reason: "routine" })
    const again = await signIn(url, "grace", PASSWORD, false)
    const own = await as(again.access_token, "GET", "/me/audit")
    assert.equal(own.status, 200)
    assert.ok(own.body.items.every((event: any) => event.subject === subOf(grace.access_token)))
    assert.deepEqual(
      own.body.items.map((event: any) => event.type),
      ["login.succeeded", "subject.revoked", "login.succeeded"],
    )
    const byAdmin = own.body.items[1]
    assert.deepEqual([byAdmin.actor, byAdmin.ip, byAdmin.user_agent, byAdmin.reason], ["an administrator", null, null, "routine"])
    assert.equal(own.body.items[0].actor, "grace")
    assert.equal((await call(url, "GET", "/me/audit")).status, 401)
  })
})

describe("recording never fails a request", () => {
  test("a store that refuses audit events: the sign-in succeeds, the failure is counted and logged", async () => {
    const lines: any[] = []
    const inner = memoryStore()
    const store = { ...inner, appendAudit: async () => Promise.reject(new Error("the audit table is gone")) }
    const broken = await testServer({}, { store, logger: { level: "info", stream: { write: (line: string) => lines.push(JSON.parse(line)) } } })
    try {
      const pair = await signIn(broken.url, "ivan")
      assert.ok(pair.access_token)
      const logged = lines.find((line) => line.msg === "audit" && line.type === "login.succeeded")
      assert.ok(logged, "the structured line is written even though the store refused the event")
      assert.equal(logged.subject, subOf(pair.access_token))
      assert.equal(logged.session_id ?? logged.sessionId, pair.session_id)
      assert.ok(lines.some((line) => line.msg === "audit event not stored" && line.level === 50))
      const metrics = await call(broken.url, "GET", "/metrics")
      assert.match(metrics.text, /revocable_store_errors_total\{source="server"\} [1-9]/)
    } finally {
      await broken.close()
      await inner.close()
    }
  })
})

describe("retention", () => {
  test("REVOCABLE_AUDIT_RETENTION (default 90 days) is what the purge keeps", async () => {
    assert.equal(loadConfig({}).auditRetentionMs, 90 * 86_400_000)
    assert.equal(loadConfig({ REVOCABLE_AUDIT_RETENTION: "7d" }).auditRetentionMs, 7 * 86_400_000)
    assert.throws(() => loadConfig({ REVOCABLE_AUDIT_RETENTION: "1s" }), { variable: "REVOCABLE_AUDIT_RETENTION" })
    let now = 1_800_000_000_000
    const store = memoryStore({ clock: () => now })
    const log = { info() {}, error() {} }
    const audit = createAudit({ store, metrics: { storeError() {} }, retentionMs: 86_400_000, log: () => log })
    await audit.record({ type: "login.succeeded", subject: "old" })
    now += 86_400_000
    await audit.record({ type: "login.succeeded", subject: "new" })
    assert.equal(await audit.purge(now + 1), 1)
    assert.deepEqual((await audit.list({ limit: 10 })).items.map((event) => event.subject), ["new"])
  })
})
