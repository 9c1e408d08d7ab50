// The SQLite data directory: made 0700 with every file in it 0600 (the database, its -wal and -shm, the generated
// key-encryption key) whatever the umask; wider ones found at start are logged as warnings.
import assert from "node:assert/strict"
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, test } from "node:test"
import { buildServer } from "../../src/server/app.ts"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"

const root = mkdtempSync(join(tmpdir(), "revocable-datadir-"))
after(() => rmSync(root, { recursive: true, force: true }))

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

test("the data directory is made 0700 and every file in it 0600, -wal and -shm included, under any umask", async () => {
  for (const umask of [0o000, 0o022, 0o277]) {
    const dataDir = join(root, `umask-${umask.toString(8)}`, "data")
    const previous = process.umask(umask)
    try {
      const config = loadConfig({ REVOCABLE_DATA_DIR: dataDir })
      const auth = createAuthFromConfig(config, await openStore(config))
      // A write, so that SQLite has made its -wal and -shm.
      await auth.verify((await auth.issue("alice")).accessToken)
      assert.deepEqual(readdirSync(dataDir).sort(), ["revocable.db", "revocable.db-shm", "revocable.db-wal", "revocable.db.kek"])
      for (const file of readdirSync(dataDir)) assert.equal(mode(join(dataDir, file)), "600", `${file} under umask ${umask.toString(8)}`)
      assert.equal(mode(dataDir), "700")
      assert.equal(mode(join(dataDir, "..")), "700", "a parent made on the way too")
      await auth.close()
    } finally {
      process.umask(previous)
    }
  }
})

test("a data directory and files left open to other users by an earlier version are logged as warnings at start", async () => {
  const dataDir = join(root, "wide")
  mkdirSync(dataDir, { mode: 0o755 })
  chmodSync(dataDir, 0o755)
  writeFileSync(join(dataDir, "revocable.db"), "")
  chmodSync(join(dataDir, "revocable.db"), 0o644)
  const lines: string[] = []
  const app = await buildServer(loadConfig({ REVOCABLE_DATA_DIR: dataDir }), { logger: { level: "info", stream: { write: (line: string) => lines.push(line) } } })
  await app.close()
  const warnings = lines.map((line) => JSON.parse(line) as { level: number; code?: string; msg: string }).filter((entry) => entry.code === "REVOCABLE_FILE_MODE")
  assert.deepEqual(
    warnings.map((entry) => [entry.level, entry.msg]),
    [
      [40, `The data directory ${dataDir} is open to other users (mode 0755): run chmod 700 ${dataDir}`],
      [40, `The data file ${join(dataDir, "revocable.db")} is open to other users (mode 0644): run chmod 600 ${join(dataDir, "revocable.db")}`],
    ],
  )
  // Left as found: the operator may have meant it.
  assert.equal(mode(dataDir), "755")

  chmodSync(dataDir, 0o700)
  chmodSync(join(dataDir, "revocable.db"), 0o600)
  lines.length = 0
  const quiet = await buildServer(loadConfig({ REVOCABLE_DATA_DIR: dataDir }), { logger: { level: "info", stream: { write: (line: string) => lines.push(line) } } })
  await quiet.close()
  assert.ok(!lines.some((line) => line.includes("REVOCABLE_FILE_MODE")), "no warning once they are private")
})
