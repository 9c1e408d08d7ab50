/// <reference lib="dom" />
// revocable/client in Chromium against the real server, loaded as the server serves it (ES modules, no bundle)
// into a page of the server's origin that has no script of its own (/healthz).
import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, mock, test } from "node:test"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { createClient, type Client, type ClientOptions } from "../../src/client/index.ts"
import { atOnce, consoleServer, launchChromium, PASSWORD, withoutChromium, type ConsoleServer } from "../../../server/test/helpers/browser.ts"

const ACCESS_TTL_S = 30
const MODULE = "/assets/client/index.ts"

let server: ConsoleServer
let browser: Browser

before(async () => {
  if (withoutChromium) return
  server = await consoleServer({ REVOCABLE_ACCESS_TTL: `${ACCESS_TTL_S}s`, REVOCABLE_LEEWAY: "0s", REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
})

/** What the pages keep on `window`. */
interface Tab {
  client: Client
  events: string[]
}

/** A tab of `context` on the server's origin with a client made with `options` on `window`. */
async function tab(context: BrowserContext, options: ClientOptions = {}): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${server.url}/healthz`)
  await install(page, options)
  return page
}

async function install(page: Page, options: ClientOptions = {}): Promise<void> {
  await page.evaluate(
    async ({ module, options }) => {
      const { createClient } = (await import(module)) as typeof import("../../src/client/index.ts")
      const client = createClient(options)
      const events: string[] = []
      client.on("logged-in", () => events.push("logged-in"))
      client.on("refreshed", () => events.push("refreshed"))
      client.on("logged-out", ({ reason }) => events.push(`logged-out:${reason}`))
      Object.assign(window, { client, events })
    },
    { module: MODULE, options },
  )
}

/** Counts the requests of `context` to a path. */
function counter(context: BrowserContext, path: string): { requests: number; statuses: number[] } {
  const seen = { requests: 0, statuses: [] as number[] }
  context.on("request", (request) => {
    if (new URL(request.url()).pathname === path) seen.requests++
  })
  context.on("response", (response) => {
    if (new URL(response.url()).pathname === path) seen.statuses.push(response.status())
  })
  return seen
}

describe("revocable/client in Chromium", { skip: withoutChromium }, () => {
  test("localStorage mode: tokens kept in localStorage; after expiry, five concurrent calls share one refresh and are retried", async () => {
    const sub = await server.register("gina")
    const context = await browser.newContext()
    const refreshes = counter(context, "/auth/refresh")
    mock.timers.enable({ apis: ["Date"], now: Date.now() })
    try {
      const page = await tab(context, { storage: "local" })
      const stored = await page.evaluate(async (password) => {
        const { client } = window as unknown as Tab
        await client.login("gina", password)
        return JSON.parse(localStorage.getItem(`revocable:${location.origin}/`) ?? "null")
      }, PASSWORD)
      assert.equal(typeof stored.accessToken, "string")
      assert.equal(typeof stored.refreshToken, "string")

      for (let expiry = 1; expiry <= 2; expiry++) {
        mock.timers.tick((ACCESS_TTL_S + 1) * 1000)
        const subs = await page.evaluate(async () => {
          const { client } = window as unknown as Tab
          const answers = await Promise.all(Array.from({ length: 5 }, () => client.call<{ sub: string }>("/me")))
          return answers.map((answer) => answer.sub)
        })
        assert.deepEqual(subs, [sub, sub, sub, sub, sub])
        assert.equal(refreshes.requests, expiry, "one refresh per expiry")
      }
      assert.deepEqual(refreshes.statuses, [200, 200])
      assert.deepEqual(await page.evaluate(() => (window as unknown as Tab).events), ["logged-in", "refreshed", "refreshed"])
    } finally {
      mock.timers.reset()
      await context.close()
    }
  })

  test("localStorage mode: three tabs meeting an expired token at once refresh without reuse; a logout in one tab signs the others out", async () => {
    await server.register("hugo")
    const context = await browser.newContext()
    const refreshes = counter(context, "/auth/refresh")
    mock.timers.enable({ apis: ["Date"], now: Date.now() })
    try {
      const tabs = [await tab(context, { storage: "local" }), await tab(context, { storage: "local" }), await tab(context, { storage: "local" })]
      await tabs[0]?.evaluate((password) => (window as unknown as Tab).client.login("hugo", password), PASSWORD)
      for (const page of tabs) assert.equal(await page.evaluate(() => (window as unknown as Tab).client.restore()), true)
      const reusedBefore = await server.reuseDetected()

      for (let expiry = 1; expiry <= 5; expiry++) {
        mock.timers.tick((ACCESS_TTL_S + 1) * 1000)
        const answers = await atOnce(tabs, (page) =>
            page.evaluate(async () => {
              const { client, go } = window as unknown as Tab & { go: Promise<void> }
              await go
              const settled = await Promise.allSettled([client.call("/me"), client.call("/auth/sessions")])
              return settled.map((result) => (result.status === "fulfilled" ? "ok" : String((result.reason as { code?: unknown }).code)))
            }),
        )
        assert.deepEqual(answers, [["ok", "ok"], ["ok", "ok"], ["ok", "ok"]], `expiry ${expiry}`)
      }
      assert.ok(refreshes.statuses.length >= 5)
      assert.deepEqual(refreshes.statuses.filter((status) => status !== 200), [], "every refresh succeeded")
      assert.equal(await server.reuseDetected(), reusedBefore, "no refresh token was presented twice")

      await tabs[0]?.evaluate(() => (window as unknown as Tab).client.logout())
      for (const page of tabs.slice(1)) {
        await page.waitForFunction(() => (window as unknown as Tab).events.includes("logged-out:logout"))
        assert.equal(await page.evaluate(() => (window as unknown as Tab).client.signedIn), false)
      }
      // localStorage reaches the other tabs' processes a moment later.
      await tabs[2]?.waitForFunction(() => localStorage.length === 0, undefined, { polling: 10 })
    } finally {
      mock.timers.reset()
      await context.close()
    }
  })

  test("cookie mode: no token in script-readable storage; a reload resumes the session from the refresh cookie; after logout there is nothing to resume", async () => {
    const sub = await server.register("iris")
    const context = await browser.newContext()
    const refreshes = counter(context, "/auth/refresh")
    try {
      const page = await tab(context)
      const sessionId = await page.evaluate(async (password) => {
        const { client } = window as unknown as Tab
        await client.login("iris", password)
        return client.sessionId
      }, PASSWORD)
      assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0)
      const cookies = await context.cookies()
      const refreshCookie = cookies.find((cookie) => cookie.name === "refresh_token")
      assert.equal(refreshCookie?.httpOnly, true)
      assert.equal(refreshCookie?.path, "/auth")
      assert.equal(await page.evaluate(() => document.cookie.includes("refresh_token") || document.cookie.includes("access_token")), false)

      await page.reload()
      await install(page)
      const resumed = await page.evaluate(async () => {
        const { client } = window as unknown as Tab
        const restored = await client.restore()
        return { restored, sessionId: client.sessionId, me: await client.call<{ session_id: string }>("/me") }
      })
      assert.deepEqual(resumed, { restored: true, sessionId, me: resumed.me })
      assert.equal(resumed.me.session_id, sessionId)
      assert.equal(refreshes.requests, 1)

      // logout() right after another load, before any restore(), still finds the session in the cookies.
      await page.reload()
      await install(page)
      await page.evaluate(() => (window as unknown as Tab).client.logout())
      assert.equal(refreshes.requests, 2)
      const sessions = await server.api("GET", `/admin/users/${sub}/sessions`, { token: await server.adminToken() })
      assert.deepEqual(sessions.body, [])
      const third = await tab(context)
      assert.equal(await third.evaluate(() => (window as unknown as Tab).client.restore()), false)
      assert.equal(refreshes.requests, 2, "no refresh tried without a session cookie")
    } finally {
      await context.close()
    }
  })

  test("a session revoked on the server: the next call answers 401 token_revoked, 'logged-out' says so, and no refresh is tried", async () => {
    await server.register("jack")
    const context = await browser.newContext()
    const refreshes = counter(context, "/auth/refresh")
    try {
      const page = await tab(context)
      const sessionId = await page.evaluate(async (password) => {
        const { client } = window as unknown as Tab
        await client.login("jack", password)
        return client.sessionId
      }, PASSWORD)
      const revoked = await server.api("POST", "/admin/revocations", { token: await server.adminToken(), json: { kind: "session", id: sessionId, reason: "test" } })
      assert.equal(revoked.status, 201)
      const outcome = await page.evaluate(async () => {
        const { client, events } = window as unknown as Tab
        const error = await client.call("/me").then(
          () => null,
          (reason: { name: string; code: string; status: number }) => ({ name: reason.name, code: reason.code, status: reason.status }),
        )
        return { error, events, signedIn: client.signedIn }
      })
      assert.deepEqual(outcome, { error: { name: "ClientError", code: "token_revoked", status: 401 }, events: ["logged-in", "logged-out:token_revoked"], signedIn: false })
      assert.equal(refreshes.requests, 0)
    } finally {
      await context.close()
    }
  })

  test("a stolen refresh token used first by the thief: the client's refresh is refused as reuse, the session ends, the thief's tokens die with it", async () => {
    await server.register("kate")
    const context = await browser.newContext()
    mock.timers.enable({ apis: ["Date"], now: Date.now() })
    try {
      const page = await tab(context, { storage: "local" })
      const stolen = await page.evaluate(async (password) => {
        await (window as unknown as Tab).client.login("kate", password)
        return JSON.parse(localStorage.getItem(`revocable:${location.origin}/`) ?? "null").refreshToken as string
      }, PASSWORD)
      const thief = await server.api("POST", "/auth/refresh", { json: { refresh_token: stolen } })
      assert.equal(thief.status, 200)

      mock.timers.tick((ACCESS_TTL_S + 1) * 1000)
      const outcome = await page.evaluate(async () => {
        const { client, events } = window as unknown as Tab
        const code = await client.call("/me").then(
          () => null,
          (reason: { code: string }) => reason.code,
        )
        return { code, events, signedIn: client.signedIn, stored: localStorage.length }
      })
      assert.deepEqual(outcome, { code: "refresh_token_reused", events: ["logged-in", "logged-out:refresh_token_reused"], signedIn: false, stored: 0 })
      const thiefRefresh = await server.api("POST", "/auth/refresh", { json: { refresh_token: thief.body.refresh_token } })
      assert.equal(thiefRefresh.status, 401)
      assert.equal(thiefRefresh.body.error, "token_revoked")
    } finally {
      mock.timers.reset()
      await context.close()
    }
  })

  test("the access token goes to the server and the listed apiOrigins only", async () => {
    await server.register("liam")
    const seen: Array<string | null> = []
    const other: Server = createServer((request, response) => {
      response.setHeader("access-control-allow-origin", "*")
      response.setHeader("access-control-allow-headers", "authorization")
      if (request.method !== "OPTIONS") seen.push(request.headers.authorization ?? null)
      response.end("{}")
    })
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve))
    const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`
    const context = await browser.newContext()
    try {
      const plain = await tab(context)
      await plain.evaluate(async ({ password, url }) => {
        const { client } = window as unknown as Tab
        await client.login("liam", password)
        await client.fetch(url)
      }, { password: PASSWORD, url: `${otherOrigin}/elsewhere` })
      assert.deepEqual(seen, [null])

      const listed = await tab(context, { apiOrigins: [otherOrigin] })
      await listed.evaluate(async ({ password, url }) => {
        const { client } = window as unknown as Tab
        await client.login("liam", password)
        await client.fetch(url)
      }, { password: PASSWORD, url: `${otherOrigin}/api` })
      assert.equal(seen.length, 2)
      assert.match(seen[1] ?? "", /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
    } finally {
      await context.close()
      await new Promise<void>((resolve) => other.close(() => resolve()))
    }
  })
})

describe("createClient", () => {
  test("checks its options at once, with a TypeError naming the option", () => {
    assert.throws(() => createClient(), { name: "TypeError", message: /baseUrl/ })
    assert.throws(() => createClient({ baseUrl: "ftp://auth.example" }), { name: "TypeError", message: /baseUrl/ })
    assert.throws(() => createClient({ baseUrl: "https://auth.example/?x=1" }), { name: "TypeError", message: /baseUrl/ })
    assert.throws(() => createClient({ baseUrl: "https://auth.example", storage: "session" as "local" }), { name: "TypeError", message: /storage/ })
    assert.throws(() => createClient({ baseUrl: "https://auth.example", apiOrigins: ["https://api.example/v1"] }), { name: "TypeError", message: /apiOrigins/ })
    assert.throws(() => createClient({ baseUrl: "https://auth.example", csrfHeader: "bad header" }), { name: "TypeError", message: /csrfHeader/ })
    assert.throws(() => createClient({ baseUrl: "https://auth.example", fetch: 42 as unknown as typeof fetch }), { name: "TypeError", message: /fetch/ })
    const client = createClient({ baseUrl: "https://auth.example/base" })
    assert.equal(client.signedIn, false)
    client.close()
  })
})
