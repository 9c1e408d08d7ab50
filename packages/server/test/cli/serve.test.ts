import assert from "node:assert/strict"
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, test } from "node:test"
import { cliEnv, MAIN, runCli } from "../fixtures/cli-run.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-serve-"))
const children: ChildProcess[] = []

after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  rmSync(dir, { recursive: true, force: true })
})

async function listening(): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return server
}

async function freePort(): Promise<number> {
  const server = await listening()
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Starts `revocable serve` and resolves once it logs that it listens. */
async function startServe(env: Record<string, string>): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [MAIN, "serve"], { env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] })
  children.push(child)
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  let log = ""
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      log += chunk
      if (log.includes("revocable is listening on")) resolve()
    })
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (log += chunk))
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${log}`)))
  })
  return { child, exited }
}

test("serve runs the server on the CLI's store: a user added and a token revoked by the CLI take effect there", async () => {
  const port = await freePort()
  const env = { REVOCABLE_DATA_DIR: dir, PORT: String(port) }
  const { child, exited } = await startServe(env)
  const base = `http://127.0.0.1:${port}`
  const password = "correct horse battery staple"

  assert.equal((await runCli(["users", "add", "heidi", "--password-stdin"], env, password)).code, 0)
  const login = await fetch(`${base}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "heidi", password }),
  })
  assert.equal(login.status, 200)
  const { access_token: token } = (await login.json()) as { access_token: string }
  const me = () => fetch(`${base}/me`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal((await me()).status, 200)

  const revoked = await runCli(["revoke", "--token", "-"], env, token)
  assert.equal(revoked.code, 0, revoked.stderr)
  // The server learns of it through the SQLite change log, which it polls: wait for it, boundedly.
  const deadline = Date.now() + 10_000
  let answer = await me()
  while (answer.status === 200 && Date.now() < deadline) {
    await answer.arrayBuffer()
    answer = await me()
  }
  assert.equal(answer.status, 401)
  assert.equal(((await answer.json()) as { error: string }).error, "token_revoked")

  child.kill("SIGTERM")
  assert.equal(await exited, 0)
})

test("serve exits 1 with one line when a setting is invalid or the port is taken", async () => {
  const bad = await runCli(["serve"], { REVOCABLE_DATA_DIR: dir, REVOCABLE_PORT: "eighty" })
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /^revocable serve: REVOCABLE_PORT must be an integer from 0 to 65535\.\n$/)

  const taken = await listening()
  try {
    const { port } = taken.address() as { port: number }
    const result = await runCli(["serve"], { REVOCABLE_DATA_DIR: dir, PORT: String(port), REVOCABLE_LOG_LEVEL: "silent" })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /^revocable serve: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+\n$/m)
    assert.ok(!/^\s+at /m.test(result.stderr), result.stderr)
  } finally {
    taken.close()
  }
})
