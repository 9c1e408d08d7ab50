// Service credentials: the client_credentials grant (RFC 6749 §4.4) for registered confidential clients and their
// scopes (§3.3, §5.1), registered from the CLI and the admin API, and its tokens revocable like every other.
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { loadConfig } from "../../src/server/config.ts"
import { openStore } from "../../src/server/engine.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"

let server: TestServer
let admin: string
let service: { clientId: string; clientSecret: string }

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  admin = (await signIn(server.url, "admin", ADMIN_PASSWORD, false)).access_token
  service = await clientDirectory(server.store).create("edge-gateway", { scopes: ["revocations:read", "orders:read"] })
  await call(server.url, "POST", "/auth/register", { json: { username: "olga", password: PASSWORD } })
})
after(() => server.close())

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` })
const token = (form: Record<string, string>, headers: Record<string, string> = {}) => call(server.url, "POST", "/oauth/token", { form, headers })
const serviceToken = (form: Record<string, string> = {}) => token({ grant_type: "client_credentials", ...form }, basic(service.clientId, service.clientSecret))
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString())

function assertOAuthError(answer: Awaited<ReturnType<typeof call>>, status: number, code: string, what: string) {
  assert.equal(answer.status, status, what)
  assert.equal(answer.body.error, code, what)
  assert.equal(answer.body.access_token, undefined, what)
}

describe("the client_credentials grant", () => {
  test("a confidential client gets an access token for itself: sub and client_id are its id, its scopes granted, no refresh token", async () => {
    const answer = await serviceToken()
    assert.equal(answer.status, 200)
    assert.equal(answer.headers.get("cache-control"), "no-store")
    assert.equal(answer.body.token_type, "Bearer")
    assert.equal(answer.body.refresh_token, undefined)
    assert.equal(answer.body.refresh_expires_in, undefined)
    // Nothing asked: every registered scope, and the answer says which (RFC 6749 §5.1).
    assert.equal(answer.body.scope, "revocations:read orders:read")
    const claims = claimsOf(answer.body.access_token)
    assert.equal(claims.sub, service.clientId)
    assert.equal(claims.client_id, service.clientId)
    assert.equal(claims.scope, "revocations:read orders:read")
    assert.equal(claims.roles, undefined)
    const me = await call(server.url, "GET", "/me", { token: answer.body.access_token })
    assert.equal(me.status, 200)
    assert.equal(me.body.sub, service.clientId)
  })

  test("the client secret in the form works as well as HTTP Basic", async () => {
    const answer = await token({ grant_type: "client_credentials", client_id: service.clientId, client_secret: service.clientSecret, scope: "orders:read" })
    assert.equal(answer.status, 200)
    assert.equal(claimsOf(answer.body.access_token).scope, "orders:read")
  })

  test("asking for some of its scopes grants those only; one it may not have is 400 invalid_scope and issues nothing", async () => {
    const some = await serviceToken({ scope: "revocations:read" })
    assert.equal(some.status, 200)
    assert.equal(some.body.scope, "revocations:read")
    assert.equal(claimsOf(some.body.access_token).scope, "revocations:read")
    const repeated = await serviceToken({ scope: "orders:read  orders:read" })
    assert.equal(repeated.body.scope, "orders:read")

    assertOAuthError(await serviceToken({ scope: "revocations:read admin" }), 400, "invalid_scope", "a scope not registered")
    assertOAuthError(await serviceToken({ scope: 'orders"read' }), 400, "invalid_scope", "not a scope token (RFC 6749 §3.3)")
    assertOAuthError(await serviceToken({ scope: "orders\\read" }), 400, "invalid_scope", "a backslash")
    assert.match((await serviceToken({ scope: "admin" })).body.error_description, /may not ask for: admin/)
  })

  test("only an authenticated confidential client: none, a wrong secret or a public client is 401 invalid_client", async () => {
    const publicApp = await clientDirectory(server.store).createPublic("mobile-app")
    assertOAuthError(await token({ grant_type: "client_credentials" }), 401, "invalid_client", "no client")
    assertOAuthError(await token({ grant_type: "client_credentials" }, basic(service.clientId, "guess")), 401, "invalid_client", "a wrong secret")
    assertOAuthError(await token({ grant_type: "client_credentials", client_id: publicApp.clientId }), 401, "invalid_client", "a public client")
    assert.match((await token({ grant_type: "client_credentials" })).headers.get("www-authenticate") ?? "", /^Basic realm="revocable"/)
  })

  test("a client registered without scopes gets a token without a scope claim and any scope asked is invalid_scope", async () => {
    const plain = await clientDirectory(server.store).create("batch-job")
    const answer = await token({ grant_type: "client_credentials" }, basic(plain.clientId, plain.clientSecret))
    assert.equal(answer.status, 200)
    assert.equal(answer.body.scope, undefined)
    assert.equal(claimsOf(answer.body.access_token).scope, undefined)
    assertOAuthError(await token({ grant_type: "client_credentials", scope: "revocations:read" }, basic(plain.clientId, plain.clientSecret)), 400, "invalid_scope", "unregistered")
  })
})

describe("client credentials tokens are revocable like every other", () => {
  test("RFC 7009 revocation by the client itself refuses the token at once", async () => {
    const access = (await serviceToken()).body.access_token
    const revoked = await call(server.url, "POST", "/oauth/revoke", { form: { token: access }, headers: basic(service.clientId, service.clientSecret) })
    assert.equal(revoked.status, 200)
    assert.equal((await call(server.url, "GET", "/me", { token: access })).body.error, "token_revoked")
  })

  test("an admin revokes its session, or every token of the client by its id as subject", async () => {
    const first = (await serviceToken()).body
    const bySession = await call(server.url, "POST", "/admin/revocations", { token: admin, json: { kind: "session", id: first.session_id } })
    assert.equal(bySession.status, 201)
    assert.equal((await call(server.url, "GET", "/me", { token: first.access_token })).body.error, "token_revoked")

    const second = (await serviceToken()).body.access_token
    assert.equal((await call(server.url, "POST", "/admin/revocations", { token: admin, json: { kind: "subject", id: service.clientId } })).status, 201)
    assert.equal((await call(server.url, "GET", "/me", { token: second })).body.error, "token_revoked")
    assert.equal((await call(server.url, "DELETE", `/admin/revocations/subject/${service.clientId}`, { token: admin })).status, 204)
  })
})

describe("scope in the password and refresh grants, which grant none (RFC 6749 §5.1)", () => {
  test("asked for, the answer says the granted scope is empty; not asked, it says nothing", async () => {
    const login = { grant_type: "password", username: "olga", password: PASSWORD }
    const silent = await token(login)
    assert.equal(silent.status, 200)
    assert.equal(Object.hasOwn(silent.body, "scope"), false)
    const asked = await token({ ...login, scope: "openid profile" })
    assert.equal(asked.status, 200)
    assert.equal(asked.body.scope, "")
    assert.equal(claimsOf(asked.body.access_token).scope, undefined)
    const refreshed = await token({ grant_type: "refresh_token", refresh_token: asked.body.refresh_token, scope: "openid" })
    assert.equal(refreshed.status, 200)
    assert.equal(refreshed.body.scope, "")
  })
})

describe("the admin API registers clients with their scopes", () => {
  test("create answers the secret once; list shows type and scopes, never secrets; the credentials work at once", async () => {
    const created = await call(server.url, "POST", "/admin/clients", { token: admin, json: { name: "reporting", scopes: ["revocations:read"] } })
    assert.equal(created.status, 201)
    assert.equal(created.body.type, "confidential")
    assert.deepEqual(created.body.scopes, ["revocations:read"])
    assert.equal(typeof created.body.client_secret, "string")
    assert.match(created.body.created_at, /^\d{4}-\d\d-\d\dT/)
    const granted = await token({ grant_type: "client_credentials" }, basic(created.body.client_id, created.body.client_secret))
    assert.equal(granted.body.scope, "revocations:read")

    const publicApp = await call(server.url, "POST", "/admin/clients", { token: admin, json: { name: "phone", public: true } })
    assert.equal(publicApp.status, 201)
    assert.equal(publicApp.body.type, "public")
    assert.equal(publicApp.body.client_secret, undefined)

    const listed = await call(server.url, "GET", "/admin/clients", { token: admin })
    assert.equal(listed.status, 200)
    const entry = listed.body.find((client: { client_id: string }) => client.client_id === created.body.client_id)
    assert.deepEqual(entry, { client_id: created.body.client_id, name: "reporting", type: "confidential", scopes: ["revocations:read"], created_at: created.body.created_at })
    assert.ok(!listed.text.includes(created.body.client_secret))
  })

  test("a bad scope, scopes for a public client or a bad name is 400 invalid_request; a non-admin is 403", async () => {
    for (const json of [{ name: "x", scopes: ["has space"] }, { name: "x", scopes: ['quo"te'] }, { name: "x", public: true, scopes: ["revocations:read"] }, { name: "" }]) {
      const answer = await call(server.url, "POST", "/admin/clients", { token: admin, json })
      assert.equal(answer.status, 400, JSON.stringify(json))
      assert.equal(answer.body.error, "invalid_request", JSON.stringify(json))
    }
    const user = (await signIn(server.url, "olga", PASSWORD, false)).access_token
    assert.equal((await call(server.url, "GET", "/admin/clients", { token: user })).status, 403)
    assert.equal((await call(server.url, "POST", "/admin/clients", { token: user, json: { name: "sneaky" } })).status, 403)
  })

  test("removing a client refuses its credentials and revokes the tokens it holds; removing it again is 404", async () => {
    const { clientId, clientSecret } = await clientDirectory(server.store).create("retired-service", { scopes: ["revocations:read"] })
    const access = (await token({ grant_type: "client_credentials" }, basic(clientId, clientSecret))).body.access_token
    assert.equal((await call(server.url, "GET", "/me", { token: access })).status, 200)
    assert.equal((await call(server.url, "DELETE", `/admin/clients/${clientId}`, { token: admin })).status, 204)
    assert.equal((await call(server.url, "GET", "/me", { token: access })).body.error, "token_revoked")
    assertOAuthError(await token({ grant_type: "client_credentials" }, basic(clientId, clientSecret)), 401, "invalid_client", "removed")
    const again = await call(server.url, "DELETE", `/admin/clients/${clientId}`, { token: admin })
    assert.equal(again.status, 404)
    assert.equal(again.body.error, "not_found")
  })
})

describe("revocable clients add --scope", () => {
  const dir = mkdtempSync(join(tmpdir(), "revocable-credentials-"))
  const env = { REVOCABLE_DATA_DIR: dir }
  let store: Awaited<ReturnType<typeof openStore>>
  let onDisk: TestServer
  // A server on the SQLite store the CLI writes to: it reads the clients from the store on every request.
  before(async () => {
    store = await openStore(loadConfig(cliEnv(env)))
    onDisk = await testServer({}, { store })
  })
  after(async () => {
    await onDisk.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test("repeated or space-separated scopes are registered, and the server grants them to the client", async () => {
    const added = await runCli(["clients", "add", "edge", "--scope", "revocations:read", "--scope", "orders:read orders:write", "--json"], env)
    assert.equal(added.code, 0, added.stderr)
    const created = JSON.parse(added.stdout) as { clientId: string; clientSecret: string; scopes: string[] }
    assert.deepEqual(created.scopes, ["revocations:read", "orders:read", "orders:write"])
    assert.match(added.stderr, /Not a scope this server checks: orders:read orders:write/)
    const listed = await runCli(["clients", "list"], env)
    assert.match(listed.stdout, new RegExp(`${created.clientId} +confidential .*edge +revocations:read orders:read orders:write`))

    const answer = await call(onDisk.url, "POST", "/oauth/token", { form: { grant_type: "client_credentials", scope: "orders:write" }, headers: basic(created.clientId, created.clientSecret) })
    assert.equal(answer.status, 200)
    assert.equal(claimsOf(answer.body.access_token).scope, "orders:write")
  })

  test("a malformed scope, or a scope for a public client, fails with one clear line and registers nothing", async () => {
    for (const args of [["--scope", 'bad"scope'], ["--public", "--scope", "revocations:read"]]) {
      const result = await runCli(["clients", "add", "broken", ...args], env)
      assert.equal(result.code, 1, result.stderr)
      assert.equal(result.stdout, "")
      assert.match(result.stderr, /^revocable clients add: .*(scope|public).*\n$/)
    }
    assert.ok(!(await runCli(["clients", "list"], env)).stdout.includes("broken"))
  })
})
