/// <reference lib="dom" />
// The audit log in the console, in Chromium against the real server: a user's recent security activity on the
// account page, and the admin Activity page with its filters.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import type { Browser, Page } from "playwright-core"
import { ADMIN_PASSWORD, consoleServer, launchChromium, PASSWORD, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"

let server: ConsoleServer
let browser: Browser
const pageErrors: string[] = []

before(async () => {
  if (withoutChromium) return
  server = await consoleServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
})

async function signIn(username: string, password: string, hash = "#/account"): Promise<Page> {
  const context = await browser.newContext({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  await page.goto(`${server.url}/#/account`)
  await page.getByLabel("Username").fill(username)
  await page.getByLabel("Password").fill(password)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("heading", { level: 1, name: "My account" }).waitFor()
  if (hash !== "#/account") await page.goto(`${server.url}/${hash}`)
  return page
}

describe("security activity in the console", { skip: withoutChromium }, () => {
  test("the account page lists the user's own refused and successful sign-ins, in plain words", async () => {
    assert.equal((await server.api("POST", "/auth/register", { json: { username: "olivia", password: PASSWORD } })).status, 201)
    assert.equal((await server.api("POST", "/auth/login", { json: { username: "olivia", password: "not her password" } })).status, 401)
    const page = await signIn("olivia", PASSWORD)
    const section = page.getByRole("region", { name: "Recent security activity" })
    const rows = section.getByRole("row")
    await rows.nth(2).waitFor()
    assert.match(await rows.nth(1).innerText(), /Signed in\s+olivia/)
    assert.match(await rows.nth(1).innerText(), /Firefox on Linux/)
    assert.match(await rows.nth(2).innerText(), /Sign-in refused[\s\S]*invalid_credentials/)
    await screenshot(page, "account-activity")
    assert.deepEqual(pageErrors.splice(0), [])
  })

  test("the admin Activity page filters by user and type", async () => {
    const page = await signIn("admin", ADMIN_PASSWORD, "#/admin/activity")
    await page.getByRole("heading", { level: 1, name: "Activity" }).waitFor()
    await page.getByLabel("User").fill("olivia")
    await page.getByLabel("What").selectOption({ label: "Sign-in refused" })
    await page.getByRole("button", { name: "Filter" }).click()
    const table = page.locator("#activity-log")
    await table.getByText('1 event about olivia, of type "Sign-in refused", newest first.').waitFor()
    const row = table.locator("tbody tr")
    assert.equal(await row.count(), 1)
    assert.equal(await row.getAttribute("data-type"), "login.failed")
    await screenshot(page, "admin-activity")
    assert.deepEqual(pageErrors.splice(0), [])
  })
})
