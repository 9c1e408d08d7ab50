// Which local account a federated sign-in lands in: (issuer, sub) is the key, never the email; linking to an
// existing account only from a signed-in session, or by a verified email where the deployment opted in.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { Agent, federation, reachCallback } from "../helpers/oidc-provider.ts"
import { call, PASSWORD, signIn } from "../helpers/server.ts"

type Federation = Awaited<ReturnType<typeof federation>>
let world: Federation
const ADMIN_PASSWORD = "an admin password for these tests"

before(async () => {
  // Two names for the one provider: "test" never links by email, "trusted" opted in.
  world = await federation({ REVOCABLE_OIDC_TRUSTED_LINK_VERIFIED_EMAIL: "true", REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD }, { names: ["test", "trusted"] })
})
after(() => world.close())

function claimsOf(token: string): { sub: string; sid: string } {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString())
}

/** Signs in at the provider as `account` through revocable's `provider` route; resolves the callback's answer. */
async function federatedSignIn(provider: string, account: string, agent = new Agent()): Promise<{ response: Response; agent: Agent; sub: string | null }> {
  const response = await agent.request(await reachCallback(agent, `${world.base}/auth/oidc/${provider}`, account))
  const access = agent.cookie(world.base, "access_token")
  return { response, agent, sub: access === undefined ? null : claimsOf(access).sub }
}

describe("identities and accounts", () => {
  test("a verified email does not link to the local account of that name unless the provider is opted in", async () => {
    await signIn(world.base, "dana@example.com")
    const local = (await call(world.base, "GET", "/me", { token: (await signIn(world.base, "dana@example.com", PASSWORD, false)).access_token })).body.sub
    world.provider.accounts.set("dana-at-provider", { email: "dana@example.com", email_verified: true })
    const separate = await federatedSignIn("test", "dana-at-provider")
    assert.equal(separate.response.status, 303)
    assert.notEqual(separate.sub, local, "not opted in: a new account, not Dana's")
    // The identity is (issuer, sub) per provider name's issuer: the trusted route is the same issuer, already linked.
    world.provider.accounts.set("erin-at-provider", { email: "erin@example.com", email_verified: true })
    await signIn(world.base, "erin@example.com")
    const erin = (await call(world.base, "GET", "/me", { token: (await signIn(world.base, "erin@example.com", PASSWORD, false)).access_token })).body.sub
    const linked = await federatedSignIn("trusted", "erin-at-provider")
    assert.equal(linked.sub, erin, "opted in and verified: Erin's own account")
    // Once linked, the identity signs in to that account through any route of the same issuer.
    assert.equal((await federatedSignIn("test", "erin-at-provider")).sub, erin)
  })

  test("an unverified email never links, even where the provider is opted in", async () => {
    await signIn(world.base, "frank@example.com")
    const frank = (await call(world.base, "GET", "/me", { token: (await signIn(world.base, "frank@example.com", PASSWORD, false)).access_token })).body.sub
    world.provider.accounts.set("mallory", { email: "frank@example.com", email_verified: false })
    const attempt = await federatedSignIn("trusted", "mallory")
    assert.equal(attempt.response.status, 303)
    assert.notEqual(attempt.sub, frank)
    const me = await call(world.base, "GET", "/me", { token: attempt.agent.cookie(world.base, "access_token") as string })
    assert.notEqual(me.body.username, "frank@example.com", "an unverified email does not even become the new username")
  })

  test("a signed-in user links an identity; later sign-ins with it land in that account", async () => {
    const grace = await signIn(world.base, "grace")
    world.provider.accounts.set("grace-at-provider", { email: "grace@elsewhere.example", email_verified: false })
    const link = await call(world.base, "POST", "/auth/oidc/test/link", { token: grace.access_token, json: {} })
    assert.equal(link.status, 200)
    const agent = new Agent()
    const cookie = link.headers.getSetCookie().find((line) => line.startsWith("revocable_oidc=")) as string
    agent.jar.set(new URL(world.base).origin, new Map([["revocable_oidc", { value: cookie.split(";")[0]!.slice("revocable_oidc=".length), path: "/auth/oidc/test/callback" }]]))
    const callback = await reachCallback(agent, link.body.authorization_url, "grace-at-provider")
    assert.equal((await agent.request(callback)).status, 303)
    assert.equal((await federatedSignIn("test", "grace-at-provider")).sub, claimsOf(grace.access_token).sub)
  })

  test("linking an identity that another account holds: 409 oidc_identity_taken", async () => {
    world.provider.accounts.set("heidi-at-provider", {})
    const owner = await federatedSignIn("test", "heidi-at-provider")
    const ivan = await signIn(world.base, "ivan")
    const link = await call(world.base, "POST", "/auth/oidc/test/link", { token: ivan.access_token, json: {} })
    const agent = new Agent()
    const cookie = link.headers.getSetCookie().find((line) => line.startsWith("revocable_oidc=")) as string
    agent.jar.set(new URL(world.base).origin, new Map([["revocable_oidc", { value: cookie.split(";")[0]!.slice("revocable_oidc=".length), path: "/auth/oidc/test/callback" }]]))
    const answer = await agent.request(await reachCallback(agent, link.body.authorization_url, "heidi-at-provider"))
    assert.equal(answer.status, 409)
    assert.equal((await answer.json()).error, "oidc_identity_taken")
    assert.equal((await federatedSignIn("test", "heidi-at-provider")).sub, owner.sub)
  })

  test("linking needs a signed-in session: 401 without one", async () => {
    const answer = await call(world.base, "POST", "/auth/oidc/test/link", { json: {} })
    assert.equal(answer.status, 401)
  })

  test("a suspended account cannot sign in through its provider: 403 forbidden", async () => {
    world.provider.accounts.set("judy-at-provider", {})
    const judy = await federatedSignIn("test", "judy-at-provider")
    const admin = await signIn(world.base, "admin", ADMIN_PASSWORD, false)
    assert.equal((await call(world.base, "POST", `/admin/users/${judy.sub}/suspend`, { token: admin.access_token, json: {} })).status, 200)
    const again = await federatedSignIn("test", "judy-at-provider")
    assert.equal(again.response.status, 403)
    assert.equal((await again.response.json()).error, "forbidden")
    assert.equal(again.sub, null)
  })
})

describe("registration closed", () => {
  test("a first sign-in is refused with 403 oidc_registration_closed and creates no user", async () => {
    const closed = await federation({ REVOCABLE_REGISTRATION: "closed" })
    try {
      const agent = new Agent()
      const answer = await agent.request(await reachCallback(agent, `${closed.base}/auth/oidc/test`, "newcomer"))
      assert.equal(answer.status, 403)
      assert.equal((await answer.json()).error, "oidc_registration_closed")
      assert.equal(agent.cookie(closed.base, "access_token"), undefined)
      assert.equal((await closed.server.store.listDocuments("users", { limit: 10 })).items.length, 0)
    } finally {
      await closed.close()
    }
  })
})
