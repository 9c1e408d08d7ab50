import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { passwordProblem } from "../../src/server/password-policy.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const COMMON = /among the most common passwords/
const CLOSE = /too close to the username/

const commonPasswords = ["password", "password123", "12345678", "qwertyuiop", "iloveyou", "hunter22", "trustno1", "1q2w3e4r5t"]
const l33tVariants = ["P@ssw0rd", "P@ssw0rd!", "p@$$w0rd", "1l0v3y0u", "$unsh1n3", "f00tb@ll", "5up3rm@n", "ｐａｓｓｗｏｒｄ１２３"]
const nearCopiesOfAlice = ["alice2024", "Alice123!", "ALICE!!!", "ecila2024", "ecila-ecila", "alice-alice", "@l1c3_2024", "Alice_1990"]
const strong = [
  "correct horse battery staple",
  "a brand new passphrase",
  "alice in the garden of forking paths",
  "Xk9#mQ2vLp8$wR4nZ7bT",
  "q8v4n2xzr7kp0wsd3bmh",
  "🦊🐙🦉🐢🦔🐝🦜🐳",
  // 256 random-looking characters, the same on every run.
  [0, 1, 2, 3].map((part) => createHash("sha512").update(String(part)).digest("base64url")).join("").slice(0, 256),
]

/** The refusal's reason, checked not to repeat the password (unless it is a plain word the reason uses itself). */
async function refusal(password: string, username = "alice"): Promise<string> {
  const problem = await passwordProblem(password, username)
  assert.ok(problem !== null, `${JSON.stringify(password)} was accepted`)
  if (!/^[a-z]+$/.test(password)) assert.ok(!problem.includes(password), `the reason repeats the password: ${problem}`)
  return problem
}

describe("passwordProblem (NIST SP 800-63B)", () => {
  test("refuses the most common passwords, saying so", async () => {
    for (const password of commonPasswords) assert.match(await refusal(password), COMMON, password)
  })

  test("refuses l33t spellings and full-width forms of common passwords, saying so", async () => {
    for (const password of l33tVariants) assert.match(await refusal(password), COMMON, password)
  })

  test("refuses the username dressed up: digits, symbols, case, repetition, reversal, l33t", async () => {
    for (const password of nearCopiesOfAlice) assert.match(await refusal(password), CLOSE, password)
    assert.match(await refusal("dana2024!", "dana@example.com"), CLOSE, "a part of an e-mail username")
  })

  test("refuses patterns a guesser tries early, naming the pattern", async () => {
    assert.match(await refusal("abcdefghij"), /too easy to guess\. Common character sequences/)
    assert.match(await refusal("qwertyuiop[]"), /too easy to guess\. Straight rows of keys/)
    assert.match(await refusal("Summer2024!"), /too easy to guess/)
  })

  test("accepts long passphrases and random strings, with no composition rule", async () => {
    for (const password of strong) assert.equal(await passwordProblem(password, "alice"), null, password)
  })

  test("counts length in code points after NFKC: 8 emoji pass, 7 do not, decomposed accents count once", async () => {
    assert.equal(await passwordProblem("🦊🐙🦉🐢🦔🐝🦜🐳", "alice"), null)
    assert.match(await refusal("🦊🐙🦉🐢🦔🐝🦜"), /too short: it needs at least 8 characters/)
    assert.match(await refusal("e\u0301a\u0300o\u0302u\u0308"), /too short/, "4 letters in 8 code points")
    assert.match(await refusal("k7#Qz!2m".repeat(33)), /too long: at most 256 characters/)
  })
})

describe("the password policy on every way to set a password", () => {
  let server: TestServer

  before(async () => {
    server = await testServer()
  })

  after(async () => {
    await server.close()
  })

  test("POST /auth/register refuses a common password with 400 invalid_request and the reason; creates no account", async () => {
    const answer = await call(server.url, "POST", "/auth/register", { json: { username: "rita", password: "P@ssw0rd1" } })
    assert.equal(answer.status, 400)
    assert.equal(answer.body.error, "invalid_request")
    assert.match(answer.body.error_description, COMMON)
    assert.ok(!answer.text.includes("P@ssw0rd1"))
    assert.equal((await call(server.url, "POST", "/auth/login", { json: { username: "rita", password: "P@ssw0rd1" } })).status, 401)
  })

  test("POST /auth/register refuses a password built on the username, and takes a passphrase", async () => {
    const close = await call(server.url, "POST", "/auth/register", { json: { username: "Rosalind", password: "Rosalind1953!" } })
    assert.equal(close.status, 400)
    assert.equal(close.body.error, "invalid_request")
    assert.match(close.body.error_description, CLOSE)
    const created = await call(server.url, "POST", "/auth/register", { json: { username: "rosalind", password: PASSWORD } })
    assert.equal(created.status, 201)
  })

  test("POST /auth/password refuses a common new password and keeps the old one and the other sessions", async () => {
    const first = await signIn(server.url, "petra")
    const second = await signIn(server.url, "petra", PASSWORD, false)
    const change = await call(server.url, "POST", "/auth/password", { token: first.access_token, json: { current_password: PASSWORD, new_password: "sunshine1" } })
    assert.equal(change.status, 400)
    assert.equal(change.body.error, "invalid_request")
    assert.match(change.body.error_description, COMMON)
    assert.equal((await call(server.url, "GET", "/me", { token: second.access_token })).status, 200, "the other session lives")
    assert.equal((await signIn(server.url, "petra", PASSWORD, false)).token_type, "Bearer", "the old password still signs in")
    const petraCopy = await call(server.url, "POST", "/auth/password", { token: first.access_token, json: { current_password: PASSWORD, new_password: "artep-petra" } })
    assert.match(petraCopy.body.error_description, CLOSE)
    const changed = await call(server.url, "POST", "/auth/password", { token: first.access_token, json: { current_password: PASSWORD, new_password: "a brand new passphrase" } })
    assert.equal(changed.status, 200)
  })

  test("REVOCABLE_ADMIN_PASSWORD that is common stops the start with a ConfigError that says why", async () => {
    await assert.rejects(testServer({ REVOCABLE_ADMIN_PASSWORD: "letmein123" }), (error: Error & { variable?: string }) => {
      assert.equal(error.name, "ConfigError")
      assert.equal(error.variable, "REVOCABLE_ADMIN_PASSWORD")
      assert.match(error.message, COMMON)
      assert.ok(!error.message.includes("letmein123"))
      return true
    })
  })
})

describe("revocable users add", () => {
  const dir = mkdtempSync(join(tmpdir(), "revocable-password-"))
  const env = { REVOCABLE_DATA_DIR: dir }

  // The CLI works on the store `revocable serve` made: make it the same way.
  before(async () => {
    const config = loadConfig(cliEnv(env))
    const auth = createAuthFromConfig(config, await openStore(config))
    await auth.ready()
    await auth.close()
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  test("refuses a common password with the reason on stderr and creates nobody; a passphrase creates the user", async () => {
    const refused = await runCli(["users", "add", "carmen", "--password-stdin"], env, "iloveyou2\n")
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, COMMON)
    assert.ok(!refused.stderr.includes("iloveyou2"))
    const close = await runCli(["users", "add", "carmen", "--password-stdin"], env, "carmen-2024\n")
    assert.match(close.stderr, CLOSE)
    assert.equal((await runCli(["users", "list", "--json"], env)).stdout.includes("carmen"), false)
    const created = await runCli(["users", "add", "carmen", "--password-stdin"], env, `${PASSWORD}\n`)
    assert.equal(created.code, 0, created.stderr)
    assert.match(created.stdout, /^created user carmen /)
  })
})
