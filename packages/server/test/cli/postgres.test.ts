import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { createServer } from "node:net"
import { userInfo } from "node:os"
import { after, test } from "node:test"
import pg from "pg"
import type { Auth } from "revocable"
import type { Revocation } from "revocable/stores"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"

const URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
// The shared default schema outlives a run: a per-run key-encryption key would lock the next run out of its keys.
const ENV = { REVOCABLE_STORE: URL, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" }
const opened: Auth[] = []

after(async () => {
  for (const auth of opened) await auth.close()
})

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

test("revoke --user on PostgreSQL reaches a running instance through LISTEN/NOTIFY", async () => {
  const config = loadConfig(cliEnv(ENV))
  const auth = createAuthFromConfig(config, await openStore(config))
  opened.push(auth)
  await auth.ready()
  const subject = `cli-pg-${randomBytes(6).toString("hex")}`
  const pair = await auth.issue(subject)
  const delivered = new Promise<Revocation>((resolve) => {
    const off = auth.on("revoked", (revocation) => {
      if (revocation.id !== subject) return
      off()
      resolve(revocation)
    })
  })

  const result = await runCli(["revoke", "--user", subject, "--reason", "incident", "--json"], ENV)
  assert.equal(result.code, 0, result.stderr)
  const revocation = JSON.parse(result.stdout) as Revocation
  assert.deepEqual([revocation.kind, revocation.id, revocation.actor], ["subject", subject, `cli:${userInfo().username}`])
  assert.equal((await delivered).id, subject)
  await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })

  const listed = await runCli(["revocations", "--user", subject, "--json"], ENV)
  assert.deepEqual((JSON.parse(listed.stdout) as { items: Revocation[] }).items.map((item) => item.reason), ["incident"])
  assert.equal((await runCli(["unrevoke", "subject", subject], ENV)).code, 0)
})

test("a PostgreSQL that refuses connections exits 1 with 'store unavailable', without the password of the URL", async () => {
  const port = await freePort()
  const result = await runCli(["revocations"], { REVOCABLE_STORE: `postgres://ops:hunter2-secret@127.0.0.1:${port}/test`, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" })
  assert.equal(result.code, 1)
  assert.equal(result.stdout, "")
  assert.match(result.stderr, new RegExp(`^revocable revocations: store unavailable: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n$`))
  assert.ok(!result.stderr.includes("hunter2"))
})

test("on a PostgreSQL schema no server has used, a command names the schema and creates nothing", async () => {
  const schema = `cli_none_${randomBytes(6).toString("hex")}`
  const env = { ...ENV, REVOCABLE_STORE_NAMESPACE: schema, REVOCABLE_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64") }
  const result = await runCli(["users", "list"], env)
  assert.equal(result.code, 1, result.stderr)
  assert.equal(result.stdout, "")
  assert.match(result.stderr, new RegExp(`^revocable users list: no store in the schema "${schema}" of postgres://\\S+: point it at the server's store with REVOCABLE_STORE and REVOCABLE_STORE_NAMESPACE, or --config FILE; only 'revocable serve' creates a store\\n$`))
  const client = new pg.Client({ connectionString: URL })
  await client.connect()
  try {
    assert.equal((await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rowCount, 0)
  } finally {
    await client.end()
  }
})
