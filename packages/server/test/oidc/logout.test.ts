// RP-initiated logout against a real OpenID Provider (oidc-provider, its end_session endpoint), over HTTP as a
// browser: the local session ends first, then the browser goes to the provider's logout with id_token_hint and
// post_logout_redirect_uri, and the provider's own session ends.
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { Agent, CLIENT_ID, federation } from "../helpers/oidc-provider.ts"
import { call } from "../helpers/server.ts"

type Federation = Awaited<ReturnType<typeof federation>>
let world: Federation

before(async () => {
  world = await federation({}, { client: (base) => ({ post_logout_redirect_uris: [`${base}/`] }) })
  world.provider.accounts.set("alice", { email: "alice@example.com", email_verified: true })
})
after(() => world.close())

/**
 * Follows the redirects of a sign-in from `startUrl`: "login" when the provider asks the user to sign in, "signed-in"
 * when it sends the browser straight back (its session is live). Nothing is submitted, the callback is not requested.
 */
async function providerAnswer(agent: Agent, startUrl: string): Promise<"login" | "signed-in"> {
  let url = startUrl
  for (let hops = 0; hops < 20; hops++) {
    const response = await agent.request(url)
    await response.body?.cancel()
    if (response.status === 200 && /\/interaction\/[^/]+$/.test(new URL(url).pathname)) return "login"
    assert.ok(response.status >= 300 && response.status < 400, `${response.status} at ${url}`)
    url = new URL(response.headers.get("location") as string, url).href
    if (/^\/auth\/oidc\/[^/]+\/callback$/.test(new URL(url).pathname)) return "signed-in"
  }
  throw new Error("too many redirects")
}

/** Signs in through the provider's login form; resolves the Set-Cookie lines of the callback. */
async function signIn(agent: Agent): Promise<string[]> {
  let url = `${world.base}/auth/oidc/test`
  for (let hops = 0; hops < 20; hops++) {
    const response = await agent.request(url)
    if (/^\/auth\/oidc\/[^/]+\/callback$/.test(new URL(url).pathname)) {
      assert.equal(response.status, 303)
      return response.headers.getSetCookie()
    }
    if (response.status === 200) {
      await response.body?.cancel()
      const submitted = await agent.request(url, { form: { prompt: "login", login: "alice", password: "any" } })
      url = new URL(submitted.headers.get("location") as string, url).href
      continue
    }
    await response.body?.cancel()
    url = new URL(response.headers.get("location") as string, url).href
  }
  throw new Error("too many redirects")
}

test("signing out of a federated session ends it here first, then at the provider, with id_token_hint", async () => {
  const agent = new Agent()
  const cookies = await signIn(agent)
  const line = cookies.find((cookie) => cookie.startsWith("revocable_oidc_logout="))
  assert.ok(line, "the sign-in keeps what the provider's logout needs")
  assert.match(line, /; Path=\/auth\/oidc\/logout; HttpOnly; SameSite=Strict/)
  const access = agent.cookie(world.base, "access_token") as string
  assert.equal(await providerAnswer(agent, `${world.base}/auth/oidc/test`), "signed-in", "the provider's session is live")
  assert.ok(!line.includes(access.split(".")[1] as string) && !line.includes("alice"), "sealed: the ID token cannot be read from it")

  const out = await agent.request(`${world.base}/auth/oidc/logout`)
  assert.equal(out.status, 303)
  assert.equal(out.headers.get("cache-control"), "no-store")
  assert.equal((await call(world.base, "GET", "/me", { token: access })).body.error, "token_revoked", "the local session ended first")
  assert.equal(agent.cookie(world.base, "access_token"), undefined)
  assert.equal(agent.cookie(world.base, "revocable_oidc_logout"), undefined, "used once")
  const end = new URL(out.headers.get("location") as string)
  assert.equal(`${end.origin}${end.pathname}`, `${world.provider.issuer}/session/end`)
  assert.equal(end.searchParams.get("client_id"), CLIENT_ID)
  assert.equal(end.searchParams.get("post_logout_redirect_uri"), `${world.base}/`)
  const hint = JSON.parse(Buffer.from((end.searchParams.get("id_token_hint") ?? "").split(".")[1] ?? "", "base64url").toString())
  assert.deepEqual([hint.iss, hint.sub, hint.aud], [world.provider.issuer, "alice", CLIENT_ID])

  // At the provider: it asks to confirm, then ends its session and sends the browser back.
  const page = await (await agent.request(end.href)).text()
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1]
  assert.ok(xsrf, page.slice(0, 300))
  const confirmed = await agent.request(`${world.provider.issuer}/session/end/confirm`, { form: { xsrf, logout: "yes" } })
  assert.equal(confirmed.status, 303)
  assert.equal(confirmed.headers.get("location"), `${world.base}/`)
  assert.equal(await providerAnswer(agent, `${world.base}/auth/oidc/test`), "login", "the provider's session ended")
})

test("after POST /auth/logout (the console's order), the provider's logout is still offered", async () => {
  const agent = new Agent()
  await signIn(agent)
  const access = agent.cookie(world.base, "access_token") as string
  const csrf = agent.cookie(world.base, "csrf_token") as string
  const cookie = `access_token=${access}; csrf_token=${csrf}`
  assert.equal((await call(world.base, "POST", "/auth/logout", { headers: { cookie, "x-csrf-token": csrf } })).status, 204)
  const out = await agent.request(`${world.base}/auth/oidc/logout`)
  assert.equal(out.status, 303)
  assert.match(out.headers.get("location") as string, new RegExp(`^${world.provider.issuer}/session/end\\?`))
})

test("without a federated sign-in in this browser (a password session, a forged cookie), it only lands on /", async () => {
  assert.equal((await new Agent().request(`${world.base}/auth/oidc/logout`)).headers.get("location"), "/")
  const forged = await new Agent().request(`${world.base}/auth/oidc/logout`, { headers: { cookie: `revocable_oidc_logout=${"A".repeat(200)}` } })
  assert.equal(forged.status, 303)
  assert.equal(forged.headers.get("location"), "/")
})
