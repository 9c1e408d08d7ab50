// examples/google-login, run as a process against a real OpenID Provider on loopback (oidc-provider, the server's
// test helper) standing in for Google: the example is pointed at it by OIDC_ISSUER, as a user points it at any
// provider. Driven over HTTP, then clicked through in Chromium: sign in, refresh, log out, the old token refused.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import type { Browser } from "playwright-core"
import { launchChromium, withoutChromium } from "../../../server/test/helpers/browser.ts"
import { Agent, CLIENT_ID, CLIENT_SECRET, reachCallback, startProvider, type TestProvider } from "../../../server/test/helpers/oidc-provider.ts"
import { freePort } from "../helpers/postgres.ts"
import { runExample, type RunningExample } from "./run.ts"

let app: RunningExample
let provider: TestProvider
let browser: Browser | undefined

before(async () => {
  // The example starts first (its callback URL needs its port), on a provider port not yet listening: its
  // discovery fails and is tried again at the first sign-in, by when the provider is up.
  const port = await freePort()
  app = await runExample("google-login/app", { OIDC_ISSUER: `http://127.0.0.1:${port}`, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET })
  provider = await startProvider([{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${app.base}/auth/oidc/google/callback`] }], { port })
  provider.accounts.set("ada", { email: "ada@example.com", email_verified: true, name: "Ada Lovelace" })
  if (!withoutChromium) browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  await provider.close()
  assert.equal(await app.stop(), 0, "the example shuts down cleanly on SIGTERM")
})

/** The request the page's buttons make: cookies, the CSRF header echoing the CSRF cookie, the page's origin. */
function post(agent: Agent, path: string): Promise<Response> {
  return agent.request(`${app.base}${path}`, { method: "POST", headers: { "x-csrf-token": agent.cookie(app.base, "csrf_token") ?? "", origin: app.base } })
}

describe("over HTTP", () => {
  test("sign in with the provider, see the user, refresh (rotating), log out: the old access token is refused", async () => {
    const agent = new Agent()
    const page = await agent.request(`${app.base}/`)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /href="\/auth\/oidc\/google">Sign in with Google</)

    const signedIn = await agent.request(await reachCallback(agent, `${app.base}/auth/oidc/google`, "ada"))
    assert.equal(signedIn.status, 303)
    assert.equal(signedIn.headers.get("location"), "/")
    const me = await agent.request(`${app.base}/api/me`)
    assert.equal(me.status, 200)
    const user = await me.json()
    assert.equal(user.email, "ada@example.com")
    assert.equal(user.name, "Ada Lovelace")

    const firstAccess = agent.cookie(app.base, "access_token") as string
    const firstRefresh = agent.cookie(app.base, "refresh_token") as string
    assert.equal((await post(agent, "/auth/refresh")).status, 200)
    assert.notEqual(agent.cookie(app.base, "refresh_token"), firstRefresh, "the refresh token rotates")
    const after = await agent.request(`${app.base}/api/me`)
    assert.equal((await after.json()).session_id, user.session_id, "a refresh continues the same session")

    assert.equal((await post(agent, "/auth/logout")).status, 204)
    assert.equal(agent.cookie(app.base, "access_token"), undefined, "the cookies are cleared")
    const refused = await new Agent().request(`${app.base}/api/me`, { headers: { cookie: `access_token=${firstAccess}` } })
    assert.equal(refused.status, 401)
    assert.equal((await refused.json()).error, "token_revoked")
  })

  test("a refresh without the CSRF header is refused (403 csrf_failed)", async () => {
    const agent = new Agent()
    await agent.request(await reachCallback(agent, `${app.base}/auth/oidc/google`, "ada"))
    const forged = await agent.request(`${app.base}/auth/refresh`, { method: "POST", headers: { origin: app.base } })
    assert.equal(forged.status, 403)
    assert.equal((await forged.json()).error, "csrf_failed")
  })

  test("a cancelled sign-in comes back to the page with only the error code", async () => {
    const agent = new Agent()
    const back = await agent.request(await reachCallback(agent, `${app.base}/auth/oidc/google`, "ada", { abort: true }))
    assert.equal(back.status, 303)
    assert.equal(back.headers.get("location"), "/?error=oidc_provider_error")
  })
})

describe("in Chromium", { skip: withoutChromium }, () => {
  test("click Sign in with Google, sign in at the provider, then Refresh and Log out on the page", async () => {
    const context = await (browser as Browser).newContext()
    const errors: string[] = []
    try {
      const page = await context.newPage()
      page.on("pageerror", (error) => errors.push(error.message))
      await page.goto(`${app.base}/`)
      await page.getByRole("link", { name: "Sign in with Google" }).click()
      await page.waitForURL((url) => url.origin === provider.issuer)
      await page.locator("input[name=login]").fill("ada")
      await page.locator("input[name=password]").fill("any")
      await page.locator("button[type=submit]").click()

      await page.getByRole("button", { name: "Log out" }).waitFor()
      assert.equal(new URL(page.url()).href, `${app.base}/`)
      assert.equal(await page.locator("#email").innerText(), "ada@example.com")
      const tokenNamed = async (name: string) => (await context.cookies(app.base)).find((cookie) => cookie.name === name)?.value
      const firstAccess = await tokenNamed("access_token")
      const firstRefresh = await tokenNamed("refresh_token")
      assert.ok(firstAccess && firstRefresh)

      await page.getByRole("button", { name: "Refresh" }).click()
      await page.getByText(/^Tokens refreshed at/).waitFor()
      assert.notEqual(await tokenNamed("refresh_token"), firstRefresh)

      await page.getByRole("button", { name: "Log out" }).click()
      await page.getByRole("link", { name: "Sign in with Google" }).waitFor()
      assert.equal(await tokenNamed("access_token"), undefined)
      const refused = await fetch(`${app.base}/api/me`, { headers: { cookie: `access_token=${firstAccess}` } })
      assert.equal(refused.status, 401)
      assert.equal((await refused.json()).error, "token_revoked", "the logged-out session's access token is refused before it expires")
      assert.deepEqual(errors, [], "no script error on the page")
    } finally {
      await context.close()
    }
  })
})
