import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { memoryStore } from "revocable/stores/memory"
import { createAuthFromConfig } from "../../src/server/engine.ts"
import { sessionDetails } from "../../src/server/session-details.ts"
import { userDirectory, type UserDirectory } from "../../src/server/user-directory.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

let server: TestServer
let url: string
let admin: string
/** The directory on the server's store, for what the HTTP API does not set (email addresses). */
let directory: UserDirectory

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  url = server.url
  admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
  directory = userDirectory(server.store, createAuthFromConfig(server.config, server.store))
})
after(() => server.close())

const subOf = (token: string): string => JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).sub
const as = (token: string, method: string, path: string, json?: unknown) => call(url, method, path, { token, ...(json === undefined ? {} : { json }) })

async function names(query: string): Promise<{ names: string[]; next: string | null }> {
  const answer = await as(admin, "GET", `/admin/users?${query}`)
  assert.equal(answer.status, 200, answer.text)
  return { names: answer.body.items.map((user: { username: string }) => user.username), next: answer.body.next }
}

describe("GET /admin/users: search, sort and pages", () => {
  before(async () => {
    for (const username of ["anna", "ann", "bob", "annie"]) await call(url, "POST", "/auth/register", { json: { username, password: PASSWORD } })
    await directory.create({ username: "zed", password: PASSWORD, email: "Ann.Z@example.com" })
    // Its username and its address both match "ann": listed once.
    await directory.create({ username: "annette", password: PASSWORD, email: "annette@example.com" })
  })

  test("q finds users whose username or email starts with it, in the order of what matched, a page at a time", async () => {
    const first = await names("q=ANN&limit=2")
    assert.deepEqual(first.names, ["ann", "zed"])
    assert.ok(first.next)
    const second = await names(`q=ann&limit=2&cursor=${first.next}`)
    assert.deepEqual(second.names, ["anna", "annette"])
    const third = await names(`q=ann&limit=2&cursor=${second.next}`)
    assert.deepEqual(third.names, ["annie"])
    assert.equal(third.next, null)
    assert.deepEqual((await names("q=ann.z@")).names, ["zed"])
    assert.deepEqual((await names("q=nobody")).names, [])
  })

  test("without q: by name A to Z, or newest first, paged", async () => {
    const byName: string[] = []
    let cursor: string | null = null
    do {
      const page: { names: string[]; next: string | null } = await names(`limit=3${cursor === null ? "" : `&cursor=${cursor}`}`)
      byName.push(...page.names)
      cursor = page.next
    } while (cursor !== null)
    assert.deepEqual(byName, [...byName].sort())
    assert.ok(["admin", "ann", "anna", "annette", "annie", "bob", "zed"].every((name) => byName.includes(name)))
    const newest = await names("sort=created&limit=2")
    assert.deepEqual(newest.names, ["annette", "zed"])
    const older = await names(`sort=created&limit=2&cursor=${newest.next}`)
    assert.deepEqual(older.names, ["annie", "bob"])
  })

  test("bad input: 400 invalid_request for a search sorted by creation, a foreign or broken cursor, a term with spaces", async () => {
    const first = await names("q=ann&limit=1")
    for (const query of ["q=ann&sort=created", `q=bob&cursor=${first.next}`, "cursor=!!", "q=a%20b", "sort=size", "limit=0"]) {
      const answer = await as(admin, "GET", `/admin/users?${query}`)
      assert.equal(answer.status, 400, `${query}: ${answer.text}`)
      assert.equal(answer.body.error, "invalid_request")
    }
  })

  test("users made before the indexes existed are found too (indexed on first use)", async () => {
    const legacy = await directory.create({ username: "legacy-user", password: PASSWORD })
    // As a server of the previous version left it: no creation or role entries, no marker.
    for (const collection of ["users_by_creation", "user_roles"]) {
      const page = await server.store.listDocuments(collection, { limit: 1000 })
      for (const item of page.items) await server.store.deleteDocument(collection, item.id)
    }
    await server.store.deleteDocument("settings", "user-indexes")
    const fresh = await testServer({}, { store: server.store })
    try {
      const token = (await signIn(fresh.url, "admin", ADMIN_PASSWORD, false)).access_token
      const answer = await call(fresh.url, "GET", "/admin/users?sort=created&limit=1000", { token })
      assert.ok(answer.body.items.some((user: { sub: string }) => user.sub === legacy.sub))
    } finally {
      await fresh.close()
    }
  })
})

describe("roles", () => {
  test("PUT /admin/users/{sub}/roles sets the roles, records user.roles_changed, and taking a role away revokes the user's tokens", async () => {
    const pair = await signIn(url, "carol")
    const sub = subOf(pair.access_token)
    const added = await as(admin, "PUT", `/admin/users/${sub}/roles`, { roles: ["support", "billing"] })
    assert.equal(added.status, 200, added.text)
    assert.deepEqual(added.body.roles, ["support", "billing"])
    assert.equal((await as(pair.access_token, "GET", "/me")).status, 200, "adding a role revokes nothing")
    const withSupport = await signIn(url, "carol", PASSWORD, false)
    assert.deepEqual((await as(withSupport.access_token, "GET", "/me")).body.roles, ["support", "billing"])

    const removed = await as(admin, "PUT", `/admin/users/${sub}/roles`, { roles: ["billing"] })
    assert.deepEqual(removed.body.roles, ["billing"])
    const refused = await as(withSupport.access_token, "GET", "/me")
    assert.equal(refused.status, 401)
    assert.equal(refused.body.error, "token_revoked")

    const events = await as(admin, "GET", `/admin/audit?subject=${sub}&type=user.roles_changed`)
    assert.deepEqual(
      events.body.items.map((event: { actor: string; details: unknown }) => [event.actor, event.details]),
      [
        ["admin", { before: ["support", "billing"], after: ["billing"] }],
        ["admin", { before: [], after: ["support", "billing"] }],
      ],
    )
    assert.deepEqual((await as(admin, "GET", "/admin/users?q=carol")).body.items[0].roles, ["billing"])
  })

  test("the last admin cannot drop the role admin nor be deleted; once another admin exists, they can", async () => {
    const self = subOf(admin)
    for (const [method, path, body] of [["PUT", `/admin/users/${self}/roles`, { roles: [] }], ["DELETE", `/admin/users/${self}`, undefined]] as const) {
      const refused = await as(admin, method, path, body)
      assert.equal(refused.status, 400, refused.text)
      assert.match(refused.body.error_description, /last admin/)
    }
    assert.equal((await as(admin, "GET", "/me")).status, 200)

    const dora = subOf((await signIn(url, "dora")).access_token)
    assert.equal((await as(admin, "PUT", `/admin/users/${dora}/roles`, { roles: ["admin"] })).status, 200)
    const doraAdmin = (await signIn(url, "dora", PASSWORD, false)).access_token
    // A suspended admin is no admin to fall back on.
    assert.equal((await as(admin, "POST", `/admin/users/${dora}/suspend`, {})).status, 200)
    assert.equal((await as(admin, "PUT", `/admin/users/${self}/roles`, { roles: [] })).status, 400)
    assert.equal((await as(admin, "POST", `/admin/users/${dora}/unsuspend`)).status, 200)
    const doraAgain = (await signIn(url, "dora", PASSWORD, false)).access_token
    assert.notEqual(doraAgain, doraAdmin)
    // Dora takes the role from the first admin, then gives it back.
    assert.equal((await as(doraAgain, "PUT", `/admin/users/${self}/roles`, { roles: [] })).status, 200)
    assert.equal((await as(admin, "GET", "/me")).status, 401, "the former admin's tokens are revoked")
    assert.equal((await as(doraAgain, "PUT", `/admin/users/${self}/roles`, { roles: ["admin"] })).status, 200)
    admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
  })

  test("two admins taking the role from each other, or deleting each other, at once never leave no admin: 30 rounds each", async () => {
    const store = memoryStore()
    const auth = createAuthFromConfig(server.config, store)
    const users = userDirectory(store, auth)
    try {
      const [xavier, yvonne] = await Promise.all(["xavier", "yvonne"].map((username) => users.create({ username, password: PASSWORD, roles: ["admin"] })))
      const pair = [xavier, yvonne].map((user) => (user as { sub: string }).sub)
      const admins = async () => (await Promise.all(pair.map((sub) => users.get(sub)))).filter((user) => user !== null && user.roles.includes("admin") && user.suspendedAt === null)
      for (let round = 0; round < 30; round++) {
        const outcomes = await Promise.allSettled(pair.map((sub) => users.setRoles(sub, ["billing"])))
        assert.ok((await admins()).length >= 1, `round ${round}: both dropped the role admin`)
        for (const outcome of outcomes) if (outcome.status === "rejected") assert.match(String(outcome.reason), /last admin/)
        for (const sub of pair) await users.setRoles(sub, ["admin"])
      }
      for (let round = 0; round < 30; round++) {
        const outcomes = await Promise.allSettled(pair.map((sub) => users.remove(sub)))
        assert.ok((await admins()).length >= 1, `round ${round}: both were deleted`)
        for (const outcome of outcomes) if (outcome.status === "rejected") assert.match(String(outcome.reason), /last admin/)
        if (outcomes.some((outcome) => outcome.status === "fulfilled")) break
      }
    } finally {
      await auth.close()
      await store.close()
    }
  })

  test("bad roles are 400 and an unknown user 404", async () => {
    const sub = subOf((await signIn(url, "erin")).access_token)
    for (const roles of [["Admin"], ["has space"], [""], Array.from({ length: 17 }, (_, index) => `r${index}`)]) {
      const answer = await as(admin, "PUT", `/admin/users/${sub}/roles`, { roles })
      assert.equal(answer.status, 400, JSON.stringify(roles))
      assert.equal(answer.body.error, "invalid_request")
    }
    assert.equal((await as(admin, "PUT", "/admin/users/nobody/roles", { roles: [] })).status, 404)
    assert.equal((await as(admin, "DELETE", "/admin/users/nobody")).status, 404)
  })
})

describe("deleting a user", () => {
  test("revokes every token, removes the account, frees the username and address, and the audit log keeps the subject only", async () => {
    const user = await directory.create({ username: "frank", password: PASSWORD, email: "frank@example.com" })
    const pair = await signIn(url, "frank", PASSWORD, false)
    assert.equal((await as(admin, "DELETE", `/admin/users/${user.sub}`)).status, 204)

    const refused = await as(pair.access_token, "GET", "/me")
    assert.equal(refused.status, 401)
    assert.equal(refused.body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).status, 401)
    assert.equal((await as(admin, "GET", `/admin/users/${user.sub}`)).status, 404)
    assert.deepEqual((await names("q=frank")).names, [])
    assert.equal((await call(url, "POST", "/auth/login", { json: { username: "frank", password: PASSWORD } })).status, 401)
    assert.equal(await server.store.getDocument("session_details", `${user.sub} ${pair.session_id}`), null)
    // The name and the address can be taken again, by a new account.
    const again = await directory.create({ username: "frank", password: PASSWORD, email: "frank@example.com" })
    assert.notEqual(again.sub, user.sub)

    const deleted = await as(admin, "GET", `/admin/audit?type=user.deleted&subject=${user.sub}`)
    assert.equal(deleted.body.items.length, 1)
    const [event] = deleted.body.items
    assert.equal(event.subject, user.sub)
    assert.equal(event.actor, "admin")
    assert.doesNotMatch(JSON.stringify(event), /frank/)
    assert.equal((await as(admin, "DELETE", `/admin/users/${user.sub}`)).status, 404)
  })
})

describe("session details", () => {
  test("a login records its IP and User-Agent: /auth/sessions and the admin's user view show them, with when it began and was last refreshed", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "gina", password: PASSWORD } })
    const login = await call(url, "POST", "/auth/login", { json: { username: "gina", password: PASSWORD }, headers: { "user-agent": FIREFOX } })
    assert.equal(login.status, 200)
    const refreshed = await call(url, "POST", "/auth/refresh", { json: { refresh_token: login.body.refresh_token } })
    assert.equal(refreshed.status, 200)

    const own = await as(refreshed.body.access_token, "GET", "/auth/sessions")
    assert.equal(own.body.length, 1)
    const [session] = own.body
    assert.equal(session.ip, "127.0.0.1")
    assert.equal(session.user_agent, FIREFOX)
    assert.equal(session.current, true)
    assert.ok(Date.parse(session.last_used_at) >= Date.parse(session.created_at))

    const detail = await as(admin, "GET", `/admin/users/${subOf(login.body.access_token)}`)
    assert.equal(detail.status, 200)
    assert.deepEqual(
      detail.body.sessions.map((entry: { session_id: string; ip: string; user_agent: string }) => [entry.session_id, entry.ip, entry.user_agent]),
      [[login.body.session_id, "127.0.0.1", FIREFOX]],
    )
    assert.deepEqual(
      (await as(admin, "GET", `/admin/users/${subOf(login.body.access_token)}/sessions`)).body.map((entry: { ip: string }) => entry.ip),
      ["127.0.0.1"],
    )
    assert.ok(detail.body.events.some((event: { type: string; session_id: string }) => event.type === "login.succeeded" && event.session_id === login.body.session_id))
    assert.deepEqual(detail.body.roles, [])
  })

  test("the details of an expired session are deleted at the user's next listing", async () => {
    let now = Date.now()
    const details = sessionDetails(server.store, () => now)
    const pair = await signIn(url, "hank")
    const sub = subOf(pair.access_token)
    const id = `${sub} ${pair.session_id}`
    assert.notEqual(await server.store.getDocument("session_details", id), null)
    now += 31 * 86_400_000
    await details.sessions(createAuthFromConfig(server.config, server.store), sub)
    assert.equal(await server.store.getDocument("session_details", id), null)
  })
})
