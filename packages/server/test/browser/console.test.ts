/// <reference lib="dom" />
// The web console in Chromium against the real server: sign-in, sessions, log out (here, everywhere), access
// tokens expiring under a controlled clock with several tabs open, and the admin pages. Screenshots of the main
// pages go to test-artifacts/.
import assert from "node:assert/strict"
import { after, afterEach, before, describe, mock, test } from "node:test"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { ADMIN_PASSWORD, atOnce, consoleServer, launchChromium, PASSWORD, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"

const ACCESS_TTL_S = 30

let server: ConsoleServer
let browser: Browser
const pageErrors: string[] = []

before(async () => {
  if (withoutChromium) return
  // The admin signs in more often than the default per-account limit allows in one window.
  server = await consoleServer({ REVOCABLE_ACCESS_TTL: `${ACCESS_TTL_S}s`, REVOCABLE_LEEWAY: "0s", REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
})
afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "no script error in the pages"))

async function sessionsOf(sub: string): Promise<Array<{ session_id: string; device: string }>> {
  const answer = await server.api("GET", `/admin/users/${sub}/sessions`, { token: await server.adminToken() })
  assert.equal(answer.status, 200)
  return answer.body
}

/** A device: its own cookies, storage and tabs. */
function device(name: string): Promise<BrowserContext> {
  return browser.newContext({ userAgent: name, viewport: { width: 1200, height: 800 } })
}

async function open(context: BrowserContext, hash = "#/account"): Promise<Page> {
  const page = await context.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  await page.goto(`${server.url}/${hash}`)
  return page
}

function heading(page: Page, name: string) {
  return page.getByRole("heading", { level: 1, name, exact: true })
}

async function signIn(context: BrowserContext, username: string, password = PASSWORD): Promise<Page> {
  const page = await open(context)
  await heading(page, "Sign in").waitFor()
  await page.getByLabel("Username").fill(username)
  await page.getByLabel("Password").fill(password)
  await page.getByRole("button", { name: "Sign in" }).click()
  await heading(page, "My account").waitFor()
  return page
}

function text(page: Page, selector: string): Promise<string> {
  return page.locator(selector).innerText()
}

describe("the web console", { skip: withoutChromium }, () => {
  test("register, see /me and the session, sign out; the next visit lands on the sign-in page; sign in from the keyboard", async () => {
    const context = await device("Laptop")
    try {
      const page = await open(context)
      await heading(page, "Sign in").waitFor()
      await screenshot(page, "console-sign-in")
      await page.getByRole("link", { name: "Create one" }).click()
      await heading(page, "Create an account").waitFor()
      await page.getByLabel("Username").fill("alice")
      await page.getByLabel("Password", { exact: true }).fill(PASSWORD)
      await page.getByLabel("Password again").fill(PASSWORD)
      await page.getByRole("button", { name: "Create account" }).click()
      await heading(page, "My account").waitFor()

      const me = await server.api("GET", "/admin/users?limit=1000", { token: await server.adminToken() })
      const alice = (me.body.items as Array<{ sub: string; username: string }>).find((user) => user.username === "alice")
      assert.ok(alice)
      await page.getByRole("heading", { name: "Signed in as alice" }).waitFor()
      const [session] = await sessionsOf(alice.sub)
      // No raw ids for the user: neither the session's nor the token's.
      assert.doesNotMatch(await page.locator("main").innerText(), new RegExp(session?.session_id ?? "no session"))
      const rows = page.locator("#sessions tbody tr")
      assert.equal(await rows.count(), 1)
      assert.match(await rows.first().innerText(), /Laptop\s*This device/)
      assert.equal(await page.getByRole("link", { name: "Users" }).isVisible(), false, "no admin pages for a user")
      await screenshot(page, "console-account")

      await page.getByRole("button", { name: "Sign out", exact: true }).first().click()
      await heading(page, "Sign in").waitFor()
      await page.getByText("You signed out.").waitFor()
      assert.deepEqual(await sessionsOf(alice.sub), [])

      await page.goto(`${server.url}/#/account`)
      await page.reload()
      await heading(page, "Sign in").waitFor()

      // Keyboard only: the username field has the focus, Tab moves on, Enter submits.
      await page.keyboard.type("alice")
      await page.keyboard.press("Tab")
      await page.keyboard.type(PASSWORD)
      await page.keyboard.press("Enter")
      await heading(page, "My account").waitFor()
      assert.equal((await sessionsOf(alice.sub)).length, 1)
    } finally {
      await context.close()
    }
  })

  test("a wrong password is refused with a message, and the form stays", async () => {
    await server.register("erin")
    const context = await device("Laptop")
    try {
      const page = await open(context)
      await page.getByLabel("Username").fill("erin")
      await page.getByLabel("Password").fill("not the password")
      await page.getByRole("button", { name: "Sign in" }).click()
      await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor()
      await heading(page, "Sign in").waitFor()
    } finally {
      await context.close()
    }
  })

  test("two devices: signing out everywhere on one signs the other out at its next call", async () => {
    await server.register("bob")
    const laptop = await device("Laptop")
    const phone = await device("Phone")
    try {
      const onLaptop = await signIn(laptop, "bob")
      const onPhone = await signIn(phone, "bob")
      await onLaptop.locator("#reload").click()
      await onLaptop.locator("#sessions caption").filter({ hasText: "2 sessions" }).waitFor()
      assert.match(await onLaptop.locator("#sessions tr.current").innerText(), /^Laptop/)

      // Asked first: Cancel keeps every session; confirming ends them.
      await onLaptop.getByRole("button", { name: "Sign out everywhere" }).click()
      await onLaptop.getByRole("dialog", { name: "Sign out everywhere?" }).getByRole("button", { name: "Cancel" }).click()
      assert.equal(await onLaptop.getByRole("dialog").count(), 0)
      await onLaptop.locator("#reload").click()
      await onLaptop.locator("#sessions caption").filter({ hasText: "2 sessions" }).waitFor()
      await onLaptop.getByRole("button", { name: "Sign out everywhere" }).click()
      await onLaptop.getByRole("dialog", { name: "Sign out everywhere?" }).getByRole("button", { name: "Sign out everywhere" }).click()
      await heading(onLaptop, "Sign in").waitFor()
      await onLaptop.getByText("You signed out on every device.").waitFor()

      assert.equal(await heading(onPhone, "My account").isVisible(), true, "the phone has not asked anything yet")
      await onPhone.locator("#reload").click()
      await heading(onPhone, "Sign in").waitFor()
      await onPhone.getByText("Your session has ended").waitFor()
      const refresh = await onPhone.evaluate(async () => (await fetch("/auth/refresh", { method: "POST", headers: { "x-csrf-token": /csrf_token=([^;]*)/.exec(document.cookie)?.[1] ?? "" } })).json())
      assert.equal(refresh.error, "token_revoked", "the phone's refresh cookie is dead too")
    } finally {
      await laptop.close()
      await phone.close()
    }
  })

  test("signing out another session from the list ends that session only", async () => {
    const sub = await server.register("olga")
    const laptop = await device("Laptop")
    const phone = await device("Phone")
    try {
      const onLaptop = await signIn(laptop, "olga")
      const onPhone = await signIn(phone, "olga")
      await onLaptop.locator("#reload").click()
      await onLaptop.getByRole("button", { name: "Sign out the session on Phone" }).click()
      await onLaptop.locator("#sessions caption").filter({ hasText: "1 session." }).waitFor()
      await onPhone.locator("#reload").click()
      await heading(onPhone, "Sign in").waitFor()
      const left = await sessionsOf(sub)
      assert.deepEqual(left.map((session) => session.device), ["Laptop"])
      await onLaptop.locator("#reload").click()
      await heading(onLaptop, "My account").waitFor()
    } finally {
      await laptop.close()
      await phone.close()
    }
  })

  test("changing the password signs the other sessions out and keeps this one", async () => {
    const sub = await server.register("pavel")
    const laptop = await device("Laptop")
    const phone = await device("Phone")
    try {
      const onLaptop = await signIn(laptop, "pavel")
      const onPhone = await signIn(phone, "pavel")
      // The email form has a current-password field of its own.
      const passwordForm = onLaptop.locator('form[aria-labelledby="password-title"]')
      await passwordForm.getByLabel("Current password").fill(PASSWORD)
      await passwordForm.getByLabel("New password").fill("a brand new passphrase")
      await onLaptop.getByRole("button", { name: "Change password" }).click()
      await onLaptop.getByRole("status").filter({ hasText: "Password changed; 1 other session was signed out." }).waitFor()
      await onPhone.locator("#reload").click()
      await heading(onPhone, "Sign in").waitFor()
      assert.deepEqual((await sessionsOf(sub)).map((session) => session.device), ["Laptop"])
    } finally {
      await laptop.close()
      await phone.close()
    }
  })

  test("access tokens expiring: the page keeps working across several expiries, three tabs refresh at once, and no refresh is taken for reuse", async () => {
    const sub = await server.register("carol")
    const context = await device("Laptop")
    const logins: string[] = []
    const refreshes: number[] = []
    context.on("request", (request) => {
      if (request.url().endsWith("/auth/login")) logins.push(request.url())
    })
    context.on("response", (response) => {
      if (response.url().endsWith("/auth/refresh")) refreshes.push(response.status())
    })
    mock.timers.enable({ apis: ["Date"], now: Date.now() })
    try {
      const first = await signIn(context, "carol")
      // The other tabs resume the session from the refresh cookie, one after the other.
      const tabs = [first, await open(context), await open(context)]
      for (const tab of tabs) await heading(tab, "My account").waitFor()
      const reusedBefore = await server.reuseDetected()

      for (let expiry = 1; expiry <= 3; expiry++) {
        const before = await Promise.all(tabs.map((tab) => tab.locator("#me-expires time").getAttribute("datetime")))
        const refreshed = refreshes.length
        mock.timers.tick((ACCESS_TTL_S + 1) * 1000)
        // Each tab makes two calls (/me and /auth/sessions) that both meet an expired token. Clicked from the
        // pages' scripts, all at once: Playwright's own clicks wait for animation frames, which background tabs
        // hardly get.
        await atOnce(tabs, (tab) =>
          tab.evaluate(async () => {
            await (window as unknown as { go: Promise<void> }).go
            document.getElementById("reload")?.click()
          }),
        )
        await Promise.all(
          tabs.map((tab, index) =>
            // A new token's expiry, or no account view at all (signed out): the assertions below tell which.
            tab.waitForFunction((old) => document.querySelector("#me-expires time")?.getAttribute("datetime") !== old, before[index] ?? null, { polling: 20 }),
          ),
        )
        for (const tab of tabs) assert.equal(await heading(tab, "My account").isVisible(), true, `expiry ${expiry}: still signed in`)
        assert.ok(refreshes.length > refreshed, `expiry ${expiry}: the tokens were refreshed`)
      }
      await screenshot(tabs[0] as Page, "console-account-after-refreshes")

      assert.deepEqual(
        refreshes.filter((status) => status !== 200),
        [],
        "every refresh succeeded",
      )
      assert.equal(await server.reuseDetected(), reusedBefore, "no refresh token was presented twice")
      assert.equal(logins.length, 1, "signed in once")
      assert.equal((await sessionsOf(sub)).length, 1, "the tabs share one session")
    } finally {
      mock.timers.reset()
      await context.close()
    }
  })

  test("an admin suspends a user: the user's open page is signed out at its next call, and the revocation is listed", async () => {
    const sub = await server.register("dave")
    const daves = await device("Dave's laptop")
    const admins = await device("Admin desk")
    try {
      const davePage = await signIn(daves, "dave")
      const adminPage = await signIn(admins, "admin", ADMIN_PASSWORD)
      await adminPage.getByRole("link", { name: "Users" }).click()
      await heading(adminPage, "Users").waitFor()
      await adminPage.getByRole("button", { name: "Suspend dave" }).click()
      await adminPage.getByLabel("Reason").fill("incident 42")
      await screenshot(adminPage, "console-users-suspend")
      await adminPage.getByRole("button", { name: "Suspend dave" }).last().click()
      await adminPage.getByRole("status").filter({ hasText: "dave is suspended" }).waitFor()
      await adminPage.locator('tr[data-user="dave"]').getByText("Suspended").waitFor()

      await davePage.locator("#reload").click()
      await heading(davePage, "Sign in").waitFor()
      await davePage.getByText("Your session has ended").waitFor()
      await davePage.getByLabel("Username").fill("dave")
      await davePage.getByLabel("Password").fill(PASSWORD)
      await davePage.getByRole("button", { name: "Sign in" }).click()
      await davePage.getByRole("alert").filter({ hasText: "This account is suspended." }).waitFor()

      // The revocations page, filtered to dave: the suspension, with its reason and actor.
      await adminPage.getByRole("link", { name: "Revocations" }).first().click()
      await heading(adminPage, "Revocations").waitFor()
      await adminPage.getByLabel("User", { exact: true }).fill("dave")
      await adminPage.getByLabel("Applies to", { exact: true }).first().selectOption("subject")
      await adminPage.getByRole("button", { name: "Filter" }).click()
      await adminPage.locator("#revocations caption").filter({ hasText: "of dave, applying to User" }).waitFor()
      const row = adminPage.locator(`#revocations tr[data-kind="subject"][data-id="${sub}"]`)
      assert.equal(await adminPage.locator("#revocations tbody tr").count(), 1)
      assert.match(await row.innerText(), /User\s+\S+\s+dave\s+incident 42\s+admin/)
      await screenshot(adminPage, "console-revocations")

      // Un-revoking a suspended user's revocation is refused until unsuspended.
      await row.getByRole("button", { name: /Un-revoke/ }).click()
      await adminPage.getByRole("dialog", { name: /^Un-revoke user / }).getByRole("button", { name: "Un-revoke" }).click()
      await adminPage.getByRole("alert").filter({ hasText: "The user is suspended: unsuspend first." }).waitFor()
      await adminPage.getByRole("link", { name: "Users" }).click()
      await adminPage.getByRole("button", { name: "Unsuspend dave" }).click()
      await adminPage.getByRole("status").filter({ hasText: "dave can sign in again" }).waitFor()
      await adminPage.getByRole("link", { name: "Revocations" }).first().click()
      await adminPage.getByLabel("User", { exact: true }).fill("dave")
      await adminPage.getByRole("button", { name: "Filter" }).click()
      // The filtered list first: a click on the unfiltered one could be wiped, status and all, by the reload.
      await adminPage.locator("#revocations caption").filter({ hasText: "of dave" }).waitFor()
      await row.getByRole("button", { name: /Un-revoke/ }).click()
      await adminPage.getByRole("dialog", { name: /^Un-revoke user / }).getByRole("button", { name: "Un-revoke" }).click()
      await adminPage.getByRole("status").filter({ hasText: "is no longer revoked" }).waitFor()
      assert.equal(await row.count(), 0)

      await davePage.getByRole("button", { name: "Sign in" }).click()
      await heading(davePage, "My account").waitFor()
    } finally {
      await daves.close()
      await admins.close()
    }
  })

  test("an admin revokes a token by its id alone, naming its owner, who is then refused with it", async () => {
    await server.register("gina")
    const login = await fetch(`${server.url}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "gina", password: PASSWORD }) })
    const { access_token: token } = (await login.json()) as { access_token: string }
    const jti = (JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as { jti: string }).jti
    const me = async () => ((await (await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { error?: string }).error
    assert.equal(await me(), undefined)
    const admins = await device("Admin desk")
    try {
      const adminPage = await signIn(admins, "admin", ADMIN_PASSWORD)
      await adminPage.getByRole("link", { name: "Revocations" }).first().click()
      await heading(adminPage, "Revocations").waitFor()
      // The owner is asked only of a token.
      assert.equal(await adminPage.locator("#revoke-owner").isVisible(), false)
      await adminPage.locator("#revoke-kind").selectOption("token")
      await adminPage.locator("#revoke-id").fill(jti)
      await adminPage.locator("#revoke-owner").fill("gina")
      await adminPage.getByRole("button", { name: "Revoke", exact: true }).click()
      await adminPage.getByRole("status").filter({ hasText: `Token ${jti} is revoked.` }).waitFor()
      assert.match(await adminPage.locator(`#revocations tr[data-kind="token"][data-id="${jti}"]`).innerText(), /gina/)
    } finally {
      await admins.close()
    }
    assert.equal(await me(), "token_revoked")
  })

  test("an admin lists a user's sessions and revokes one", async () => {
    const sub = await server.register("frank")
    const franks = await device("Frank's phone")
    const admins = await device("Admin desk")
    try {
      const frankPage = await signIn(franks, "frank")
      const adminPage = await signIn(admins, "admin", ADMIN_PASSWORD)
      await adminPage.getByRole("link", { name: "Users" }).click()
      await adminPage.getByRole("button", { name: "Open frank" }).click()
      await adminPage.getByRole("heading", { name: "User frank" }).waitFor()
      await adminPage.getByRole("button", { name: "Revoke the session on Frank's phone" }).click()
      await adminPage.getByText("No live session.").waitFor()
      assert.deepEqual(await sessionsOf(sub), [])
      await frankPage.locator("#reload").click()
      await heading(frankPage, "Sign in").waitFor()
    } finally {
      await franks.close()
      await admins.close()
    }
  })

  test("keys: rotating publishes the next key, which signs from its activation time; retiring the old one ends the sessions it signed, the admin's own included", async () => {
    const admins = await device("Admin desk")
    try {
      const page = await signIn(admins, "admin", ADMIN_PASSWORD)
      await page.getByRole("link", { name: "Keys" }).click()
      await heading(page, "Signing keys").waitFor()
      assert.equal(await page.locator("#keys tbody tr").count(), 1)
      const old = (await page.locator("#keys tbody tr").first().getAttribute("data-kid")) as string

      await page.getByRole("button", { name: "Rotate: publish a new key" }).click()
      await page.getByRole("status").filter({ hasText: "is published and signs new tokens from" }).waitFor()
      assert.equal(await page.locator("#keys tbody tr").count(), 2)
      assert.match(await page.locator(`#keys tr[data-kid="${old}"]`).innerText(), /Signing/)
      assert.match(await page.locator("#keys tbody tr").first().innerText(), /Next, signs from/)
      await screenshot(page, "console-keys")

      await page.getByRole("button", { name: `Retire key ${old}` }).click()
      await page.getByLabel("Reason").fill("key rotation drill")
      await page.getByRole("button", { name: `Retire ${old}` }).click()
      await heading(page, "Sign in").waitFor()
      await page.getByText("Your session has ended").waitFor()

      await page.getByLabel("Username").fill("admin")
      await page.getByLabel("Password").fill(ADMIN_PASSWORD)
      await page.getByRole("button", { name: "Sign in" }).click()
      // Back where the session ended, with tokens of the new key.
      await heading(page, "Signing keys").waitFor()
      await page.locator(`#keys tr[data-kid="${old}"]`).getByText("Retired").waitFor()
    } finally {
      await admins.close()
    }
  })
})
