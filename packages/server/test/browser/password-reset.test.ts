/// <reference lib="dom" />
// Password recovery in Chromium, with real mail: "Forgot password?" on the sign-in page, the message received by a
// real SMTP server on loopback, its link opened as it is, a new password set, then signed in with it; the old one
// fails. And the admin's "Reset password" on the Users page.
import assert from "node:assert/strict"
import { after, afterEach, before, describe, test } from "node:test"
import type { Browser, Page } from "playwright-core"
import { ADMIN_PASSWORD, consoleServer, launchChromium, PASSWORD, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"
import { mailbox, type Mailbox } from "../helpers/mailbox.ts"
import { freePort } from "../helpers/server.ts"

const NEW_PASSWORD = "purple elephants juggle quietly"

let server: ConsoleServer
let browser: Browser
let mail: Mailbox
const pageErrors: string[] = []

before(async () => {
  if (withoutChromium) return
  mail = await mailbox()
  // The links in the mail name the issuer: the server's own address here.
  const port = await freePort()
  server = await consoleServer({
    REVOCABLE_PORT: String(port),
    REVOCABLE_ISSUER: `http://127.0.0.1:${port}`,
    REVOCABLE_SMTP_URL: mail.url,
    REVOCABLE_SMTP_FROM: "auth@revocable.test",
  })
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
  await mail?.close()
})
afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "no script error in the pages"))

async function open(url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
  const page = await context.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  await page.goto(url)
  return page
}

function heading(page: Page, name: string) {
  return page.getByRole("heading", { level: 1, name, exact: true })
}

async function signInWith(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel("Username").fill(username)
  await page.getByLabel("Password", { exact: true }).fill(password)
  await page.getByRole("button", { name: "Sign in" }).click()
}

describe("password recovery in the console", { skip: withoutChromium }, () => {
  test("forgot password: the mailed link sets a new password, the old one fails", async () => {
    await server.register("rosa")
    const email = "rosa@example.test"
    const token = (await server.api("POST", "/auth/login", { json: { username: "rosa", password: PASSWORD } })).body.access_token as string
    assert.equal((await server.api("POST", "/auth/email", { token, json: { email, current_password: PASSWORD } })).status, 200)

    const page = await open(`${server.url}/#/account`)
    await heading(page, "Sign in").waitFor()
    await page.getByRole("link", { name: "Forgot password?" }).click()
    await heading(page, "Reset your password").waitFor()
    await page.getByLabel("Email or username").fill(email)
    await page.getByRole("button", { name: "Send reset link" }).click()
    await page.getByRole("status").filter({ hasText: "check your mail" }).waitFor()
    await screenshot(page, "password-reset-asked")

    const message = await mail.next()
    assert.deepEqual(message.to, [email])
    const link = /http:\/\/\S+\/#\/reset\?token=[A-Za-z0-9_-]{43}/.exec(message.text)?.[0]
    assert.ok(link !== undefined, "the mail holds the console's link")

    const opened = await open(link)
    await heading(opened, "Choose a new password").waitFor()
    assert.ok(!opened.url().includes("token="), "the token leaves the address bar")
    await opened.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD)
    await opened.getByLabel("New password again").fill(NEW_PASSWORD)
    await opened.getByRole("button", { name: "Set password" }).click()
    await heading(opened, "Sign in").waitFor()
    await opened.getByRole("status").filter({ hasText: "Your password is set" }).waitFor()
    await screenshot(opened, "password-reset-done")

    await signInWith(opened, "rosa", PASSWORD)
    await opened.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor()
    await signInWith(opened, "rosa", NEW_PASSWORD)
    await heading(opened, "My account").waitFor()
    assert.equal((await server.api("GET", "/me", { token })).body.error, "token_revoked", "the session from before the reset is revoked")

    // The link worked once.
    const reused = await open(link)
    await reused.getByLabel("New password", { exact: true }).fill("another fine passphrase here")
    await reused.getByLabel("New password again").fill("another fine passphrase here")
    await reused.getByRole("button", { name: "Set password" }).click()
    await reused.getByRole("alert").filter({ hasText: "This link is not valid" }).waitFor()
  })

  test("an admin resets a password from the Users page, after confirming", async () => {
    await server.register("sami")
    const page = await open(`${server.url}/#/account`)
    await signInWith(page, "admin", ADMIN_PASSWORD)
    await heading(page, "My account").waitFor()
    await page.goto(`${server.url}/#/admin/users`)
    await page.getByRole("button", { name: "Reset the password of sami" }).click()
    const dialog = page.getByRole("dialog", { name: "Reset the password of sami?" })
    await dialog.getByRole("button", { name: "Reset password" }).click()
    const said = page.getByRole("status").filter({ hasText: "New password of sami" })
    await said.waitFor()
    const password = /New password of sami: (\S+)/.exec((await said.textContent()) ?? "")?.[1]
    assert.ok(password !== undefined)
    assert.equal((await server.api("POST", "/auth/login", { json: { username: "sami", password } })).status, 200)
    assert.equal((await server.api("POST", "/auth/login", { json: { username: "sami", password: PASSWORD } })).status, 401)
  })
})
