/// <reference lib="dom" />
// Signing in with an OpenID Connect provider from the web console, in Chromium: the provider's button, the
// provider's own login page, back to the console signed in; the account's identities; a sign-in cancelled at
// the provider comes back to the console with a message, not to a JSON page; a session made by the provider says
// so, an admin sees the user's identities, and signing out ends the provider's session too.
import assert from "node:assert/strict"
import { after, afterEach, before, describe, test } from "node:test"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { ADMIN_PASSWORD, consoleServer, launchChromium, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from "../helpers/oidc-provider.ts"
import { freePort } from "../helpers/server.ts"

let server: ConsoleServer
let provider: TestProvider
let browser: Browser
const pageErrors: string[] = []

before(async () => {
  if (withoutChromium) return
  // The server's issuer is its own loopback URL: the callback registered at the provider must reach it.
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  provider = await startProvider([
    { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${base}/auth/oidc/test/callback`], post_logout_redirect_uris: [`${base}/`] },
  ])
  server = await consoleServer({
    REVOCABLE_HOST: "127.0.0.1",
    REVOCABLE_PORT: String(port),
    REVOCABLE_ISSUER: base,
    REVOCABLE_OIDC_TEST_ISSUER: provider.issuer,
    REVOCABLE_OIDC_TEST_CLIENT_ID: CLIENT_ID,
    REVOCABLE_OIDC_TEST_CLIENT_SECRET: CLIENT_SECRET,
  })
  assert.equal(server.url, base)
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
  await provider?.close()
})
afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "no script error in the pages"))

async function open(context: BrowserContext): Promise<Page> {
  const page = await context.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  await page.goto(`${server.url}/#/account`)
  await heading(page, "Sign in").waitFor()
  return page
}

function heading(page: Page, name: string) {
  return page.getByRole("heading", { level: 1, name, exact: true })
}

describe("signing in with a provider from the console", { skip: withoutChromium }, () => {
  test("the provider's button leads to its login page and back to the console, signed in, with the identity listed", async () => {
    provider.accounts.set("pat-at-provider", { email: "pat@example.com", email_verified: true })
    const context = await browser.newContext()
    try {
      const page = await open(context)
      await screenshot(page, "console-sign-in-providers")
      await page.getByRole("link", { name: "Sign in with Test" }).click()
      // The provider's own page (oidc-provider's dev login form), on the provider's origin.
      await page.waitForURL((url) => url.origin === provider.issuer)
      await page.locator("input[name=login]").fill("pat-at-provider")
      await page.locator("input[name=password]").fill("any")
      await page.locator("button[type=submit]").click()

      await heading(page, "My account").waitFor()
      assert.equal(new URL(page.url()).origin, server.url)
      await page.getByRole("heading", { name: "Signed in as pat@example.com" }).waitFor()
      const rows = page.locator("#identities tbody tr")
      assert.equal(await rows.count(), 1)
      assert.match(await rows.first().innerText(), /Test\s+pat@example\.com/)
      await page.getByRole("heading", { name: "Set a password" }).waitFor()
      await screenshot(page, "console-account-identities")

      // The only way in: the server refuses to unlink it, and the console says why.
      await page.getByRole("button", { name: "Unlink Test (pat@example.com)" }).click()
      await page.getByRole("alert").getByText("This is the only way to sign in to this account").waitFor()
      assert.equal(await rows.count(), 1)

      // With a password set, the identity may go.
      await page.getByLabel("New password").fill("a password for pat, at last")
      await page.getByRole("button", { name: "Set password" }).click()
      await page.getByText("Password set;").waitFor()
      await page.getByRole("heading", { name: "Change password" }).waitFor()
      await page.getByRole("button", { name: "Unlink Test (pat@example.com)" }).click()
      await page.getByText("No provider account is linked to this account.").waitFor()
    } finally {
      await context.close()
    }
  })

  test("a sign-in cancelled at the provider lands on the console's sign-in page with a message", async () => {
    const context = await browser.newContext()
    try {
      const page = await open(context)
      await page.getByRole("link", { name: "Sign in with Test" }).click()
      await page.waitForURL((url) => url.origin === provider.issuer)
      await page.getByRole("link", { name: /cancel/i }).click()

      await heading(page, "Sign in").waitFor()
      await page.getByRole("alert").getByText("The provider did not sign you in").waitFor()
      assert.equal(new URL(page.url()).hash, "#/account", "the error code is dropped from the URL once said")
      await screenshot(page, "console-sign-in-cancelled")
    } finally {
      await context.close()
    }
  })

  test("a session made by the provider says so, an admin sees the identity, and signing out ends the provider's session too", async () => {
    provider.accounts.set("quinn-at-provider", { email: "quinn@example.com", email_verified: true })
    const context = await browser.newContext()
    const admins = await browser.newContext()
    try {
      const page = await open(context)
      await page.getByRole("link", { name: "Sign in with Test" }).click()
      await page.waitForURL((url) => url.origin === provider.issuer)
      await page.locator("input[name=login]").fill("quinn-at-provider")
      await page.locator("input[name=password]").fill("any")
      await page.locator("button[type=submit]").click()
      await heading(page, "My account").waitFor()
      await page.locator("#sessions tr.current").getByText("Signed in with Test").waitFor()

      const adminPage = await open(admins)
      await adminPage.getByLabel("Username").fill("admin")
      await adminPage.getByLabel("Password").fill(ADMIN_PASSWORD)
      await adminPage.getByRole("button", { name: "Sign in" }).click()
      await heading(adminPage, "My account").waitFor()
      await adminPage.getByRole("link", { name: "Users" }).click()
      await adminPage.getByRole("button", { name: "Open quinn@example.com" }).click()
      await adminPage.getByRole("heading", { name: "User quinn@example.com" }).waitFor()
      assert.match(await adminPage.locator("table.identities tbody tr").innerText(), /Test\s+quinn@example\.com/)
      await adminPage.getByText("No password set: signs in through these providers only.").waitFor()
      await adminPage.getByText("Signed in with Test").waitFor()
      await screenshot(adminPage, "console-admin-user-identities")

      // Signing out goes through the provider's logout page, and back to the console.
      await page.locator("#signout").click()
      await page.waitForURL((url) => url.origin === provider.issuer)
      await page.getByRole("button", { name: /sign me out/i }).click()
      await page.waitForURL((url) => url.origin === server.url)
      await heading(page, "Sign in").waitFor()
      // The provider's session ended with it: its button leads to its login form again.
      await page.getByRole("link", { name: "Sign in with Test" }).click()
      await page.waitForURL((url) => url.origin === provider.issuer)
      await page.locator("input[name=login]").waitFor()
    } finally {
      await admins.close()
      await context.close()
    }
  })
})
