// What a user and the operators see of the identities linked to an account, and unlinking one: never the last
// way to sign in, so that an account made by a federated sign-in cannot lock itself out.
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { identityDirectory } from "../../src/server/oidc/identities.ts"
import { userDirectory } from "../../src/server/user-directory.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"
import { Agent, federation, reachCallback } from "../helpers/oidc-provider.ts"
import { call, PASSWORD, signIn } from "../helpers/server.ts"

type Federation = Awaited<ReturnType<typeof federation>>
let world: Federation
const ADMIN_PASSWORD = "an admin password for these tests"

before(async () => {
  world = await federation({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD })
})
after(() => world.close())

/** Signs in at the provider as `account`; resolves the new session's access token and its subject. */
async function federatedSignIn(account: string): Promise<{ token: string; sub: string }> {
  const agent = new Agent()
  const response = await agent.request(await reachCallback(agent, `${world.base}/auth/oidc/test`, account))
  assert.equal(response.status, 303)
  const token = agent.cookie(world.base, "access_token") as string
  return { token, sub: JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).sub }
}

/** Links `account` at the provider to the account signed in with `token`. */
async function link(token: string, account: string): Promise<void> {
  const started = await call(world.base, "POST", "/auth/oidc/test/link", { token, json: {} })
  assert.equal(started.status, 200)
  const agent = new Agent()
  const cookie = started.headers.getSetCookie().find((line) => line.startsWith("revocable_oidc=")) as string
  agent.jar.set(new URL(world.base).origin, new Map([["revocable_oidc", { value: cookie.split(";")[0]!.slice("revocable_oidc=".length), path: "/auth/oidc/test/callback" }]]))
  assert.equal((await agent.request(await reachCallback(agent, started.body.authorization_url, account))).status, 303)
}

describe("identities of the signed-in user", () => {
  test("a federated account lists its identity, cannot unlink its last one, and can once it sets a password", async () => {
    world.provider.accounts.set("kim-at-provider", { email: "kim@example.com", email_verified: true })
    const kim = await federatedSignIn("kim-at-provider")
    const listed = await call(world.base, "GET", "/me/identities", { token: kim.token })
    assert.equal(listed.status, 200)
    assert.equal(listed.body.passwordless, true)
    assert.equal(listed.body.identities.length, 1)
    const [identity] = listed.body.identities
    assert.deepEqual({ provider: identity.provider, issuer: identity.issuer, subject: identity.subject, email: identity.email }, {
      provider: "test",
      issuer: world.provider.issuer,
      subject: "kim-at-provider",
      email: "kim@example.com",
    })

    const refused = await call(world.base, "DELETE", `/me/identities/${identity.id}`, { token: kim.token })
    assert.equal(refused.status, 409)
    assert.equal(refused.body.error, "oidc_last_identity")
    assert.equal((await federatedSignIn("kim-at-provider")).sub, kim.sub, "still linked")

    // No current password to show: the first one is set from the session alone.
    const set = await call(world.base, "POST", "/auth/password", { token: kim.token, json: { current_password: "", new_password: PASSWORD } })
    assert.equal(set.status, 200)
    assert.equal((await call(world.base, "GET", "/me/identities", { token: kim.token })).body.passwordless, false)
    assert.equal((await call(world.base, "DELETE", `/me/identities/${identity.id}`, { token: kim.token })).status, 204)
    assert.deepEqual((await call(world.base, "GET", "/me/identities", { token: kim.token })).body.identities, [])
    assert.equal((await signIn(world.base, "kim@example.com", PASSWORD, false)).token_type, "Bearer", "the password signs in")
    assert.notEqual((await federatedSignIn("kim-at-provider")).sub, kim.sub, "unlinked: the identity no longer reaches Kim's account")
  })

  test("an account with a password unlinks any identity; another user's identity is not found", async () => {
    const lena = await signIn(world.base, "lena")
    world.provider.accounts.set("lena-at-provider", {})
    world.provider.accounts.set("lena-second", {})
    await link(lena.access_token, "lena-at-provider")
    await link(lena.access_token, "lena-second")
    const listed = (await call(world.base, "GET", "/me/identities", { token: lena.access_token })).body
    assert.equal(listed.passwordless, false)
    assert.deepEqual(listed.identities.map((identity: { subject: string }) => identity.subject), ["lena-at-provider", "lena-second"])

    const mallory = await signIn(world.base, "mallory")
    const foreign = await call(world.base, "DELETE", `/me/identities/${listed.identities[0].id}`, { token: mallory.access_token })
    assert.equal(foreign.status, 404)
    assert.equal((await call(world.base, "DELETE", "/me/identities/not-an-id", { token: lena.access_token })).status, 404)

    for (const identity of listed.identities) {
      assert.equal((await call(world.base, "DELETE", `/me/identities/${identity.id}`, { token: lena.access_token })).status, 204)
    }
    assert.deepEqual((await call(world.base, "GET", "/me/identities", { token: lena.access_token })).body.identities, [])
  })

  test("a passwordless account with two identities unlinks one, then not the other", async () => {
    world.provider.accounts.set("moe-at-provider", {})
    world.provider.accounts.set("moe-second", {})
    const moe = await federatedSignIn("moe-at-provider")
    await link(moe.token, "moe-second")
    const [first, second] = (await call(world.base, "GET", "/me/identities", { token: moe.token })).body.identities
    assert.equal((await call(world.base, "DELETE", `/me/identities/${first.id}`, { token: moe.token })).status, 204)
    assert.equal((await call(world.base, "DELETE", `/me/identities/${second.id}`, { token: moe.token })).body.error, "oidc_last_identity")
    assert.equal((await federatedSignIn("moe-second")).sub, moe.sub)
  })

  test("without a session: 401", async () => {
    assert.equal((await call(world.base, "GET", "/me/identities")).status, 401)
  })
})

describe("identities for operators", () => {
  test("GET /admin/users/:sub shows a user's identities and whether it has a password", async () => {
    world.provider.accounts.set("nina-at-provider", { email: "nina@example.com", email_verified: true })
    const nina = await federatedSignIn("nina-at-provider")
    const admin = await signIn(world.base, "admin", ADMIN_PASSWORD, false)
    const shown = await call(world.base, "GET", `/admin/users/${nina.sub}`, { token: admin.access_token })
    assert.equal(shown.status, 200)
    assert.equal(shown.body.username, "nina@example.com")
    assert.equal(shown.body.passwordless, true)
    assert.deepEqual(shown.body.identities.map((identity: { provider: string; subject: string }) => [identity.provider, identity.subject]), [["test", "nina-at-provider"]])
  })

  test("revocable users show prints a user's identities", async () => {
    const dir = mkdtempSync(join(tmpdir(), "revocable-identities-"))
    try {
      const env = { REVOCABLE_DATA_DIR: dir }
      const config = loadConfig(cliEnv(env))
      const store = await openStore(config)
      const auth = createAuthFromConfig(config, store)
      await auth.ready()
      const users = userDirectory(store, auth)
      const provider = { name: "google", issuer: "https://accounts.google.com", clientId: "id", clientSecret: "secret", clientAuth: "basic" as const, clientKey: null, scopes: ["openid"], hostedDomain: null, linkVerifiedEmail: false, postLogoutRedirectUri: null }
      const { user } = await identityDirectory(store, users, auth, "open").resolve(provider, { iss: provider.issuer, sub: "1089", email: "olga@example.com", email_verified: true }, null)
      await auth.close()
      const shown = await runCli(["users", "show", user.username], env)
      assert.equal(shown.code, 0, shown.stderr)
      assert.match(shown.stdout, /none \(signs in through its identities\)/)
      assert.match(shown.stdout, /google\s+https:\/\/accounts\.google\.com\s+1089\s+olga@example\.com/)
      const parsed = JSON.parse((await runCli(["users", "show", user.sub, "--json"], env)).stdout)
      assert.equal(parsed.passwordless, true)
      assert.equal(parsed.identities[0].subject, "1089")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("a failed sign-in in a browser", () => {
  test("lands on the console with the error code; an API client still gets JSON", async () => {
    const browserAnswer = await fetch(`${world.base}/auth/oidc/test/callback?state=forged&code=forged`, { headers: { accept: "text/html,application/xhtml+xml" }, redirect: "manual" })
    assert.equal(browserAnswer.status, 303)
    assert.equal(browserAnswer.headers.get("location"), `${world.base}/#/account?error=oidc_transaction_missing`)
    const apiAnswer = await call(world.base, "GET", "/auth/oidc/test/callback?state=forged&code=forged")
    assert.equal(apiAnswer.status, 400)
    assert.equal(apiAnswer.body.error, "oidc_transaction_missing")
  })
})
