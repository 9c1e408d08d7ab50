/// <reference lib="dom" />
// The console's Webhooks page in Chromium against the real server and a real receiver on loopback: add an
// endpoint (its secret shown once, copied), see an audit event delivered or retrying, remove it after a
// confirmation; at 1280 px, and at 390 px in the dark scheme from the keyboard alone.
import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import { after, afterEach, before, describe, test } from "node:test"
import type { Browser, BrowserContext, Locator, Page } from "playwright-core"
import { ADMIN_PASSWORD, consoleServer, launchChromium, PASSWORD, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"

let server: ConsoleServer
let browser: Browser
let hooks: Server
let hooksUrl: string
const arrivals = new Map<string, { body: Promise<string>; resolve(body: string): void }>()
const pageErrors: string[] = []

/** The body of the first request to a path of the receiver, once it arrives. */
function arrival(path: string): { body: Promise<string>; resolve(body: string): void } {
  let entry = arrivals.get(path)
  if (entry === undefined) {
    let resolve: (body: string) => void = () => undefined
    const body = new Promise<string>((settle) => (resolve = settle))
    entry = { body, resolve }
    arrivals.set(path, entry)
  }
  return entry
}

before(async () => {
  if (withoutChromium) return
  // Loopback receivers, over http; a failed attempt is retried in 2 hours, so that "retrying" stays on screen.
  server = await consoleServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000", REVOCABLE_WEBHOOKS_ALLOW_HTTP: "true", REVOCABLE_WEBHOOKS_ALLOW_PRIVATE: "true", REVOCABLE_WEBHOOKS_RETRY: "2h" })
  browser = await launchChromium()
  await server.register("carol")
  // The receiver answers 204 on /ok, 503 anywhere else.
  hooks = createServer((request, response) => {
    let body = ""
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
    request.on("end", () => {
      response.writeHead(request.url === "/ok" ? 204 : 503).end()
      arrival(request.url ?? "").resolve(body)
    })
  })
  await new Promise<void>((resolve) => hooks.listen(0, "127.0.0.1", resolve))
  hooksUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}`
})
after(async () => {
  await browser?.close()
  await server?.close()
  hooks?.closeAllConnections()
  await new Promise((resolve) => hooks?.close(resolve))
})
afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "no script error in the pages"))

async function signIn(context: BrowserContext): Promise<Page> {
  const page = await context.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  await page.goto(`${server.url}/#/account`)
  await page.getByLabel("Username").fill("admin")
  await page.getByLabel("Password").fill(ADMIN_PASSWORD)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("heading", { level: 1, name: "My account" }).waitFor()
  return page
}

/** A sign-in by carol: the audit event login.succeeded. */
async function carolSignsIn(): Promise<void> {
  assert.equal((await server.api("POST", "/auth/login", { json: { username: "carol", password: PASSWORD } })).status, 200)
}

/** The page's own horizontal overflow: how much wider the document is than the viewport. */
function sidewaysScroll(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
}

/** Presses Tab until `control` has the focus (at most 40 times). */
async function tabTo(page: Page, control: Locator): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab")
    if (await control.evaluate((element) => element === document.activeElement)) return
  }
  assert.fail("the control takes focus from the keyboard")
}

describe("the webhooks page", { skip: withoutChromium }, () => {
  test("add an endpoint and see its secret once, see a sign-in delivered, remove it after confirming", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url })
    try {
      const page = await signIn(context)
      const token = await server.adminToken()
      await page.getByRole("link", { name: "Webhooks" }).click()
      await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor()
      await page.getByText("No endpoints yet").waitFor()

      const target = `${hooksUrl}/ok`
      await page.getByRole("textbox", { name: "URL" }).fill(target)
      await page.getByRole("button", { name: "Add endpoint" }).click()
      await page.getByRole("alert").filter({ hasText: "Choose at least one event type to send." }).waitFor()
      await page.getByRole("checkbox", { name: "Signed in login.succeeded" }).check()
      await page.getByRole("checkbox", { name: "Session signed out session.revoked" }).check()
      await page.getByRole("button", { name: "Add endpoint" }).click()

      const secretField = page.getByRole("textbox", { name: "Signing secret" })
      await secretField.waitFor()
      const secret = await secretField.inputValue()
      assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/)
      await page.getByText("Shown once.").waitFor()
      assert.equal(await page.evaluate(() => document.activeElement?.id), "secret-title", "focus moves to the secret")
      await page.getByRole("button", { name: "Copy secret" }).click()
      await page.getByRole("status").filter({ hasText: "Copied" }).waitFor()
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret)
      const listed = (await server.api("GET", "/admin/webhooks", { token })).body as Array<Record<string, unknown>>
      assert.deepEqual(listed.map((endpoint) => [endpoint.url, endpoint.events, endpoint.secret]), [[target, ["login.succeeded", "session.revoked"], undefined]])

      const card = page.getByRole("region", { name: target })
      await card.getByText("No deliveries yet").waitFor()
      assert.match(await card.innerText(), /Events\s+Signed in, Session signed out/)
      assert.equal(await sidewaysScroll(page), 0)
      await screenshot(page, "console-webhooks-secret")

      const delivered = arrival("/ok").body
      await carolSignsIn()
      assert.equal(JSON.parse(await delivered).type, "login.succeeded")
      // The server records the answer just after the receiver sends it: refresh until the page shows it.
      const row = card.locator('tbody tr[data-status="delivered"]')
      while ((await row.count()) === 0) await card.getByRole("button", { name: `Refresh the deliveries to ${target}` }).click()
      assert.match(await row.innerText(), /^Signed in\s+Delivered\s+HTTP 204\s+just now$/)
      await screenshot(page, "console-webhooks")

      // Shown once: a new visit has no secret.
      await page.reload()
      await card.getByRole("heading", { name: target }).waitFor()
      assert.equal(await secretField.count(), 0)
      assert.ok(!(await page.content()).includes(secret), "the secret is nowhere on the page")

      // Cancel keeps it; confirming removes it.
      const dialog = page.getByRole("dialog", { name: `Remove the endpoint ${target}?` })
      await card.getByRole("button", { name: `Remove ${target}` }).click()
      await dialog.getByRole("button", { name: "Cancel" }).click()
      await dialog.waitFor({ state: "detached" })
      assert.equal((await server.api("GET", "/admin/webhooks", { token })).body.length, 1)
      await card.getByRole("button", { name: `Remove ${target}` }).click()
      await screenshot(page, "console-webhooks-remove-confirm")
      await dialog.getByRole("button", { name: "Remove endpoint" }).click()
      await page.getByRole("status").filter({ hasText: `${target} is removed` }).waitFor()
      await page.getByText("No endpoints yet").waitFor()
      assert.deepEqual((await server.api("GET", "/admin/webhooks", { token })).body, [])
    } finally {
      await context.close()
    }
  })

  test("at 390 px in the dark scheme, keyboard alone: add an endpoint, see its failed attempt retrying, remove it; no sideways scroll", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark" })
    try {
      const page = await signIn(context)
      await page.goto(`${server.url}/#/admin/webhooks`)
      await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor()

      const path = "/down/a-rather-long-path-for-a-narrow-screen-to-wrap"
      const target = `${hooksUrl}${path}`
      await tabTo(page, page.getByRole("textbox", { name: "URL" }))
      await page.keyboard.type(target)
      // The first event type is "Signed in"; back to the URL, Enter submits.
      await page.keyboard.press("Tab")
      await page.keyboard.press("Space")
      await page.keyboard.press("Shift+Tab")
      await page.keyboard.press("Enter")
      await page.getByRole("textbox", { name: "Signing secret" }).waitFor()
      await tabTo(page, page.getByRole("button", { name: "Copy secret" }))
      assert.notEqual(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle), "none", "focus is visible")
      assert.equal(await sidewaysScroll(page), 0, "the secret fits")
      await screenshot(page, "console-webhooks-phone-dark-secret")

      const attempted = arrival(path).body
      await carolSignsIn()
      await attempted
      const card = page.getByRole("region", { name: target })
      const row = card.locator('tbody tr[data-status="pending"]', { hasText: "Retrying" })
      const refresh = card.getByRole("button", { name: `Refresh the deliveries to ${target}` })
      while ((await row.count()) === 0) {
        await refresh.focus()
        await page.keyboard.press("Enter")
      }
      assert.match(await row.innerText(), /^Signed in\s+Retrying \(attempt 1, next try in 2 hours\)\s+HTTP 503\s+just now$/)
      assert.equal(await sidewaysScroll(page), 0, "the deliveries scroll in their own box")
      await screenshot(page, "console-webhooks-phone-dark")

      await page.reload()
      await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor()
      await tabTo(page, page.getByRole("button", { name: `Remove ${target}` }))
      await page.keyboard.press("Enter")
      const dialog = page.getByRole("dialog", { name: `Remove the endpoint ${target}?` })
      await dialog.waitFor()
      // Focus starts on Cancel; the confirming button is just before it.
      await page.keyboard.press("Shift+Tab")
      await page.keyboard.press("Enter")
      await page.getByRole("status").filter({ hasText: `${target} is removed` }).waitFor()
      assert.equal(await page.evaluate(() => document.activeElement?.id), "endpoints-title", "focus goes back to the list")
      assert.deepEqual((await server.api("GET", "/admin/webhooks", { token: await server.adminToken() })).body, [])
    } finally {
      await context.close()
    }
  })
})
