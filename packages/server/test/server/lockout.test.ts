// Sign-in limits that cannot lock the owner out (OWASP device cookies): failures only count; a client that signed
// in to the account before presents its device cookie or device_token and is limited on its own; every other
// client is limited per account and per IP. The flood comes from 50 real loopback addresses (127.0.0.2 and up).
import assert from "node:assert/strict"
import { request } from "node:http"
import { after, before, describe, test } from "node:test"
import { call, PASSWORD, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer

before(async () => {
  server = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "10", REVOCABLE_LOGIN_LIMIT_IP: "100" })
})
after(() => server.close())

interface Answer {
  status: number
  setCookie: string[]
  retryAfter: string | undefined
  body: any
}

/** A JSON POST sent from a given local address. */
function postFrom(localAddress: string, path: string, json: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const { port } = new URL(server.url)
  const body = JSON.stringify(json)
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: "127.0.0.1", port, path, method: "POST", localAddress, headers: { "content-type": "application/json", ...headers } }, (response) => {
      const chunks: Buffer[] = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString()
        const retryAfter = response.headers["retry-after"]
        resolve({ status: response.statusCode ?? 0, setCookie: response.headers["set-cookie"] ?? [], retryAfter: typeof retryAfter === "string" ? retryAfter : undefined, body: text === "" ? undefined : JSON.parse(text) })
      })
    })
    outgoing.on("error", reject)
    outgoing.end(body)
  })
}

const OWNER = "127.0.0.1"
const login = (username: string, password: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}, from = OWNER) =>
  postFrom(from, "/auth/login", { username, password, ...extra }, headers)

/** The device cookie of a sign-in answer, as a Cookie header. */
function deviceCookie(answer: Answer): string {
  const line = answer.setCookie.find((entry) => entry.startsWith("device_"))
  assert.ok(line !== undefined, "a device cookie is set")
  return line.split(";")[0] as string
}

async function register(username: string): Promise<void> {
  assert.equal((await call(server.url, "POST", "/auth/register", { json: { username, password: PASSWORD } })).status, 201)
}

/** `count` wrong passwords for `username`, spread over 50 loopback addresses; resolves the statuses. */
async function flood(username: string, count: number): Promise<number[]> {
  const addresses = Array.from({ length: 50 }, (_, index) => `127.0.0.${index + 2}`)
  const perAddress = count / addresses.length
  const statuses = await Promise.all(
    addresses.map(async (address, index) => {
      const seen: number[] = []
      for (let attempt = 0; attempt < perAddress; attempt++) seen.push((await login(` ${username.toUpperCase()}`, `guess ${index}-${attempt}`, {}, {}, address)).status)
      return seen
    }),
  )
  return statuses.flat()
}

describe("a flood of failures on an account", () => {
  test("200 failures from 50 addresses: the owner's browser and token clients sign in at once; untrusted clients get 429", async () => {
    await register("owner")
    const browser = deviceCookie(await login("owner", PASSWORD))
    const tokenClient = (await login("owner", PASSWORD)).body.device_token as string
    const grant = await call(server.url, "POST", "/oauth/token", { form: { grant_type: "password", username: "owner", password: PASSWORD } })
    const grantClient = grant.body.device_token as string
    assert.equal(typeof grantClient, "string")

    const statuses = await flood("owner", 200)
    assert.equal(statuses.length, 200)
    assert.ok(statuses.every((status) => status === 401 || status === 429), String(statuses))

    const byCookie = await login("owner", PASSWORD, {}, { cookie: browser })
    assert.equal(byCookie.status, 200, "the browser that signed in before")
    assert.equal((await login("owner", PASSWORD, {}, { cookie: browser }, "127.0.0.2")).status, 200, "the same browser from an address of the flood")
    assert.equal((await login("owner", PASSWORD, { device_token: tokenClient })).status, 200, "the token client that signed in before")
    const regranted = await call(server.url, "POST", "/oauth/token", { form: { grant_type: "password", username: "owner", password: PASSWORD, device_token: grantClient } })
    assert.equal(regranted.status, 200, "the OAuth client that signed in before")

    for (const from of [OWNER, "127.0.0.2", "127.0.0.200"]) {
      const untrusted = await login("owner", PASSWORD, {}, {}, from)
      assert.equal(untrusted.status, 429, `an untrusted client from ${from}`)
      assert.equal(untrusted.body.error, "rate_limited")
      assert.ok(Number(untrusted.retryAfter) > 0)
    }
    const untrustedGrant = await call(server.url, "POST", "/oauth/token", { form: { grant_type: "password", username: "owner", password: PASSWORD } })
    assert.equal(untrustedGrant.status, 429)
  })

  test("a device credential counts only for its account, and only when its signature holds", async () => {
    await register("victim")
    await register("attacker")
    const attackers = await login("attacker", PASSWORD)
    await flood("victim", 50)
    const forged = `${"A".repeat(22)}.${"B".repeat(43)}`
    for (const device_token of [attackers.body.device_token as string, forged, "garbage"]) {
      assert.equal((await login("victim", PASSWORD, { device_token })).status, 429, device_token)
    }
    const renamed = deviceCookie(attackers).replace(/^device_[^=]+/, "device_x")
    assert.equal((await login("victim", PASSWORD, {}, { cookie: renamed })).status, 429)
  })

  test("the device cookie is HttpOnly, sent only to /auth/login, SameSite; cookie mode sets it beside the token cookies", async () => {
    await register("cookies")
    const answer = await login("cookies", PASSWORD, { cookie: true })
    assert.equal(answer.status, 200)
    assert.equal(answer.body.device_token, undefined, "cookie mode keeps it out of scripts' reach")
    const line = answer.setCookie.find((entry) => entry.startsWith("device_")) ?? ""
    assert.match(line, /; Path=\/auth\/login;/)
    assert.match(line, /; HttpOnly/)
    assert.match(line, /; SameSite=Strict/)
    assert.ok(answer.setCookie.some((entry) => entry.startsWith("access_token=")))
  })
})

describe("what counts", () => {
  test("successes never count: many sign-ins, then the limit of failures still applies in full", async () => {
    const strict = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "3" })
    try {
      await call(strict.url, "POST", "/auth/register", { json: { username: "frequent", password: PASSWORD } })
      const attempt = (password: string) => call(strict.url, "POST", "/auth/login", { json: { username: "frequent", password } })
      for (let signIn = 0; signIn < 12; signIn++) assert.equal((await attempt(PASSWORD)).status, 200, `sign-in ${signIn}`)
      assert.equal((await attempt("wrong one")).status, 401)
      assert.equal((await attempt("wrong two")).status, 401)
      assert.equal((await attempt(PASSWORD)).status, 200, "two failures of three")
      assert.equal((await attempt("wrong three")).status, 401)
      assert.equal((await attempt(PASSWORD)).status, 429, "three failures lock untrusted clients out")
    } finally {
      await strict.close()
    }
  })

  test("a trusted device that keeps failing is locked out on its own; other devices and untrusted clients are not", async () => {
    const strict = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "3" })
    try {
      await call(strict.url, "POST", "/auth/register", { json: { username: "shared", password: PASSWORD } })
      const attempt = (password: string, device_token?: string) =>
        call(strict.url, "POST", "/auth/login", { json: { username: "shared", password, ...(device_token === undefined ? {} : { device_token }) } })
      const first = (await attempt(PASSWORD)).body.device_token as string
      const second = (await attempt(PASSWORD)).body.device_token as string
      for (let failure = 0; failure < 3; failure++) assert.equal((await attempt("wrong", first)).status, 401)
      assert.equal((await attempt(PASSWORD, first)).status, 429)
      assert.equal((await attempt(PASSWORD, second)).status, 200)
      assert.equal((await attempt(PASSWORD)).status, 200, "the device's failures are not the account's")
    } finally {
      await strict.close()
    }
  })
})
