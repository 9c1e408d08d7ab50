import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { userDirectory } from "../../src/server/user-directory.ts"
import { cliEnv, runCli } from "../fixtures/cli-run.ts"

const PASSWORD = "correct horse battery staple"
const dir = mkdtempSync(join(tmpdir(), "revocable-cli-users-"))
const env = { REVOCABLE_DATA_DIR: dir }
after(() => rmSync(dir, { recursive: true, force: true }))

/** Runs `body` with the directory and core on the CLI's store, closed after. */
async function withStore<T>(body: (tools: { users: ReturnType<typeof userDirectory>; auth: ReturnType<typeof createAuthFromConfig> }) => Promise<T>): Promise<T> {
  const config = loadConfig(cliEnv(env))
  const store = await openStore(config)
  const auth = createAuthFromConfig(config, store)
  await auth.ready()
  try {
    return await body({ users: userDirectory(store, auth), auth })
  } finally {
    await auth.close()
  }
}

describe("revocable users roles and users delete", () => {
  test("roles --set replaces the roles, and the last admin keeps the role admin", async () => {
    await withStore(({ users }) => users.create({ username: "root", password: PASSWORD, roles: ["admin"] }).then(() => users.create({ username: "ivy", password: PASSWORD })))
    const set = await runCli(["users", "roles", "ivy", "--set", "support, billing"], env)
    assert.equal(set.code, 0, set.stderr)
    assert.match(set.stdout, /ivy \(sub [^)]+\) has roles support, billing/)
    const none = await runCli(["users", "roles", "ivy", "--set", "", "--json"], env)
    assert.deepEqual(JSON.parse(none.stdout).roles, [])

    const last = await runCli(["users", "roles", "root", "--set", ""], env)
    assert.equal(last.code, 1)
    assert.match(last.stderr, /last admin/)
    assert.equal((await runCli(["users", "roles", "ivy"], env)).code, 2, "--set is required")
    assert.equal((await runCli(["users", "roles", "ivy", "--set", "Not A Role"], env)).code, 1)
  })

  test("delete asks for confirmation: without a terminal it needs --yes; then the user and their tokens are gone", async () => {
    const pair = await withStore(async ({ users, auth }) => auth.issue((await users.create({ username: "jack", password: PASSWORD })).sub))
    const refused = await runCli(["users", "delete", "jack"], env)
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /give --yes/)
    assert.equal(await withStore(({ users }) => users.findByUsername("jack").then((user) => user?.username)), "jack")

    const deleted = await runCli(["users", "delete", "jack", "--yes"], env)
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.match(deleted.stdout, /deleted jack/)
    await withStore(async ({ users, auth }) => {
      assert.equal(await users.findByUsername("jack"), null)
      await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    })
    const audit = await runCli(["audit", "--type", "user.deleted", "--json"], env)
    assert.equal(audit.code, 0, audit.stderr)
    assert.match(audit.stdout, /user.deleted/)
    assert.doesNotMatch(audit.stdout, /jack/)
    assert.equal((await runCli(["users", "delete", "jack", "--yes"], env)).code, 1)
  })
})
