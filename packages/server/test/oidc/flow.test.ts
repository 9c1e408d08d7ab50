// The federated sign-in's code flow against a real OpenID Provider on loopback (oidc-provider), driven over HTTP
// as a browser would: redirects followed by hand, cookies kept per origin.
import assert from "node:assert/strict"
import { createHash, randomBytes } from "node:crypto"
import { after, before, describe, test } from "node:test"
import { Agent, federation, reachCallback, startProvider } from "../helpers/oidc-provider.ts"
import { call, freePort, testServer } from "../helpers/server.ts"

type Federation = Awaited<ReturnType<typeof federation>>
let world: Federation
const APP = "https://app.example/signed-in"

before(async () => {
  world = await federation({ REVOCABLE_OIDC_RETURN_URLS: APP })
  world.provider.accounts.set("alice", { email: "alice@example.com", email_verified: true, name: "Alice" })
})
after(() => world.close())

async function json(response: Response): Promise<any> {
  return response.json()
}

describe("the code flow in cookie mode", () => {
  test("redirects to the provider with PKCE S256, state and nonce, the transaction in a short-lived Lax HttpOnly cookie", async () => {
    const response = await new Agent().request(`${world.base}/auth/oidc/test`)
    assert.equal(response.status, 303)
    const location = new URL(response.headers.get("location") as string)
    assert.equal(location.origin + location.pathname, `${world.provider.issuer}/auth`)
    assert.equal(location.searchParams.get("code_challenge_method"), "S256")
    assert.match(location.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/)
    assert.ok((location.searchParams.get("state") ?? "").length >= 22)
    assert.ok((location.searchParams.get("nonce") ?? "").length >= 22)
    assert.equal(location.searchParams.get("redirect_uri"), `${world.base}/auth/oidc/test/callback`)
    assert.equal(location.searchParams.get("scope"), "openid email profile")
    const cookie = response.headers.getSetCookie().find((line) => line.startsWith("revocable_oidc="))
    assert.ok(cookie)
    assert.match(cookie, /; Max-Age=600; Path=\/auth\/oidc\/test\/callback; HttpOnly; SameSite=Lax/)
    // Sealed: neither the state nor the verifier can be read from it.
    assert.ok(!cookie.includes(location.searchParams.get("state") as string))
  })

  test("signs the user in: a revocable session in HttpOnly cookies, then a redirect to the console", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice")
    const answer = await agent.request(callback)
    assert.equal(answer.status, 303)
    assert.equal(answer.headers.get("location"), "/")
    assert.equal(answer.headers.get("cache-control"), "no-store")
    const access = agent.cookie(world.base, "access_token")
    assert.ok(access)
    assert.ok(agent.cookie(world.base, "refresh_token"))
    assert.equal(agent.cookie(world.base, "revocable_oidc"), undefined, "the transaction cookie is cleared")
    const me = await call(world.base, "GET", "/me", { token: access })
    assert.equal(me.status, 200)
    assert.equal(me.body.username, "alice@example.com")
    const claims = JSON.parse(Buffer.from(access.split(".")[1] as string, "base64url").toString())
    assert.equal(claims.idp, "test")
    assert.equal(claims.client_id, "revocable")
    // A session like any other: logging out revokes it.
    assert.equal((await call(world.base, "POST", "/auth/logout", { token: access })).status, 204)
    assert.equal((await call(world.base, "GET", "/me", { token: access })).body.error, "token_revoked")
  })

  test("a second sign-in with the same identity is the same user", async () => {
    const first = new Agent()
    await first.request(await reachCallback(first, `${world.base}/auth/oidc/test`, "alice"))
    const second = new Agent()
    await second.request(await reachCallback(second, `${world.base}/auth/oidc/test`, "alice"))
    const subOf = (agent: Agent) => JSON.parse(Buffer.from((agent.cookie(world.base, "access_token") as string).split(".")[1] as string, "base64url").toString()).sub
    assert.equal(subOf(first), subOf(second))
  })

  test("return_to: a path of this server or a listed URL; anything else is refused before the provider is asked", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${world.base}/auth/oidc/test?return_to=${encodeURIComponent("/account?tab=2")}`, "alice")
    assert.equal((await agent.request(callback)).headers.get("location"), "/account?tab=2")
    for (const returnTo of ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]) {
      const refused = await agent.request(`${world.base}/auth/oidc/test?return_to=${encodeURIComponent(returnTo)}`)
      assert.equal(refused.status, 400, returnTo)
      assert.equal((await json(refused)).error, "oidc_return_url_refused")
    }
  })

  test("GET /auth/oidc lists the providers; an unknown one is 404 oidc_unknown_provider", async () => {
    assert.deepEqual((await call(world.base, "GET", "/auth/oidc")).body, { providers: [{ name: "test", sign_in_url: "/auth/oidc/test" }] })
    const unknown = await call(world.base, "GET", "/auth/oidc/nope")
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.error, "oidc_unknown_provider")
  })
})

describe("every failure of the callback: a clear code, no session", () => {
  /** A signed-in session of Alice's, to count her live sessions with. */
  async function aliceToken(): Promise<string> {
    const agent = new Agent()
    await agent.request(await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice"))
    return agent.cookie(world.base, "access_token") as string
  }

  test("a callback without the browser's transaction (forged, or from another browser): 400 oidc_transaction_missing", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice")
    const stranger = await new Agent().request(callback)
    assert.equal(stranger.status, 400)
    assert.equal((await json(stranger)).error, "oidc_transaction_missing")
    const tampered = await new Agent().request(callback, { headers: { cookie: `revocable_oidc=${"A".repeat(120)}` } })
    assert.equal((await json(tampered)).error, "oidc_transaction_missing")
  })

  test("a replayed callback, cookie and all: 400 oidc_transaction_replayed, and only the first made a session", async () => {
    const token = await aliceToken()
    const agent = new Agent()
    const callback = await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice")
    const cookie = `revocable_oidc=${agent.cookie(world.base, "revocable_oidc")}`
    const live = async () => (await call(world.base, "GET", "/auth/sessions", { token })).body.length
    const count = await live()
    assert.equal((await agent.request(callback)).status, 303)
    assert.equal(await live(), count + 1)
    const replay = await new Agent().request(callback, { headers: { cookie } })
    assert.equal(replay.status, 400)
    assert.equal((await json(replay)).error, "oidc_transaction_replayed")
    assert.equal(await live(), count + 1)
  })

  test("a callback whose state is not the transaction's: 400 oidc_state_mismatch", async () => {
    const agent = new Agent()
    const callback = new URL(await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice"))
    callback.searchParams.set("state", "another-state-entirely-0123456789")
    const answer = await agent.request(callback.href)
    assert.equal(answer.status, 400)
    assert.equal((await json(answer)).error, "oidc_state_mismatch")
    assert.equal(agent.cookie(world.base, "access_token"), undefined)
  })

  test("the user cancels at the provider: 400 oidc_provider_error with provider_error access_denied", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice", { abort: true })
    const answer = await agent.request(callback)
    assert.equal(answer.status, 400)
    const body = await json(answer)
    assert.equal(body.error, "oidc_provider_error")
    assert.equal(body.provider_error, "access_denied")
    assert.equal(agent.cookie(world.base, "access_token"), undefined)
  })

  test("a forged authorization code with the right state: 400 oidc_callback_invalid", async () => {
    const agent = new Agent()
    const callback = new URL(await reachCallback(agent, `${world.base}/auth/oidc/test`, "alice"))
    callback.searchParams.set("code", "forged-code-that-the-provider-never-issued")
    const answer = await agent.request(callback.href)
    assert.equal(answer.status, 400)
    const body = await json(answer)
    assert.equal(body.error, "oidc_callback_invalid")
    assert.equal(body.provider_error, "invalid_grant")
    assert.equal(agent.cookie(world.base, "access_token"), undefined)
  })
})

describe("a provider that is down", () => {
  test("at start: the server starts, sign-in answers 503 oidc_provider_unavailable, and works once the provider is up", async () => {
    const providerPort = await freePort()
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const server = await testServer({
      REVOCABLE_PORT: String(port),
      REVOCABLE_ISSUER: base,
      REVOCABLE_OIDC_LATE_ISSUER: `http://127.0.0.1:${providerPort}`,
      REVOCABLE_OIDC_LATE_CLIENT_ID: "late",
      REVOCABLE_OIDC_LATE_CLIENT_SECRET: "a secret of the late client",
    })
    try {
      const down = await call(base, "GET", "/auth/oidc/late")
      assert.equal(down.status, 503)
      assert.equal(down.body.error, "oidc_provider_unavailable")
      assert.equal(down.headers.get("retry-after"), "30")
      const provider = await startProvider([{ client_id: "late", client_secret: "a secret of the late client", redirect_uris: [`${base}/auth/oidc/late/callback`] }], { port: providerPort })
      try {
        const agent = new Agent()
        const answer = await agent.request(await reachCallback(agent, `${base}/auth/oidc/late`, "bob"))
        assert.equal(answer.status, 303)
        assert.ok(agent.cookie(base, "access_token"))
      } finally {
        await provider.close()
      }
    } finally {
      await server.close()
    }
  })

  test("at the callback: 503 oidc_provider_unavailable, never a 500", async () => {
    const own = await federation()
    try {
      const agent = new Agent()
      const callback = await reachCallback(agent, `${own.base}/auth/oidc/test`, "carol")
      await own.provider.close()
      const answer = await agent.request(callback)
      assert.equal(answer.status, 503)
      assert.equal((await json(answer)).error, "oidc_provider_unavailable")
    } finally {
      await own.server.close()
    }
  })
})

describe("code mode: the handoff to an API client", () => {
  const verifier = randomBytes(32).toString("base64url")
  const challenge = createHash("sha256").update(verifier).digest("base64url")
  const start = `/auth/oidc/test?mode=code&return_to=${encodeURIComponent(APP)}&code_challenge=${challenge}&code_challenge_method=S256`

  test("hands a one-time code (no token in any URL) that POST /auth/oidc/handoff trades, with the verifier, for a pair", async () => {
    const agent = new Agent()
    const answer = await agent.request(await reachCallback(agent, world.base + start, "alice"))
    assert.equal(answer.status, 303)
    const location = new URL(answer.headers.get("location") as string)
    assert.equal(location.origin + location.pathname, APP)
    assert.deepEqual([...location.searchParams.keys()], ["code"])
    assert.equal(agent.cookie(world.base, "access_token"), undefined, "no cookies in code mode")
    const code = location.searchParams.get("code") as string
    const wrong = await call(world.base, "POST", "/auth/oidc/handoff", { json: { code, code_verifier: randomBytes(32).toString("base64url") } })
    assert.equal(wrong.status, 400)
    assert.equal(wrong.body.error, "oidc_handoff_invalid")
    const pair = await call(world.base, "POST", "/auth/oidc/handoff", { json: { code, code_verifier: verifier } })
    assert.equal(pair.status, 200)
    assert.equal(pair.headers.get("cache-control"), "no-store")
    assert.equal((await call(world.base, "GET", "/me", { token: pair.body.access_token })).body.username, "alice@example.com")
    const again = await call(world.base, "POST", "/auth/oidc/handoff", { json: { code, code_verifier: verifier } })
    assert.equal(again.status, 400)
    assert.equal(again.body.error, "oidc_handoff_invalid")
  })

  test("needs a listed return_to and an S256 challenge; a failure goes back to return_to with its code", async () => {
    const unlisted = await call(world.base, "GET", `/auth/oidc/test?mode=code&return_to=/x&code_challenge=${challenge}&code_challenge_method=S256`)
    assert.equal(unlisted.body.error, "oidc_return_url_refused")
    const noChallenge = await call(world.base, "GET", `/auth/oidc/test?mode=code&return_to=${encodeURIComponent(APP)}`)
    assert.equal(noChallenge.body.error, "oidc_handoff_invalid")
    const agent = new Agent()
    const answer = await agent.request(await reachCallback(agent, world.base + start, "alice", { abort: true }))
    assert.equal(answer.status, 303)
    const location = new URL(answer.headers.get("location") as string)
    assert.equal(location.searchParams.get("error"), "oidc_provider_error")
    assert.equal(location.searchParams.get("code"), null)
  })
})

describe("the google preset's hosted domain", () => {
  test("hd goes with the request, and an ID token without that hd is refused: 400 oidc_callback_invalid", async () => {
    // The preset pointed at the loopback provider: no network here.
    const google = await federation({ REVOCABLE_OIDC_GOOGLE_HOSTED_DOMAIN: "example.com" }, { names: ["google"] })
    try {
      google.provider.accounts.set("worker", { hd: "example.com", email: "worker@example.com", email_verified: true })
      google.provider.accounts.set("outsider", { email: "outsider@gmail.example", email_verified: true })
      const start = await new Agent().request(`${google.base}/auth/oidc/google`)
      assert.equal(new URL(start.headers.get("location") as string).searchParams.get("hd"), "example.com")
      const worker = new Agent()
      assert.equal((await worker.request(await reachCallback(worker, `${google.base}/auth/oidc/google`, "worker"))).status, 303)
      const outsider = new Agent()
      const refused = await outsider.request(await reachCallback(outsider, `${google.base}/auth/oidc/google`, "outsider"))
      assert.equal(refused.status, 400)
      assert.equal((await json(refused)).error, "oidc_callback_invalid")
      assert.equal(outsider.cookie(google.base, "access_token"), undefined)
    } finally {
      await google.close()
    }
  })
})
