// revocable/oidc against a real OpenID Provider on loopback (oidc-provider, run by the server's test helper), driven
// over HTTP as a browser would: the code flow mounted on Express, Fastify and Hono, and every way a callback fails.
import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, test } from "node:test"
import express from "express"
import Fastify, { type FastifyInstance } from "fastify"
import { Hono } from "hono"
import { getRequestListener } from "@hono/node-server"
import { Agent, CLIENT_ID, CLIENT_SECRET, reachCallback, startProvider, type TestProvider } from "../../../server/test/helpers/oidc-provider.ts"
import { freePort } from "../helpers/postgres.ts"
import { AuthError, createAuth, type Auth } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { expressOidc, fastifyOidc, honoOidc, oidcLogin, type MountOptions, type OidcIdentity, type OidcLoginOptions } from "../../src/oidc/index.ts"

const COOKIE_SECRET = "a cookie secret of more than thirty-two bytes"

interface Listening {
  server: Server
  base: string
}

/** A server on a free port, so that its callback URL is known before the provider that must list it starts. */
async function listening(): Promise<Listening> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function closed(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

let auth: Auth
let provider: TestProvider
let expressSite: Listening
let fastifySite: Listening
let honoSite: Listening
let fastifyApp: FastifyInstance
/** Every identity onIdentity was handed, in order. */
const seen: OidcIdentity[] = []
/** The application's own table: (issuer, sub) to its user id. */
const users = new Map<string, string>()
let clock = Date.now()

function login(site: Listening, name: string, overrides: Partial<OidcLoginOptions> = {}) {
  return oidcLogin({
    auth,
    issuer: provider.issuer,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: `${site.base}/auth/oidc/${name}/callback`,
    cookieSecret: COOKIE_SECRET,
    cookie: { secure: false },
    onIdentity: (identity) => {
      seen.push(identity)
      const key = `${identity.issuer} ${identity.sub}`
      if (!users.has(key)) users.set(key, `user-${users.size + 1}`)
      return { subject: users.get(key) as string, claims: { name: identity.claims.name ?? null } }
    },
    ...overrides,
  })
}

function mountExpress(app: express.Express, site: Listening, name: string, overrides: Partial<OidcLoginOptions> = {}, mount: MountOptions = {}): void {
  const routes = expressOidc(login(site, name, overrides), mount)
  app.get(`/auth/oidc/${name}`, routes.start)
  app.get(`/auth/oidc/${name}/callback`, routes.callback)
}

before(async () => {
  auth = createAuth({ issuer: "https://app.example", audience: "app", store: memoryStore() })
  await auth.ready()
  ;[expressSite, fastifySite, honoSite] = await Promise.all([listening(), listening(), listening()])
  const callbacks = [
    ...["test", "friendly", "late", "picky", "discovered"].map((name) => `${expressSite.base}/auth/oidc/${name}/callback`),
    `${fastifySite.base}/auth/oidc/test/callback`,
    `${honoSite.base}/auth/oidc/test/callback`,
  ]
  provider = await startProvider([{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: callbacks }])
  provider.accounts.set("alice", { email: "alice@example.com", email_verified: true, name: "Alice" })
  provider.accounts.set("mallory", { email: "alice@example.com", email_verified: false, name: "Mallory" })

  const app = express()
  mountExpress(app, expressSite, "test")
  mountExpress(app, expressSite, "friendly", {}, { errorRedirect: "/signin?from=oidc" })
  mountExpress(app, expressSite, "late", { clock: () => clock })
  mountExpress(app, expressSite, "picky", {
    onIdentity: (identity) => {
      if (!identity.emailVerified) throw new AuthError("forbidden", "Sign in with a verified email.")
      return { subject: "picky-user" }
    },
  })
  mountExpress(app, expressSite, "discovered", { issuer: undefined, discovery: `${provider.issuer}/.well-known/openid-configuration` })
  expressSite.server.on("request", app)

  fastifyApp = Fastify({
    serverFactory: (handler) => {
      fastifySite.server.on("request", handler)
      return fastifySite.server
    },
  })
  const onFastify = fastifyOidc(login(fastifySite, "test"))
  fastifyApp.get("/auth/oidc/test", onFastify.start)
  fastifyApp.get("/auth/oidc/test/callback", onFastify.callback)
  await fastifyApp.ready()

  const hono = new Hono()
  const onHono = honoOidc(login(honoSite, "test"))
  hono.get("/auth/oidc/test", onHono.start)
  hono.get("/auth/oidc/test/callback", onHono.callback)
  honoSite.server.on("request", getRequestListener(hono.fetch))
})

after(async () => {
  // Fastify leaves a server it did not listen on to its owner.
  await fastifyApp.close()
  await Promise.all([closed(expressSite.server), closed(fastifySite.server), closed(honoSite.server), provider.close()])
  await auth.close()
})

async function body(response: Response): Promise<any> {
  return response.json()
}

/** Signs in at `base` as `account`; answers the callback's response. */
async function signIn(agent: Agent, base: string, account: string, path = "/auth/oidc/test"): Promise<Response> {
  return agent.request(await reachCallback(agent, `${base}${path}`, account))
}

describe("the code flow, mounted on each framework", () => {
  for (const [name, site] of [["Express", () => expressSite], ["Fastify", () => fastifySite], ["Hono", () => honoSite]] as const) {
    test(`${name}: sign-in with the provider ends in revocable tokens in HttpOnly cookies for the app's own user`, async () => {
      const agent = new Agent()
      const before = seen.length
      const answer = await signIn(agent, site().base, "alice")
      assert.equal(answer.status, 303)
      assert.equal(answer.headers.get("location"), "/")
      assert.equal(answer.headers.get("cache-control"), "no-store")
      const cookies = answer.headers.getSetCookie()
      assert.ok(cookies.some((line) => /^access_token=[^;]+; Max-Age=900; Path=\/; HttpOnly; SameSite=Strict$/.test(line)), cookies.join("\n"))
      assert.ok(cookies.some((line) => line.startsWith("revocable_oidc=; Max-Age=0; Path=/auth/oidc/test/callback")), "the transaction cookie is cleared")
      assert.ok(agent.cookie(site().base, "refresh_token"))
      assert.ok(agent.cookie(site().base, "csrf_token"))

      assert.equal(seen.length, before + 1)
      const identity = seen.at(-1) as OidcIdentity
      assert.deepEqual([identity.issuer, identity.sub, identity.email, identity.emailVerified], [provider.issuer, "alice", "alice@example.com", true])
      const claims = await auth.verify(agent.cookie(site().base, "access_token") as string)
      assert.equal(claims.sub, users.get(`${provider.issuer} alice`))
      assert.equal(claims.name, "Alice")
    })

    test(`${name}: a failed callback is a JSON answer with its code and clears the transaction cookie`, async () => {
      const agent = new Agent()
      const callback = await reachCallback(agent, `${site().base}/auth/oidc/test`, "alice")
      const answer = await new Agent().request(callback)
      assert.equal(answer.status, 400)
      assert.match(answer.headers.get("content-type") ?? "", /^application\/json/)
      assert.deepEqual(answer.headers.getSetCookie(), ["revocable_oidc=; Max-Age=0; Path=/auth/oidc/test/callback; HttpOnly; SameSite=Lax"])
      assert.equal((await body(answer)).error, "oidc_transaction_missing")
    })
  }

  test("a provider named by the URL of its discovery document instead of its issuer", async () => {
    const agent = new Agent()
    assert.equal((await signIn(agent, expressSite.base, "alice", "/auth/oidc/discovered")).status, 303)
    assert.ok(agent.cookie(expressSite.base, "access_token"))
  })

  test("the redirect to the provider: PKCE S256, state and nonce, the transaction sealed in a short-lived Lax HttpOnly cookie", async () => {
    const response = await new Agent().request(`${expressSite.base}/auth/oidc/test`)
    assert.equal(response.status, 303)
    const location = new URL(response.headers.get("location") as string)
    assert.equal(`${location.origin}${location.pathname}`, `${provider.issuer}/auth`)
    assert.equal(location.searchParams.get("code_challenge_method"), "S256")
    assert.match(location.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/)
    assert.ok((location.searchParams.get("state") ?? "").length >= 22)
    assert.ok((location.searchParams.get("nonce") ?? "").length >= 22)
    assert.equal(location.searchParams.get("redirect_uri"), `${expressSite.base}/auth/oidc/test/callback`)
    assert.equal(location.searchParams.get("scope"), "openid email profile")
    const [cookie] = response.headers.getSetCookie()
    assert.match(cookie ?? "", /^revocable_oidc=[A-Za-z0-9_-]+; Max-Age=600; Path=\/auth\/oidc\/test\/callback; HttpOnly; SameSite=Lax$/)
    assert.ok(!(cookie ?? "").includes(location.searchParams.get("state") as string), "neither state nor verifier can be read from it")
  })

  test("the same identity signs in to the same user; another identity with the same email is another user", async () => {
    const subOf = async (account: string) => {
      const agent = new Agent()
      await signIn(agent, expressSite.base, account)
      return (await auth.verify(agent.cookie(expressSite.base, "access_token") as string)).sub
    }
    const alice = await subOf("alice")
    assert.equal(await subOf("alice"), alice)
    assert.notEqual(await subOf("mallory"), alice, "an email is never the key")
  })

  test("return_to picks a path of the app to land on; another host is refused before the provider is asked", async () => {
    const agent = new Agent()
    const answer = await signIn(agent, expressSite.base, "alice", `/auth/oidc/test?return_to=${encodeURIComponent("/account?tab=2")}`)
    assert.equal(answer.headers.get("location"), "/account?tab=2")
    for (const returnTo of ["//evil.example/x", "https://evil.example/", "/\\evil.example"]) {
      const refused = await agent.request(`${expressSite.base}/auth/oidc/test?return_to=${encodeURIComponent(returnTo)}`)
      assert.equal(refused.status, 400, returnTo)
      assert.equal((await body(refused)).error, "oidc_return_url_refused")
    }
  })
})

describe("a failed callback: a clear code, never a 500, no session", () => {
  /** Asserts the JSON answer and that the browser got no auth cookie. */
  async function refused(response: Response, agent: Agent, status: number, error: string): Promise<any> {
    assert.equal(response.status, status)
    assert.equal(response.headers.get("cache-control"), "no-store")
    const answer = await body(response)
    assert.equal(answer.error, error)
    assert.equal(typeof answer.error_description, "string")
    assert.equal(agent.cookie(expressSite.base, "access_token"), undefined, "no session was made")
    return answer
  }

  test("a state that is not the browser's: 400 oidc_state_mismatch", async () => {
    const agent = new Agent()
    const callback = new URL(await reachCallback(agent, `${expressSite.base}/auth/oidc/test`, "alice"))
    callback.searchParams.set("state", "a-state-this-browser-never-sent")
    const before = seen.length
    await refused(await agent.request(callback.href), agent, 400, "oidc_state_mismatch")
    assert.equal(seen.length, before)
  })

  test("a replayed callback, cookie and all: 400 oidc_transaction_replayed, and only the first made a session", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${expressSite.base}/auth/oidc/test`, "alice")
    const cookie = `revocable_oidc=${agent.cookie(expressSite.base, "revocable_oidc")}`
    assert.equal((await agent.request(callback)).status, 303)
    const before = seen.length
    const attacker = new Agent()
    await refused(await attacker.request(callback, { headers: { cookie } }), attacker, 400, "oidc_transaction_replayed")
    assert.equal(seen.length, before)
  })

  test("a callback without the browser's transaction (another browser, a forged or expired cookie): 400 oidc_transaction_missing", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${expressSite.base}/auth/oidc/test`, "alice")
    const stranger = new Agent()
    await refused(await stranger.request(callback), stranger, 400, "oidc_transaction_missing")
    await refused(await stranger.request(callback, { headers: { cookie: `revocable_oidc=${"A".repeat(120)}` } }), stranger, 400, "oidc_transaction_missing")

    const late = new Agent()
    const lateCallback = await reachCallback(late, `${expressSite.base}/auth/oidc/late`, "alice")
    clock += 10 * 60_000 + 1
    await refused(await late.request(lateCallback), late, 400, "oidc_transaction_missing")
  })

  test("the user cancels at the provider: 400 oidc_provider_error with provider_error access_denied", async () => {
    const agent = new Agent()
    const callback = await reachCallback(agent, `${expressSite.base}/auth/oidc/test`, "alice", { abort: true })
    assert.equal(new URL(callback).searchParams.get("error"), "access_denied")
    const answer = await refused(await agent.request(callback), agent, 400, "oidc_provider_error")
    assert.equal(answer.provider_error, "access_denied")
  })

  test("onIdentity refuses with an AuthError: its own answer (403 forbidden), no session", async () => {
    const agent = new Agent()
    await refused(await signIn(agent, expressSite.base, "mallory", "/auth/oidc/picky"), agent, 403, "forbidden")
    const welcome = new Agent()
    assert.equal((await signIn(welcome, expressSite.base, "alice", "/auth/oidc/picky")).status, 303)
    assert.equal((await auth.verify(welcome.cookie(expressSite.base, "access_token") as string)).sub, "picky-user")
  })

  test("errorRedirect: a failure sends the browser to the app's page with only the code", async () => {
    const agent = new Agent()
    const answer = await agent.request(await reachCallback(agent, `${expressSite.base}/auth/oidc/friendly`, "alice", { abort: true }))
    assert.equal(answer.status, 303)
    assert.equal(answer.headers.get("location"), "/signin?from=oidc&error=oidc_provider_error")
    assert.equal(agent.cookie(expressSite.base, "revocable_oidc"), undefined, "the transaction cookie is cleared")
  })
})

describe("a provider that is down: 503 oidc_provider_unavailable with Retry-After, then it works once it is back", () => {
  test("down at the start (discovery), then back on the same port", async () => {
    const site = await listening()
    const port = await freePort()
    const app = express()
    const routes = expressOidc(login(site, "test", { issuer: `http://127.0.0.1:${port}` }))
    app.get("/auth/oidc/test", routes.start)
    app.get("/auth/oidc/test/callback", routes.callback)
    site.server.on("request", app)
    const agent = new Agent()
    try {
      const down = await agent.request(`${site.base}/auth/oidc/test`)
      assert.equal(down.status, 503)
      assert.equal(down.headers.get("retry-after"), "30")
      assert.equal((await body(down)).error, "oidc_provider_unavailable")
      const back = await startProvider([{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${site.base}/auth/oidc/test/callback`] }], { port })
      try {
        assert.equal((await signIn(agent, site.base, "alice")).status, 303)
        assert.ok(agent.cookie(site.base, "access_token"))
      } finally {
        await back.close()
      }
    } finally {
      await closed(site.server)
    }
  })

  test("down between the redirect and the callback (the code exchange)", async () => {
    const site = await listening()
    const own = await startProvider([{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${site.base}/auth/oidc/test/callback`] }])
    const app = express()
    const routes = expressOidc(login(site, "test", { issuer: own.issuer }))
    app.get("/auth/oidc/test", routes.start)
    app.get("/auth/oidc/test/callback", routes.callback)
    site.server.on("request", app)
    try {
      const agent = new Agent()
      const callback = await reachCallback(agent, `${site.base}/auth/oidc/test`, "alice")
      await own.close()
      const down = await agent.request(callback)
      assert.equal(down.status, 503)
      assert.equal((await body(down)).error, "oidc_provider_unavailable")
      assert.equal(agent.cookie(site.base, "access_token"), undefined)
    } finally {
      await closed(site.server)
    }
  })
})

describe("options are checked when the sign-in is made, not at the first request", () => {
  const valid: OidcLoginOptions = {
    auth: { issue: async () => assert.fail("not called") },
    issuer: "https://accounts.google.com",
    clientId: "id",
    clientSecret: "secret",
    redirectUri: "https://app.example/auth/oidc/google/callback",
    cookieSecret: COOKIE_SECRET,
    onIdentity: () => ({ subject: "x" }),
  }
  for (const [what, change, message] of [
    ["a short cookie secret", { cookieSecret: "short" }, /cookieSecret/],
    ["scopes without openid", { scopes: ["email"] }, /openid/],
    ["an http issuer off loopback", { issuer: "http://accounts.example" }, /https/],
    ["both issuer and discovery", { discovery: "https://accounts.google.com/.well-known/openid-configuration" }, /exactly one/],
    ["a redirect URI with a query", { redirectUri: "https://app.example/cb?x=1" }, /redirectUri/],
    ["a returnTo off the app", { returnTo: "//evil.example" }, /returnTo/],
    ["bad cookie options", { cookie: { sameSite: "None", secure: false } }, /sameSite/],
  ] as const) {
    test(`refuses ${what}`, () => {
      assert.throws(() => oidcLogin({ ...valid, ...change } as OidcLoginOptions), { name: "TypeError", message: message })
    })
  }
  test("refuses an errorRedirect that is not a path of the app", () => {
    assert.throws(() => expressOidc(oidcLogin({ ...valid, issuer: provider.issuer }), { errorRedirect: "https://evil.example/" }), /errorRedirect/)
  })
})
