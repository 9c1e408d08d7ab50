import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { createAuthFromConfig } from "../../src/server/engine.ts"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { memoryStore } from "revocable/stores/memory"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"

let server: TestServer
let url: string
let admin: string

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  url = server.url
  admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
})
after(() => server.close())

const as = (token: string, method: string, path: string, json?: unknown) => call(url, method, path, { token, ...(json === undefined ? {} : { json }) })
const subOf = (token: string): string => JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).sub

describe("admin bootstrap and access", () => {
  test("REVOCABLE_ADMIN_PASSWORD creates the admin (role admin) on first start only", async () => {
    const me = await as(admin, "GET", "/me")
    assert.equal(me.body.username, "admin")
    assert.deepEqual(me.body.roles, ["admin"])
    const second = await testServer({ REVOCABLE_ADMIN_PASSWORD: "another long passphrase" }, { store: server.store })
    try {
      assert.equal((await call(second.url, "POST", "/auth/login", { json: { username: "admin", password: "another long passphrase" } })).status, 401)
      assert.equal((await call(second.url, "POST", "/auth/login", { json: { username: "admin", password: ADMIN_PASSWORD } })).status, 200)
    } finally {
      await second.close()
    }
  })

  test("REVOCABLE_ADMIN_USER names the admin; a weak admin password stops the start with a ConfigError", async () => {
    const custom = await testServer({ REVOCABLE_ADMIN_USER: "root", REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD })
    try {
      const pair = await signIn(custom.url, "root", ADMIN_PASSWORD, false)
      assert.equal((await call(custom.url, "GET", "/admin/users", { token: pair.access_token })).status, 200)
    } finally {
      await custom.close()
    }
    await assert.rejects(testServer({ REVOCABLE_ADMIN_USER: "adminuser", REVOCABLE_ADMIN_PASSWORD: "adminuser" }), {
      name: "ConfigError",
      variable: "REVOCABLE_ADMIN_PASSWORD",
    })
    // A username the server cannot take is the username's fault, whatever the password.
    await assert.rejects(testServer({ REVOCABLE_ADMIN_USER: "the admin", REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD }), {
      name: "ConfigError",
      variable: "REVOCABLE_ADMIN_USER",
    })
  })

  test("the admin API refuses a user without the admin role (403 forbidden) and a request without a token (401)", async () => {
    const user = await signIn(url, "plainuser")
    for (const [method, path] of [
      ["GET", "/admin/revocations"],
      ["POST", "/admin/revocations"],
      ["GET", "/admin/users"],
      ["POST", `/admin/users/${subOf(user.access_token)}/suspend`],
      ["GET", "/admin/keys"],
      ["POST", "/admin/keys/rotate"],
      ["DELETE", "/admin/keys/anything"],
      ["DELETE", "/admin/revocations/session/x"],
    ] as const) {
      const forbidden = await as(user.access_token, method, path)
      assert.equal(forbidden.status, 403, `${method} ${path}`)
      assert.equal(forbidden.body.error, "forbidden")
      assert.equal((await call(url, method, path)).status, 401, `${method} ${path}`)
    }
    assert.equal((await as(user.access_token, "GET", "/me")).status, 200)
  })
})

describe("revocations", () => {
  test("GET lists revocations newest first with reason and actor, filtered by subject and grain, paged", async () => {
    const pair = await signIn(url, "listed")
    const sub = subOf(pair.access_token)
    await call(url, "POST", "/auth/logout", { token: pair.access_token })
    const again = await signIn(url, "listed", PASSWORD, false)
    await call(url, "POST", "/auth/logout-all", { token: again.access_token })

    const mine = await as(admin, "GET", `/admin/revocations?subject=${sub}`)
    assert.equal(mine.status, 200)
    assert.deepEqual(mine.body.items.map((entry: { kind: string; reason: string; actor: string }) => [entry.kind, entry.reason, entry.actor]), [
      ["subject", "logout everywhere", "listed"],
      ["session", "logout", "listed"],
    ])
    assert.equal(mine.body.items[1].id, pair.session_id)
    const sessions = await as(admin, "GET", `/admin/revocations?subject=${sub}&kind=session`)
    assert.equal(sessions.body.items.length, 1)
    const first = await as(admin, "GET", `/admin/revocations?subject=${sub}&limit=1`)
    assert.equal(first.body.items.length, 1)
    assert.equal(typeof first.body.next, "string")
    const second = await as(admin, "GET", `/admin/revocations?subject=${sub}&limit=1&cursor=${first.body.next}`)
    assert.equal(second.body.items[0].kind, "session")
    assert.equal(second.body.next, null)
    for (const query of ["kind=everything", "limit=0", "limit=5000", "cursor=%25%25"]) {
      const bad = await as(admin, "GET", `/admin/revocations?${query}`)
      assert.equal(bad.status, 400, query)
      assert.equal(bad.body.error, "invalid_request")
    }
  })

  test("POST revokes a session, a subject, a token by its text and a token by its jti; 201 with reason and actor", async () => {
    const session = await signIn(url, "victim")
    const created = await as(admin, "POST", "/admin/revocations", { kind: "session", id: session.session_id, reason: "stolen laptop" })
    assert.equal(created.status, 201)
    assert.equal(created.body.reason, "stolen laptop")
    assert.equal(created.body.actor, "admin")
    assert.equal((await as(session.access_token, "GET", "/me")).body.error, "token_revoked")

    const byText = await signIn(url, "victim", PASSWORD, false)
    const text = await as(admin, "POST", "/admin/revocations", { kind: "token", id: byText.access_token })
    assert.equal(text.status, 201)
    assert.equal(text.body.kind, "token")
    assert.equal((await as(byText.access_token, "GET", "/me")).body.error, "token_revoked")

    const byJti = await signIn(url, "victim", PASSWORD, false)
    const jti = JSON.parse(Buffer.from(byJti.access_token.split(".")[1] as string, "base64url").toString()).jti
    assert.equal((await as(admin, "POST", "/admin/revocations", { kind: "token", id: jti, subject: "victim" })).status, 201)
    assert.equal((await as(byJti.access_token, "GET", "/me")).body.error, "token_revoked")

    const everything = await signIn(url, "victim", PASSWORD, false)
    const subject = await as(admin, "POST", "/admin/revocations", { kind: "subject", id: subOf(everything.access_token), reason: "incident 7" })
    assert.equal(subject.status, 201)
    assert.equal((await as(everything.access_token, "GET", "/me")).body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: everything.refresh_token } })).body.error, "token_revoked")
  })

  test("POST refuses a bad grain, a missing id, and a token that is not ours: 400", async () => {
    for (const json of [{ kind: "key", id: "k" }, { kind: "everything", id: "x" }, { kind: "session" }, { kind: "token", id: "a.b.c" }, { kind: "token", id: "bad jti!" }]) {
      const answer = await as(admin, "POST", "/admin/revocations", json)
      assert.equal(answer.status, 400, JSON.stringify(json))
      assert.equal(answer.body.error, "invalid_request")
    }
  })

  test("DELETE un-revokes: the token is accepted again; a second DELETE is 404", async () => {
    const pair = await signIn(url, "forgiven")
    await as(admin, "POST", "/admin/revocations", { kind: "session", id: pair.session_id })
    assert.equal((await as(pair.access_token, "GET", "/me")).status, 401)
    assert.equal((await as(admin, "DELETE", `/admin/revocations/session/${pair.session_id}`)).status, 204)
    assert.equal((await as(pair.access_token, "GET", "/me")).status, 200)
    const again = await as(admin, "DELETE", `/admin/revocations/session/${pair.session_id}`)
    assert.equal(again.status, 404)
    assert.equal(again.body.error, "not_found")
    assert.equal((await as(admin, "DELETE", "/admin/revocations/planet/x")).status, 400)
  })

  test("a subject of 1024 characters, the longest the core takes, is revoked and un-revoked by its path; a longer one is a JSON 4xx", async () => {
    // The router measures a parameter once decoded: "€" is 9 characters percent-encoded, 1 decoded.
    for (const subject of ["s".repeat(1024), "€".repeat(1024), "😀".repeat(512)]) {
      const label = `${subject.slice(0, 2)}… (${subject.length})`
      const created = await as(admin, "POST", "/admin/revocations", { kind: "subject", id: subject })
      assert.equal(created.status, 201, label)
      assert.equal(created.body.id, subject, label)
      const path = `/admin/revocations/subject/${encodeURIComponent(subject)}`
      assert.equal((await as(admin, "DELETE", path)).status, 204, label)
      assert.equal((await as(admin, "DELETE", path)).status, 404, label)
    }
    for (const subject of ["s".repeat(1025), "€".repeat(1025)]) {
      const label = `${subject.slice(0, 2)}… (${subject.length})`
      const removed = await as(admin, "DELETE", `/admin/revocations/subject/${encodeURIComponent(subject)}`)
      assert.equal(removed.status, 414, label)
      assert.deepEqual(removed.body, { error: "invalid_request", error_description: "A path parameter is longer than 1024 characters." }, label)
      const created = await as(admin, "POST", "/admin/revocations", { kind: "subject", id: subject })
      assert.equal(created.status, 400, label)
      assert.equal(created.body.error, "invalid_request", label)
    }
    assert.equal((await call(url, "GET", "/healthz")).status, 200)
  })
})

describe("roles claims", () => {
  test("a roles claim that is not an array of strings grants no role: the admin guard, /me and introspection agree", async () => {
    const store = memoryStore()
    const odd = await testServer({}, { store })
    // Signs with the server's own keys, which live in the store.
    const issuer = createAuthFromConfig(odd.config, store)
    try {
      const client = await clientDirectory(store).create("resource-server")
      const introspect = (token: string) =>
        call(odd.url, "POST", "/oauth/introspect", { form: { token, client_id: client.clientId, client_secret: client.clientSecret } })
      for (const roles of ["admin", { admin: true }, { 0: "admin", length: 1 }, ["admin", 1], [{ name: "admin" }], ["admin", null], 7, null]) {
        const label = JSON.stringify(roles)
        const { accessToken } = await issuer.issue("odd-roles", { claims: { roles } })
        const guarded = await call(odd.url, "GET", "/admin/users", { token: accessToken })
        assert.deepEqual([guarded.status, guarded.body.error], [403, "forbidden"], label)
        const me = await call(odd.url, "GET", "/me", { token: accessToken })
        assert.deepEqual([me.status, me.body.roles], [200, []], label)
        const active = await introspect(accessToken)
        assert.equal(active.body.active, true, label)
        assert.ok(!Object.hasOwn(active.body, "roles"), `${label}: ${active.text}`)
      }
      const { accessToken } = await issuer.issue("real-admin", { claims: { roles: ["reader", "admin"] } })
      assert.equal((await call(odd.url, "GET", "/admin/users", { token: accessToken })).status, 200)
      assert.deepEqual((await call(odd.url, "GET", "/me", { token: accessToken })).body.roles, ["reader", "admin"])
      assert.deepEqual((await introspect(accessToken)).body.roles, ["reader", "admin"])
    } finally {
      await odd.close()
      await issuer.close()
    }
  })
})

describe("users", () => {
  test("GET /admin/users pages through users; GET /admin/users/{sub} shows one; unknown is 404", async () => {
    const pair = await signIn(url, "findme")
    const sub = subOf(pair.access_token)
    const one = await as(admin, "GET", `/admin/users/${sub}`)
    assert.equal(one.status, 200)
    assert.equal(one.body.username, "findme")
    assert.equal(one.body.password_hash, undefined)
    assert.equal(one.body.passwordHash, undefined)
    assert.equal((await as(admin, "GET", "/admin/users/unknown")).status, 404)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { body: { items: { sub: string }[]; next: string | null } } = await as(admin, "GET", `/admin/users?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`)
      seen.push(...page.body.items.map((user) => user.sub))
      cursor = page.body.next
    } while (cursor !== null)
    assert.ok(seen.includes(sub))
    assert.equal(new Set(seen).size, seen.length)
  })

  test("GET /admin/users/{sub}/sessions lists a user's live sessions", async () => {
    const one = await signIn(url, "sessioned")
    const two = await signIn(url, "sessioned", PASSWORD, false)
    const answer = await as(admin, "GET", `/admin/users/${subOf(one.access_token)}/sessions`)
    assert.equal(answer.status, 200)
    assert.deepEqual(answer.body.map((entry: { session_id: string }) => entry.session_id).sort(), [one.session_id, two.session_id].sort())
    assert.equal((await as(admin, "GET", "/admin/users/unknown/sessions")).status, 404)
  })

  test("suspend revokes every token and refuses logins; unsuspend allows logins, the old tokens stay refused", async () => {
    const pair = await signIn(url, "suspect")
    const sub = subOf(pair.access_token)
    const suspended = await as(admin, "POST", `/admin/users/${sub}/suspend`, { reason: "fraud review" })
    assert.equal(suspended.status, 200)
    assert.notEqual(suspended.body.suspended_at, null)
    assert.equal((await as(pair.access_token, "GET", "/me")).body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).body.error, "token_revoked")
    const login = await call(url, "POST", "/auth/login", { json: { username: "suspect", password: PASSWORD } })
    assert.equal(login.status, 403)
    assert.equal(login.body.error, "forbidden")
    const grant = await call(url, "POST", "/oauth/token", { form: { grant_type: "password", username: "suspect", password: PASSWORD } })
    assert.equal(grant.body.error, "invalid_grant")
    const revocations = await as(admin, "GET", `/admin/revocations?subject=${sub}&kind=subject`)
    assert.equal(revocations.body.items[0].reason, "fraud review")
    assert.equal(revocations.body.items[0].actor, "admin")

    const undo = await as(admin, "DELETE", `/admin/revocations/subject/${sub}`)
    assert.equal(undo.status, 409)

    const unsuspended = await as(admin, "POST", `/admin/users/${sub}/unsuspend`)
    assert.equal(unsuspended.status, 200)
    assert.equal(unsuspended.body.suspended_at, null)
    const back = await signIn(url, "suspect", PASSWORD, false)
    assert.equal((await as(back.access_token, "GET", "/me")).status, 200)
    assert.equal((await as(pair.access_token, "GET", "/me")).body.error, "token_revoked")
    assert.equal((await as(admin, "POST", "/admin/users/unknown/suspend")).status, 404)
    assert.equal((await as(admin, "POST", "/admin/users/unknown/unsuspend")).status, 404)
  })
})

describe("keys", () => {
  test("rotate publishes the next key, which signs after the activation delay, or at once with now; retiring the old one refuses its tokens and drops it from the JWKS", async () => {
    const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString()).kid
    const listed = await as(admin, "GET", "/admin/keys")
    assert.equal(listed.status, 200)
    assert.deepEqual(Object.keys(listed.body[0]).sort(), ["activates_at", "alg", "created_at", "kid", "retired_at", "status"])
    assert.equal(listed.body[0].status, "signing")
    const oldKid = listed.body[0].kid as string
    const before = await signIn(url, "keyholder")

    const next = await as(admin, "POST", "/admin/keys/rotate")
    assert.equal(next.status, 201)
    assert.notEqual(next.body.kid, oldKid)
    assert.ok(Date.parse(next.body.activates_at) - Date.now() > 14 * 60_000, "15 minutes away by default")
    assert.equal(kidOf((await signIn(url, "keyholder", PASSWORD, false)).access_token), oldKid, "the old key signs until then")
    const statuses = (await as(admin, "GET", "/admin/keys")).body.map((key: { kid: string; status: string }) => [key.kid, key.status])
    assert.deepEqual(statuses, [[next.body.kid, "next"], [oldKid, "signing"]])
    assert.equal((await as(admin, "POST", "/admin/keys/rotate", { now: "yes" })).status, 400)

    const rotated = await as(admin, "POST", "/admin/keys/rotate", { now: true })
    assert.equal(rotated.status, 201)
    const after = await signIn(url, "keyholder", PASSWORD, false)
    assert.equal(kidOf(after.access_token), rotated.body.kid)
    const jwks = await call(url, "GET", "/.well-known/jwks.json")
    assert.deepEqual(jwks.body.keys.map((key: { kid: string }) => key.kid), [rotated.body.kid, next.body.kid, oldKid])
    assert.equal((await as(before.access_token, "GET", "/me")).status, 200)

    const retired = await as(admin, "DELETE", `/admin/keys/${oldKid}`, { reason: "key leaked" })
    assert.equal(retired.status, 200)
    assert.equal(retired.body.kind, "key")
    assert.equal(retired.body.reason, "key leaked")
    assert.equal((await as(before.access_token, "GET", "/me")).body.error, "token_revoked")
    assert.equal((await as(after.access_token, "GET", "/me")).status, 200)
    const remaining = await call(url, "GET", "/.well-known/jwks.json")
    assert.deepEqual(remaining.body.keys.map((key: { kid: string }) => key.kid), [rotated.body.kid, next.body.kid])
    // The admin's own token was signed by the retired key.
    assert.equal((await as(admin, "GET", "/admin/keys")).body.error, "token_revoked")
    admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
    assert.equal((await as(admin, "DELETE", "/admin/keys/unknown-kid")).status, 404)
  })

  test("DELETE /admin/revocations/key/{kid} is 400 invalid_request: a retired key stays retired", async () => {
    const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString()).kid
    const oldKid = kidOf(admin)
    const before = await signIn(url, "retiree")
    await as(admin, "POST", "/admin/keys/rotate", { now: true })
    admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
    assert.equal((await as(admin, "DELETE", `/admin/keys/${oldKid}`)).status, 200)

    const undo = await as(admin, "DELETE", `/admin/revocations/key/${oldKid}`)
    assert.equal(undo.status, 400)
    assert.equal(undo.body.error, "invalid_request")
    assert.match(undo.body.error_description, /retired key cannot be restored.*rotate a new key/)
    assert.equal((await as(admin, "DELETE", `/admin/revocations/key/${kidOf(admin)}`)).status, 400)
    assert.equal((await as(before.access_token, "GET", "/me")).body.error, "token_revoked")
    const keys = await as(admin, "GET", "/admin/keys")
    assert.notEqual(keys.body.find((key: { kid: string }) => key.kid === oldKid).retired_at, null)
    const revocations = await as(admin, "GET", "/admin/revocations?kind=key")
    assert.ok(revocations.body.items.some((entry: { id: string }) => entry.id === oldKid))
    const jwks = await call(url, "GET", "/.well-known/jwks.json")
    assert.ok(!jwks.body.keys.some((key: { kid: string }) => key.kid === oldKid))
  })
})
