import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, test } from "node:test"
import type { ServerStore } from "revocable/stores"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { userDirectory } from "../../src/server/user-directory.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-cli-audit-"))
const ENV = { REVOCABLE_DATA_DIR: dir }
let store: ServerStore
let aliceSub: string

const event = (type: string, subject: string | null, reason: string | null = null) => ({
  type,
  subject,
  actor: subject === null ? null : "admin",
  sessionId: null,
  ip: "192.0.2.7",
  userAgent: null,
  reason,
  details: '{"kind":"session"}',
})

before(async () => {
  const config = loadConfig(cliEnv(ENV))
  store = await openStore(config)
  const auth = createAuthFromConfig(config, store)
  await auth.ready()
  aliceSub = (await userDirectory(store, auth).create({ username: "alice", password: "correct horse battery staple" })).sub
  await auth.close()
  store = await openStore(config)
  await store.appendAudit(event("login.failed", aliceSub, "invalid_credentials"))
  await store.appendAudit(event("login.failed", "bob-sub", "invalid_credentials"))
  await store.appendAudit(event("session.revoked", aliceSub, "stolen laptop"))
  await store.appendAudit(event("key.rotated", null))
})
after(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

test("revocable audit --user --json: the user's events, newest first, details as JSON", async () => {
  const result = await runCli(["audit", "--user", "alice", "--json"], ENV)
  assert.equal(result.code, 0, result.stderr)
  const page = JSON.parse(result.stdout)
  assert.deepEqual(
    page.items.map((item: any) => [item.type, item.subject, item.reason]),
    [
      ["session.revoked", aliceSub, "stolen laptop"],
      ["login.failed", aliceSub, "invalid_credentials"],
    ],
  )
  assert.deepEqual(page.items[0].details, { kind: "session" })
  assert.equal(page.next, null)
})

test("revocable audit --type --since: a table of the matching events, and the command for the next page", async () => {
  const result = await runCli(["audit", "--type", "login.failed", "--since", "1h", "--limit", "1"], ENV)
  assert.equal(result.code, 0, result.stderr)
  const [header, row, more] = result.stdout.trim().split("\n")
  assert.match(header ?? "", /^AT\s+TYPE\s+SUBJECT\s+ACTOR\s+IP\s+REASON\s+DETAILS/)
  assert.match(row ?? "", /login\.failed\s+bob-sub\s+admin\s+192\.0\.2\.7\s+invalid_credentials/)
  assert.match(more ?? "", /^more: revocable audit --type login\.failed --since 1h --limit 1 --cursor \S+$/)
  const next = await runCli([...(more as string).slice("more: revocable ".length).split(" ")], ENV)
  assert.match(next.stdout, new RegExp(`login\\.failed\\s+${aliceSub}`))
  assert.doesNotMatch(next.stdout, /more:/)
  const future = await runCli(["audit", "--since", "2999-01-01T00:00:00Z"], ENV)
  assert.equal(future.stdout.trim(), "no events")
})

test("revocable audit refuses an unknown type or age with a usage error (exit 2)", async () => {
  for (const args of [["--type", "login.maybe"], ["--since", "yesterday"], ["--limit", "0"]]) {
    const result = await runCli(["audit", ...args], ENV)
    assert.equal(result.code, 2, args.join(" "))
    assert.match(result.stderr, /--(type|since|limit)/)
  }
})

test("a revocation made from the CLI is in the audit log, with the CLI's actor and reason", async () => {
  const revoked = await runCli(["revoke", "--user", "alice", "--reason", "offboarding"], ENV)
  assert.equal(revoked.code, 0, revoked.stderr)
  const result = await runCli(["audit", "--user", "alice", "--type", "subject.revoked", "--json"], ENV)
  assert.equal(result.code, 0, result.stderr)
  const [latest] = JSON.parse(result.stdout).items
  assert.equal(latest.type, "subject.revoked")
  assert.equal(latest.reason, "offboarding")
  assert.match(latest.actor, /^cli:/)
})
