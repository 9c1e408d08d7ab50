/// <reference lib="dom" />
// The console's users page in Chromium: search, sort, a user's detail (sessions in words, relative times), roles,
// and deletion behind a confirmation; and the account page's sessions as their owner reads them.
import assert from "node:assert/strict"
import { after, afterEach, before, describe, test } from "node:test"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { ADMIN_PASSWORD, consoleServer, launchChromium, PASSWORD, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"

const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

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
afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "no script error in the pages"))

function device(userAgent: string): Promise<BrowserContext> {
  return browser.newContext({ userAgent, viewport: { width: 1280, height: 900 } })
}

async function signIn(context: BrowserContext, username: string, password = PASSWORD, hash = "#/account"): Promise<Page> {
  const page = await context.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  await page.goto(`${server.url}/${hash}`)
  await page.getByLabel("Username").fill(username)
  await page.getByLabel("Password").fill(password)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("heading", { level: 1, name: "My account" }).waitFor()
  return page
}

async function listed(page: Page): Promise<string[]> {
  return page.locator("#users tbody tr").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-user") ?? ""))
}

describe("the users page", { skip: withoutChromium }, () => {
  test("search by the start of a name, sort newest first, open a user, edit roles, delete after confirming", async () => {
    for (const name of ["karl", "karen", "bert"]) await server.register(name)
    const karls = await device(FIREFOX_LINUX)
    const admins = await device("Admin desk")
    try {
      const karlPage = await signIn(karls, "karl")
      const page = await signIn(admins, "admin", ADMIN_PASSWORD)
      await page.getByRole("link", { name: "Users" }).click()
      await page.getByRole("heading", { level: 1, name: "Users" }).waitFor()
      await page.locator('#users tr[data-user="bert"]').waitFor()

      await page.getByLabel("Sort").selectOption("created")
      await page.locator("#users caption").getByText("Accounts, newest first.").waitFor()
      assert.deepEqual((await listed(page)).slice(0, 3), ["bert", "karen", "karl"])

      await page.getByRole("searchbox", { name: "Username or email starts with" }).fill("KAR")
      await page.getByRole("button", { name: "Search" }).click()
      await page.locator("#users caption").getByText('whose username or email starts with "KAR"').waitFor()
      assert.deepEqual(await listed(page), ["karen", "karl"])
      await screenshot(page, "console-users-search")

      await page.getByRole("button", { name: "Open karl" }).click()
      await page.getByRole("heading", { name: "User karl" }).waitFor()
      const session = page.locator("#user-sessions tbody tr")
      assert.equal(await session.count(), 1)
      const row = await session.innerText()
      assert.match(row, /Firefox on Linux/)
      assert.match(row, /127\.0\.0\.1/)
      assert.match(row, /just now/)
      await screenshot(page, "console-user-detail")

      await page.getByRole("textbox", { name: "Roles", exact: true }).fill("support, billing")
      await page.getByRole("button", { name: "Save roles" }).click()
      await page.getByRole("status").filter({ hasText: "karl has the roles support, billing." }).waitFor()
      const karl = (await server.api("GET", "/admin/users?q=karl", { token: await server.adminToken() })).body.items[0]
      assert.deepEqual(karl.roles, ["support", "billing"])
      await page.locator('#users tr[data-user="karl"]').getByText("support, billing").waitFor()

      // Cancel changes nothing; confirming deletes.
      await page.getByRole("button", { name: "Delete karl" }).click()
      const dialog = page.getByRole("dialog", { name: "Delete karl?" })
      await dialog.waitFor()
      await screenshot(page, "console-user-delete-confirm")
      await dialog.getByRole("button", { name: "Cancel" }).click()
      await dialog.waitFor({ state: "detached" })
      assert.equal((await server.api("GET", `/admin/users/${karl.sub}`, { token: await server.adminToken() })).status, 200)
      await page.getByRole("button", { name: "Delete karl" }).click()
      await dialog.getByRole("button", { name: "Delete karl" }).click()
      await page.getByRole("status").filter({ hasText: "karl is deleted" }).waitFor()
      assert.deepEqual(await listed(page), ["karen"])
      assert.equal((await server.api("GET", `/admin/users/${karl.sub}`, { token: await server.adminToken() })).status, 404)

      // Karl's own page finds the session gone.
      await karlPage.locator("#reload").click()
      await karlPage.getByRole("heading", { level: 1, name: "Sign in" }).waitFor()
    } finally {
      await karls.close()
      await admins.close()
    }
  })

  test("the account page names devices in words, with relative times, marks this device, and shows no ids", async () => {
    const sub = await server.register("lena")
    const laptop = await device(FIREFOX_LINUX)
    const phone = await device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    try {
      await signIn(phone, "lena")
      const page = await signIn(laptop, "lena")
      const rows = page.locator("#sessions tbody tr")
      assert.equal(await rows.count(), 2)
      const text = await page.locator("#sessions").innerText()
      assert.match(text, /Firefox on Linux\s*This device/)
      assert.match(text, /Safari on iPhone/)
      assert.match(text, /just now/)
      const time = page.locator("#sessions tbody tr.current time").first()
      assert.ok((await time.getAttribute("title"))?.match(/\d/), "the exact time is in the tooltip")
      const sessions = (await server.api("GET", `/admin/users/${sub}/sessions`, { token: await server.adminToken() })).body as Array<{ session_id: string }>
      const main = await page.locator("main").innerText()
      for (const session of sessions) assert.ok(!main.includes(session.session_id), "no session id on the page")
      assert.ok(!main.includes(sub), "no user id on the page")
      await screenshot(page, "console-account-sessions")
    } finally {
      await laptop.close()
      await phone.close()
    }
  })
})
