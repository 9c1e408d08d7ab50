// Server processes as deployed: several on one store (SQLite file, PostgreSQL, Redis), and SIGTERM draining.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import { Pool } from "pg"
import { startProcess, stopProcess as stop } from "../helpers/process.ts"
import { deleteKeys, REDIS_URL } from "../../../revocable/test/helpers/redis.ts"
import { call, PASSWORD, signIn } from "../helpers/server.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
/** Every instance on one store shares its key-encryption key. */
const KEK = randomBytes(32).toString("base64")
const dir = mkdtempSync(join(tmpdir(), "revocable-serve-"))

after(() => rmSync(dir, { recursive: true, force: true }))

/** Polls until the token is refused where it was not revoked: the change travels through the store's feed. */
async function refusedOn(base: string, token: string): Promise<{ status: number; error: string }> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const me = await call(base, "GET", "/me", { token })
    if (me.status !== 200) return { status: me.status, error: me.body.error }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return { status: 200, error: "" }
}

async function logoutOnOneRefusedOnOther(env: Record<string, string>): Promise<void> {
  const one = await startProcess(env)
  const two = await startProcess(env)
  try {
    const pair = await signIn(one.url, `user_${randomBytes(3).toString("hex")}`)
    assert.equal((await call(two.url, "GET", "/me", { token: pair.access_token })).status, 200)
    const other = await call(two.url, "POST", "/auth/login", { json: { username: (await call(one.url, "GET", "/me", { token: pair.access_token })).body.username, password: PASSWORD } })
    assert.equal(other.status, 200)

    assert.equal((await call(one.url, "POST", "/auth/logout", { token: pair.access_token })).status, 204)
    assert.deepEqual(await refusedOn(two.url, pair.access_token), { status: 401, error: "token_revoked" })
    assert.equal((await call(two.url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).body.error, "token_revoked")
    assert.equal((await call(two.url, "GET", "/me", { token: other.body.access_token })).status, 200)

    assert.equal((await call(two.url, "POST", "/auth/logout-all", { token: other.body.access_token })).status, 204)
    assert.deepEqual(await refusedOn(one.url, other.body.access_token), { status: 401, error: "token_revoked" })
  } finally {
    await Promise.all([stop(one), stop(two)])
  }
}

describe("two server processes on one store: logout on one, the token is refused on the other", () => {
  test("on one SQLite file", async () => {
    await logoutOnOneRefusedOnOther({ REVOCABLE_STORE: `sqlite:${join(dir, "shared.db")}` })
  })

  test("on one PostgreSQL", async () => {
    const schema = `srv_${process.pid}_${randomBytes(4).toString("hex")}`
    const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 })
    try {
      await logoutOnOneRefusedOnOther({ REVOCABLE_STORE: POSTGRES_URL, REVOCABLE_STORE_NAMESPACE: schema, REVOCABLE_KEY_ENCRYPTION_KEY: KEK })
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    }
  })

  test("on one Redis", async () => {
    const prefix = `srv_${process.pid}_${randomBytes(4).toString("hex")}`
    try {
      await logoutOnOneRefusedOnOther({ REVOCABLE_STORE: REDIS_URL, REVOCABLE_STORE_NAMESPACE: prefix, REVOCABLE_KEY_ENCRYPTION_KEY: KEK })
    } finally {
      await deleteKeys(REDIS_URL, [prefix])
    }
  })
})

describe("SIGTERM", () => {
  test("drains: a request in flight completes, new connections are refused, the process exits 0", async () => {
    const server = await startProcess({ REVOCABLE_STORE: `sqlite:${join(dir, "drain.db")}` })
    await call(server.url, "POST", "/auth/register", { json: { username: "drainer", password: PASSWORD } })
    const target = new URL(server.url)
    const body = JSON.stringify({ username: "drainer", password: PASSWORD })
    const socket = connect(Number(target.port), target.hostname)
    await new Promise<void>((resolve) => socket.once("connect", resolve))
    let answer = ""
    socket.on("data", (chunk) => (answer += chunk))
    const closed = new Promise<void>((resolve) => socket.once("close", resolve))
    // Headers and half the body: the request is in flight until the rest arrives.
    socket.write(`POST /auth/login HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`)
    // Fastify logs "incoming request" once it has routed the request: from then on it is in flight.
    await server.logged((line) => line.msg === "incoming request" && (line.req as { url?: string } | undefined)?.url === "/auth/login")

    server.child.kill("SIGTERM")
    await server.logged((line) => line.signal === "SIGTERM")
    const refused = await fetch(`${server.url}/healthz`).then((response) => response.status, () => "refused")
    assert.ok(refused === "refused" || refused === 503, String(refused))

    socket.write(body.slice(10))
    await closed
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/)
    assert.match(answer, /"access_token":"/)
    assert.match(answer, /\r\nconnection: close\r\n/i)
    assert.equal(await server.exited, 0)
  })
})
