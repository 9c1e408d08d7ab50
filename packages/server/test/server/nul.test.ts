// NUL (U+0000) and unpaired surrogates in any field that could reach a store: 400 invalid_request over HTTP, the
// same on every store. PostgreSQL refuses NUL in text (SQLSTATE 22021: it was answered 503 store_unavailable),
// and PostgreSQL and SQLite keep a lone surrogate as U+FFFD, another id than the one given.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { Pool } from "pg"
import { createAuth } from "revocable"
import { clientDirectory } from "../../src/server/client-directory.ts"
import type { ServerStore } from "revocable/stores"
import { memoryStore } from "revocable/stores/memory"
import { postgresStore } from "revocable/stores/postgres"
import { redisStore } from "revocable/stores/redis"
import { sqliteStore } from "revocable/stores/sqlite"
import { deleteKeys, REDIS_URL, uniquePrefix } from "../../../revocable/test/helpers/redis.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
const ADMIN_PASSWORD = "the admin's long passphrase"
const NUL = "a\u0000b"
const LONE = "a\ud800"
const REFUSED = /must not contain NUL \(U\+0000\) or an unpaired surrogate/

/** One store kind: `open` makes a store on the same data each time it is called. */
interface Backend {
  name: string
  open(): ServerStore
  cleanup(): Promise<void>
}

function backends(): Backend[] {
  const shared = memoryStore()
  const dir = mkdtempSync(join(tmpdir(), "revocable-nul-"))
  const schema = `t_nul_${process.pid}_${randomBytes(4).toString("hex")}`
  const prefix = uniquePrefix("nul")
  const memoryView = new Proxy(shared, {
    get(target, property) {
      // Several opens share one memory store: closing one of them leaves it open.
      if (property === "close") return async () => {}
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? value.bind(target) : value
    },
  })
  return [
    { name: "memory", open: () => memoryView, cleanup: () => shared.close() },
    { name: "sqlite", open: () => sqliteStore({ path: join(dir, "revocable.db") }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) },
    {
      name: "postgres",
      open: () => postgresStore({ connectionString: POSTGRES_URL }, { schema }),
      async cleanup() {
        const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 })
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        await admin.end()
      },
    },
    { name: "redis", open: () => redisStore({ url: REDIS_URL }, { prefix, onWarning: () => {} }), cleanup: () => deleteKeys(REDIS_URL, [prefix]) },
  ]
}

/** The answer must be a 400 invalid_request that says why; never a 503 from the store, never a success. */
function assertRefused(answer: { status: number; body: any; text: string }, what: string): void {
  assert.equal(answer.status, 400, `${what}: ${answer.status} ${answer.text}`)
  assert.equal(answer.body.error, "invalid_request", what)
  assert.match(answer.body.error_description, REFUSED, what)
}

for (const backend of backends()) {
  describe(`NUL and unpaired surrogates on the ${backend.name} store`, () => {
    let store: ServerStore
    let server: TestServer
    let url: string
    let admin: string
    const asAdmin = (method: string, path: string, json?: unknown) => call(url, method, path, { token: admin, ...(json === undefined ? {} : { json }) })

    before(async () => {
      store = backend.open()
      await store.open()
      server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" }, { store })
      url = server.url
      admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
    })
    after(async () => {
      await server.close()
      await store.close()
      await backend.cleanup()
    })

    test("an unauthenticated introspection with NUL in the client id, in the form or in Basic: 400, not 503", async () => {
      const form = await call(url, "POST", "/oauth/introspect", { form: { client_id: NUL, client_secret: "secret", token: "x" } })
      assertRefused(form, "client_id in the form")
      assert.equal(form.headers.get("cache-control"), "no-store")
      const basic = `Basic ${Buffer.from(`${encodeURIComponent(NUL)}:secret`).toString("base64")}`
      assertRefused(await call(url, "POST", "/oauth/introspect", { form: { token: "x" }, headers: { authorization: basic } }), "client id in Basic")
      const secret = `Basic ${Buffer.from(`client:${encodeURIComponent(NUL)}`).toString("base64")}`
      assertRefused(await call(url, "POST", "/oauth/introspect", { form: { token: "x" }, headers: { authorization: secret } }), "client secret in Basic")
      // A real client still authenticates.
      const client = await clientDirectory(store).create("resource-server")
      const ok = await call(url, "POST", "/oauth/introspect", { form: { client_id: client.clientId, client_secret: client.clientSecret, token: "x" } })
      assert.deepEqual([ok.status, ok.body], [200, { active: false }])
    })

    test("a token holding NUL sent to revocation or introspection is answered as any invalid token: 200, not active", async () => {
      const client = await clientDirectory(store).create("nul-token")
      const credentials = { client_id: client.clientId, client_secret: client.clientSecret }
      const revoked = await call(url, "POST", "/oauth/revoke", { form: { ...credentials, token: `${admin}\u0000` } })
      assert.equal(revoked.status, 200, revoked.text)
      const introspected = await call(url, "POST", "/oauth/introspect", { form: { ...credentials, token: NUL } })
      assert.deepEqual([introspected.status, introspected.body], [200, { active: false }])
      // Only the token is exempt: the other fields are checked as everywhere.
      assertRefused(await call(url, "POST", "/oauth/revoke", { form: { ...credentials, token: admin, token_type_hint: NUL } }), "hint")
      assert.equal((await asAdmin("GET", "/admin/revocations")).status, 200, "the admin's token still works")
    })

    test("NUL or a lone surrogate in a username or password: 400 on login, registration and the password grant", async () => {
      for (const [username, password] of [[NUL, PASSWORD], [LONE, PASSWORD], ["admin", `${ADMIN_PASSWORD}\u0000`]] as const) {
        const label = JSON.stringify([username, password.slice(-3)])
        assertRefused(await call(url, "POST", "/auth/login", { json: { username, password } }), `login ${label}`)
        assertRefused(await call(url, "POST", "/auth/register", { json: { username, password } }), `register ${label}`)
        // A form cannot carry a lone surrogate: percent-encoding is UTF-8, which has none (the client sends U+FFFD).
        if (username === LONE) continue
        assertRefused(await call(url, "POST", "/oauth/token", { form: { grant_type: "password", username, password } }), `password grant ${label}`)
      }
    })

    test("an admin revocation with NUL or a lone surrogate in the id or the reason: 400, and nothing is recorded", async () => {
      for (const kind of ["subject", "session", "token"]) {
        assertRefused(await asAdmin("POST", "/admin/revocations", { kind, id: NUL }), `${kind} id with NUL`)
        assertRefused(await asAdmin("POST", "/admin/revocations", { kind, id: LONE }), `${kind} id with a lone surrogate`)
        assertRefused(await asAdmin("POST", "/admin/revocations", { kind, id: "fine", reason: NUL }), `${kind} reason with NUL`)
      }
      assertRefused(await asAdmin("POST", `/admin/users/${encodeURIComponent(subOf(admin))}/suspend`, { reason: NUL }), "suspension reason")
      const listed = await asAdmin("GET", "/admin/revocations")
      assert.deepEqual([listed.status, listed.body.items], [200, []])
    })

    test("NUL in a cursor, a filter or a path parameter: 400", async () => {
      for (const [method, path] of [
        ["GET", "/admin/revocations?cursor=%00"],
        ["GET", "/admin/revocations?cursor=MTI%00"],
        ["GET", "/admin/revocations?subject=a%00b"],
        ["GET", "/admin/users?cursor=%00"],
        ["DELETE", "/admin/revocations/subject/a%00b"],
        ["GET", "/admin/users/a%00b"],
        ["GET", "/admin/users/a%00b/sessions"],
        ["POST", "/admin/users/a%00b/unsuspend"],
        ["DELETE", "/auth/sessions/a%00b"],
      ] as const) {
        assertRefused(await call(url, method, path, { token: admin }), `${method} ${path}`)
      }
      // A cursor of valid base64url that decodes to NUL is no cursor a store made.
      const decoded = await asAdmin("GET", `/admin/users?cursor=${Buffer.from("\u0000").toString("base64url")}`)
      assert.deepEqual([decoded.status, decoded.body], [400, { error: "invalid_request", error_description: "Invalid cursor." }])
    })

    test("the core refuses them too, as invalid_request, before the store sees them", async () => {
      const core = createAuth({ issuer: "https://issuer.test", audience: "api", store: backend.open(), purgeInterval: false })
      try {
        for (const bad of [NUL, "\u0000", LONE, "\udc00b"]) {
          const label = JSON.stringify(bad)
          await assert.rejects(core.revokeSubject(bad), { code: "invalid_request", message: REFUSED }, label)
          await assert.rejects(core.revokeSubject("someone", { reason: bad }), { code: "invalid_request" }, label)
          await assert.rejects(core.revokeSubject("someone", { actor: bad }), { code: "invalid_request" }, label)
          await assert.rejects(core.unrevoke("subject", bad), { code: "invalid_request" }, label)
          await assert.rejects(core.issue(bad), { code: "invalid_request" }, label)
        }
        assert.deepEqual((await core.listRevocations()).items, [])
      } finally {
        await core.close()
      }
    })

    test("well-formed text outside ASCII is kept exactly, and revoked and un-revoked by its own id", async () => {
      const id = "é€😀 ü\u200dx"
      const created = await asAdmin("POST", "/admin/revocations", { kind: "subject", id, reason: "naïve 😀" })
      assert.equal(created.status, 201, created.text)
      const listed = await asAdmin("GET", `/admin/revocations?subject=${encodeURIComponent(id)}`)
      assert.deepEqual(listed.body.items.map((item: { id: string; reason: string }) => [item.id, item.reason]), [[id, "naïve 😀"]])
      assert.equal((await asAdmin("DELETE", `/admin/revocations/subject/${encodeURIComponent(id)}`)).status, 204)
      assert.deepEqual((await asAdmin("GET", "/admin/revocations")).body.items, [])
    })
  })
}

function subOf(token: string): string {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).sub
}
