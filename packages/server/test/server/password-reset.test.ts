// Password recovery over HTTP, with real mail: the server sends through nodemailer to a real SMTP server on
// loopback, and the tests follow the link the message holds. Also the admin's reset (API and CLI), mail addresses
// and their verification, and the settings.
import assert from "node:assert/strict"
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { ConfigError, loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { userDirectory } from "../../src/server/user-directory.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"
import { linkToken, mailbox, type Mailbox } from "../helpers/mailbox.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const NEW_PASSWORD = "purple elephants juggle quietly"
const ADMIN_PASSWORD = "admin password for the reset tests"
const FROM = "Revocable <auth@revocable.test>"
/** Reset requests allowed per address (and sign-ins per account) in a window. */
const LIMIT = 3

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`
}

describe("password reset by mail", () => {
  let mail: Mailbox
  let server: TestServer

  before(async () => {
    mail = await mailbox()
    server = await testServer({
      REVOCABLE_SMTP_URL: mail.url,
      REVOCABLE_SMTP_FROM: FROM,
      REVOCABLE_LOGIN_LIMIT_ACCOUNT: String(LIMIT),
      REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    })
  })
  after(async () => {
    await server.close()
    await mail.close()
  })

  async function register(email: string | null): Promise<{ username: string; sub: string }> {
    const username = unique("user")
    const created = await call(server.url, "POST", "/auth/register", { json: { username, password: PASSWORD, ...(email === null ? {} : { email }) } })
    assert.equal(created.status, 201, created.text)
    return { username, sub: created.body.sub }
  }

  const askReset = (json: unknown) => call(server.url, "POST", "/auth/password-reset", { json })
  const confirm = (token: string, password: string) => call(server.url, "POST", "/auth/password-reset/confirm", { json: { token, new_password: password } })
  const login = (username: string, password: string) => call(server.url, "POST", "/auth/login", { json: { username, password } })

  test("the mailed link sets a new password once, revokes every session, and is recorded", async () => {
    const email = `${unique("alice")}@example.test`
    const { username, sub } = await register(email)
    const laptop = (await login(username, PASSWORD)).body
    const phone = (await login(username, PASSWORD)).body

    // Asked in another case: addresses are matched whatever their case.
    const asked = await askReset({ email: email.toUpperCase() })
    assert.equal(asked.status, 202)
    const message = await mail.next()
    assert.deepEqual(message.to, [email])
    assert.equal(message.from, "auth@revocable.test")
    assert.equal(message.subject, "Reset your password")
    assert.match(message.text, new RegExp(`account ${username}`))
    assert.match(message.text, /http:\/\/issuer\.test\/#\/reset\?token=/)
    const token = linkToken(message, "reset")

    // A password the policy refuses leaves the link usable.
    const weak = await confirm(token, "password1")
    assert.equal(weak.status, 400)
    assert.equal(weak.body.error, "invalid_request")

    const done = await confirm(token, NEW_PASSWORD)
    assert.equal(done.status, 200, done.text)
    assert.deepEqual(done.body, { username })

    for (const session of [laptop, phone]) {
      const me = await call(server.url, "GET", "/me", { token: session.access_token })
      assert.equal(me.status, 401)
      assert.equal(me.body.error, "token_revoked")
      const refreshed = await call(server.url, "POST", "/auth/refresh", { json: { refresh_token: session.refresh_token } })
      assert.equal(refreshed.status, 401)
    }
    assert.equal((await login(username, PASSWORD)).status, 401)
    assert.equal((await login(username, NEW_PASSWORD)).status, 200)

    const again = await confirm(token, "another fine passphrase here")
    assert.equal(again.status, 400)
    assert.equal(again.body.error, "invalid_request")
    assert.equal((await login(username, NEW_PASSWORD)).status, 200)

    const events = await server.store.listAudit({ subject: sub, type: "password.reset", limit: 10 })
    assert.equal(events.items.length, 1)
    assert.equal(events.items[0]?.actor, username)
    assert.deepEqual(JSON.parse(events.items[0]?.details ?? "null"), { method: "email" })
  })

  test("a request by username goes to the account's address", async () => {
    const email = `${unique("bea")}@example.test`
    const { username } = await register(email)
    assert.equal((await askReset({ username })).status, 202)
    const message = await mail.next()
    assert.deepEqual(message.to, [email])
    assert.equal((await confirm(linkToken(message, "reset"), NEW_PASSWORD)).status, 200)
    assert.equal((await login(username, NEW_PASSWORD)).status, 200)
  })

  test("an unknown address, an unknown name and an account without address get the same answer and no mail", async () => {
    const { username: noAddress } = await register(null)
    const before = mail.received.length
    const answers = [
      await askReset({ email: `${unique("nobody")}@example.test` }),
      await askReset({ username: unique("nobody") }),
      await askReset({ username: noAddress }),
    ]
    const email = `${unique("known")}@example.test`
    await register(email)
    const known = await askReset({ email })
    for (const answer of answers) {
      assert.equal(answer.status, known.status)
      assert.equal(answer.text, known.text)
    }
    // Mail leaves one message at a time, in the order asked: once the known address's is in, the others would be.
    const message = await mail.next()
    assert.deepEqual(message.to, [email])
    assert.equal(mail.received.length, before + 1)
  })

  test("an expired link is refused", async () => {
    const email = `${unique("carol")}@example.test`
    const { username } = await register(email)
    await askReset({ email })
    const token = linkToken(await mail.next(), "reset")
    // Its document dated past its expiry, as 30 minutes later.
    const id = createHash("sha256").update(token).digest("base64url")
    const text = await server.store.getDocument("password_resets", id)
    assert.ok(text !== null, "only the token's hash keys the stored link")
    assert.ok(!text.includes(token), "the token itself is not stored")
    await server.store.putDocument("password_resets", id, JSON.stringify({ ...JSON.parse(text), expiresAt: Date.now() - 1 }))
    const refused = await confirm(token, NEW_PASSWORD)
    assert.equal(refused.status, 400)
    assert.equal((await login(username, PASSWORD)).status, 200)
  })

  test("a link dies when the password changes in the meantime", async () => {
    const email = `${unique("dan")}@example.test`
    const { username } = await register(email)
    await askReset({ email })
    const token = linkToken(await mail.next(), "reset")
    const session = (await login(username, PASSWORD)).body
    const changed = await call(server.url, "POST", "/auth/password", { token: session.access_token, json: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
    assert.equal(changed.status, 200)
    assert.equal((await confirm(token, "yet another decent passphrase")).status, 400)
    assert.equal((await login(username, NEW_PASSWORD)).status, 200)
  })

  test("malformed requests get a clear 400", async () => {
    for (const json of [{}, { email: "" }, { username: "   " }, { email: "a@example.test", username: "a" }]) {
      const answer = await askReset(json)
      assert.equal(answer.status, 400, JSON.stringify(json))
      assert.equal(answer.body.error, "invalid_request")
    }
    for (const token of ["", "short", "x".repeat(43), "é".repeat(43)]) {
      const answer = await confirm(token, NEW_PASSWORD)
      assert.equal(answer.status, 400)
      assert.equal(answer.body.error, "invalid_request")
    }
  })

  test("requests are limited per address, known or not, and per IP", async () => {
    for (const email of [`${unique("erin")}@example.test`, `${unique("nobody")}@example.test`]) {
      for (let attempt = 0; attempt < LIMIT; attempt++) assert.equal((await askReset({ email })).status, 202)
      const limited = await askReset({ email: email.toUpperCase() })
      assert.equal(limited.status, 429)
      assert.equal(limited.body.error, "rate_limited")
      assert.ok(Number(limited.headers.get("retry-after")) > 0)
    }
  })

  test("an admin resets a password over the API: generated once, or given; sessions revoked; recorded", async () => {
    const { username, sub } = await register(null)
    const session = (await login(username, PASSWORD)).body
    const admin = (await login("admin", ADMIN_PASSWORD)).body.access_token as string

    const generated = await call(server.url, "POST", `/admin/users/${sub}/password`, { token: admin })
    assert.equal(generated.status, 200, generated.text)
    assert.equal(generated.headers.get("cache-control"), "no-store")
    assert.equal(generated.body.username, username)
    assert.match(generated.body.password, /^[A-Za-z0-9_-]{24}$/)
    assert.equal((await call(server.url, "GET", "/me", { token: session.access_token })).body.error, "token_revoked")
    assert.equal((await login(username, PASSWORD)).status, 401)
    assert.equal((await login(username, generated.body.password)).status, 200)

    const given = await call(server.url, "POST", `/admin/users/${sub}/password`, { token: admin, json: { password: NEW_PASSWORD, reason: "locked out, ticket 7" } })
    assert.equal(given.status, 200)
    assert.equal(given.body.password, undefined)
    assert.equal((await login(username, NEW_PASSWORD)).status, 200)

    const weak = await call(server.url, "POST", `/admin/users/${sub}/password`, { token: admin, json: { password: "password1" } })
    assert.equal(weak.status, 400)
    assert.equal((await call(server.url, "POST", "/admin/users/nobody/password", { token: admin })).status, 404)
    const user = (await login(username, NEW_PASSWORD)).body.access_token as string
    assert.equal((await call(server.url, "POST", `/admin/users/${sub}/password`, { token: user })).status, 403)

    const events = await server.store.listAudit({ subject: sub, type: "password.reset", limit: 10 })
    assert.deepEqual(
      events.items.map((event) => [event.actor, event.reason]),
      [
        ["admin", "locked out, ticket 7"],
        ["admin", "password reset by an admin"],
      ],
    )
  })
})

describe("mail addresses", () => {
  let mail: Mailbox
  let server: TestServer

  before(async () => {
    mail = await mailbox()
    server = await testServer({ REVOCABLE_SMTP_URL: mail.url, REVOCABLE_SMTP_FROM: "auth@revocable.test", REVOCABLE_EMAIL_VERIFICATION: "true" })
  })
  after(async () => {
    await server.close()
    await mail.close()
  })

  test("with verification on, an address gets reset links only once its link was opened", async () => {
    const username = unique("fay")
    const email = `${username}@example.test`
    const created = await call(server.url, "POST", "/auth/register", { json: { username, password: PASSWORD, email } })
    assert.equal(created.status, 201)
    const verification = await mail.next()
    assert.deepEqual(verification.to, [email])
    const token = linkToken(verification, "verify-email")

    assert.equal((await call(server.url, "POST", "/auth/password-reset", { json: { email } })).status, 202)
    const session = await signIn(server.url, username, PASSWORD, false)
    assert.deepEqual((await call(server.url, "GET", "/auth/email", { token: session.access_token })).body, { email, email_verified: false })

    const verified = await call(server.url, "POST", "/auth/email/verify", { json: { token } })
    assert.equal(verified.status, 200)
    assert.deepEqual(verified.body, { email, email_verified: true })
    assert.equal((await call(server.url, "POST", "/auth/email/verify", { json: { token } })).status, 400)

    assert.equal((await call(server.url, "POST", "/auth/password-reset", { json: { email } })).status, 202)
    const reset = await mail.next()
    assert.equal(reset.subject, "Reset your password", "the request made before verification sent nothing")
    assert.equal(mail.received.length, 2)
  })

  test("an address belongs to one account; changing it needs the password and verifies it anew", async () => {
    const email = `${unique("gus")}@example.test`
    const first = await signIn(server.url, unique("gus"))
    const second = await signIn(server.url, unique("hal"))
    const set = await call(server.url, "POST", "/auth/email", { token: first.access_token, json: { email, current_password: PASSWORD } })
    assert.equal(set.status, 200, set.text)
    assert.deepEqual(set.body, { email, email_verified: false, verification_sent: true })
    assert.deepEqual((await mail.next()).to, [email])

    const taken = await call(server.url, "POST", "/auth/email", { token: second.access_token, json: { email: email.toUpperCase(), current_password: PASSWORD } })
    assert.equal(taken.status, 400)
    assert.equal(taken.body.error, "invalid_request")
    const wrong = await call(server.url, "POST", "/auth/email", { token: second.access_token, json: { email: `${unique("x")}@example.test`, current_password: "not it" } })
    assert.equal(wrong.status, 401)
    const malformed = await call(server.url, "POST", "/auth/email", { token: second.access_token, json: { email: "not an address", current_password: PASSWORD } })
    assert.equal(malformed.status, 400)
    const registered = await call(server.url, "POST", "/auth/register", { json: { username: unique("ivy"), password: PASSWORD, email } })
    assert.equal(registered.status, 400)

    // Removed, the address is free for another account.
    const removed = await call(server.url, "POST", "/auth/email", { token: first.access_token, json: { email: null, current_password: PASSWORD } })
    assert.deepEqual(removed.body, { email: null, email_verified: false, verification_sent: false })
    assert.equal((await call(server.url, "POST", "/auth/email", { token: second.access_token, json: { email, current_password: PASSWORD } })).status, 200)
    assert.deepEqual((await mail.next()).to, [email])
  })
})

describe("without mail settings", () => {
  test("self-service reset is not offered: 501, and the offer says so", async () => {
    const server = await testServer()
    try {
      assert.deepEqual((await call(server.url, "GET", "/auth/password-reset")).body, { available: false, email_verification: false })
      const answer = await call(server.url, "POST", "/auth/password-reset", { json: { email: "a@example.test" } })
      assert.equal(answer.status, 501)
      assert.equal(answer.body.error, "not_configured")
    } finally {
      await server.close()
    }
  })

  test("settings that do not go together stop the start, naming the variable", () => {
    const refused = (env: Record<string, string>, variable: string) =>
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && error.variable === variable && !error.message.includes("secret"))
    refused({ REVOCABLE_SMTP_URL: "smtp://u:secret@mail.test" }, "REVOCABLE_SMTP_FROM")
    refused({ REVOCABLE_SMTP_FROM: "auth@revocable.test" }, "REVOCABLE_SMTP_URL")
    refused({ REVOCABLE_SMTP_URL: "http://u:secret@mail.test", REVOCABLE_SMTP_FROM: "auth@revocable.test" }, "REVOCABLE_SMTP_URL")
    refused({ REVOCABLE_SMTP_URL: "smtp://mail.test", REVOCABLE_SMTP_FROM: "not an address" }, "REVOCABLE_SMTP_FROM")
    refused({ REVOCABLE_EMAIL_VERIFICATION: "true" }, "REVOCABLE_EMAIL_VERIFICATION")
    refused({ REVOCABLE_PASSWORD_RESET_TTL: "10s" }, "REVOCABLE_PASSWORD_RESET_TTL")
    const config = loadConfig({ REVOCABLE_SMTP_URL: "smtps://u:p@mail.test:465", REVOCABLE_SMTP_FROM: "Auth <auth@revocable.test>", REVOCABLE_PASSWORD_RESET_TTL: "15m" })
    assert.deepEqual(config.smtp, { url: "smtps://u:p@mail.test:465", from: "Auth <auth@revocable.test>" })
    assert.equal(config.passwordResetTtlMs, 15 * 60_000)
  })
})

describe("revocable users reset-password", () => {
  const dir = mkdtempSync(join(tmpdir(), "revocable-reset-cli-"))
  const env = { REVOCABLE_DATA_DIR: dir }
  after(() => rmSync(dir, { recursive: true, force: true }))

  test("sets a password from stdin or prints a generated one, and revokes every token of the user", async () => {
    // The store the CLI opens: made here, as `revocable serve` would.
    const config = loadConfig(cliEnv(env))
    const store = await openStore(config)
    const auth = createAuthFromConfig(config, store)
    try {
      await auth.ready()
      const users = userDirectory(store, auth)
      const joan = await users.create({ username: "joan", password: PASSWORD })
      const pair = await auth.issue(joan.sub)

      // The CLI revokes in another process: this instance hears of it from the store's feed.
      const heard = new Promise<void>((resolve) => {
        const off = auth.on("revoked", (revocation) => {
          if (revocation.kind === "subject" && revocation.id === joan.sub) {
            off()
            resolve()
          }
        })
      })
      const given = await runCli(["users", "reset-password", "joan", "--password-stdin"], env, `${NEW_PASSWORD}\n`)
      assert.equal(given.code, 0, given.stderr)
      assert.match(given.stdout, /reset the password of joan .*every token revoked/)
      await heard
      await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
      await assert.rejects(users.authenticate("joan", PASSWORD), { code: "invalid_credentials" })
      assert.equal((await users.authenticate("joan", NEW_PASSWORD)).sub, joan.sub)

      const generated = await runCli(["users", "reset-password", "joan", "--json"], env)
      assert.equal(generated.code, 0, generated.stderr)
      const printed = JSON.parse(generated.stdout) as { sub: string; password: string }
      assert.equal(printed.sub, joan.sub)
      assert.equal((await users.authenticate("joan", printed.password)).sub, joan.sub)

      const weak = await runCli(["users", "reset-password", "joan", "--password-stdin"], env, "password1")
      assert.equal(weak.code, 1)
      assert.match(weak.stderr, /common/)
      const unknown = await runCli(["users", "reset-password", "nobody"], env)
      assert.equal(unknown.code, 1)
      assert.match(unknown.stderr, /no user nobody/)
    } finally {
      await auth.close()
    }
  })
})
