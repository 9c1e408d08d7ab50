// What `revocable serve` and the other commands tell about their settings: a mistyped REVOCABLE_* variable, the
// port picked for REVOCABLE_PORT=0 in the issuer, where the console is and how to make the first admin.
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, test } from "node:test"
import { loadConfig } from "../../src/server/config.ts"
import { cliEnv, MAIN, runCli } from "../fixtures/cli-run.ts"

const PASSWORD = "correct horse battery staple"
const dir = mkdtempSync(join(tmpdir(), "revocable-settings-"))

after(() => rmSync(dir, { recursive: true, force: true }))

type Line = Record<string, unknown>

/** `revocable serve` on `env`, resolved once it listens, with its JSON log lines so far. */
async function startServe(env: Record<string, string>): Promise<{ lines: Line[]; url: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [MAIN, "serve"], { env: cliEnv({ REVOCABLE_LOG_LEVEL: "info", ...env }), stdio: ["ignore", "pipe", "pipe"] })
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  const lines: Line[] = []
  let buffered = ""
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const listening = await new Promise<Line>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk
      for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
        const line = JSON.parse(buffered.slice(0, newline)) as Line
        buffered = buffered.slice(newline + 1)
        lines.push(line)
        if (typeof line.console === "string") resolve(line)
      }
    })
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)))
  })
  return {
    lines,
    url: listening.url as string,
    async stop() {
      child.kill("SIGTERM")
      return exited
    },
  }
}

test("loadConfig warns of each REVOCABLE_* variable no setting reads, suggesting the nearest known name", () => {
  const config = loadConfig({
    REVOCABLE_ACESS_TTL: "5m",
    REVOCABLE_SESION_TTL: "1d",
    REVOCABLE_REGISTARTION: "closed",
    REVOCABLE_TOTALLY_UNRELATED_THING: "1",
    REVOCABLE_ACCESS_TTL: "10m",
    PORT: "9000",
    REVOCABLE_OIDC_RETURN_URLS: "https://app.example/",
    HOME_TTL: "x",
  })
  assert.equal(config.accessTtlMs, 600_000)
  assert.deepEqual(
    config.warnings.map((warning) => [warning.code, warning.message]),
    [
      ["REVOCABLE_UNKNOWN_SETTING", "REVOCABLE_ACESS_TTL is not a setting of revocable and is ignored: did you mean REVOCABLE_ACCESS_TTL?"],
      ["REVOCABLE_UNKNOWN_SETTING", "REVOCABLE_REGISTARTION is not a setting of revocable and is ignored: did you mean REVOCABLE_REGISTRATION?"],
      ["REVOCABLE_UNKNOWN_SETTING", "REVOCABLE_SESION_TTL is not a setting of revocable and is ignored: did you mean REVOCABLE_SESSION_TTL?"],
      ["REVOCABLE_UNKNOWN_SETTING", "REVOCABLE_TOTALLY_UNRELATED_THING is not a setting of revocable and is ignored (docs/server.md lists them)"],
    ],
  )
  assert.deepEqual(loadConfig({ REVOCABLE_PORT: "9000", REVOCABLE_CONFIG: "" }).warnings, [])
})

test("serve on REVOCABLE_PORT=0 logs the mistyped variable, the console's address and how to make an admin; its issuer names the bound port", async () => {
  const env = { REVOCABLE_DATA_DIR: dir, REVOCABLE_PORT: "0", REVOCABLE_ACESS_TTL: "5m" }
  const first = await startServe(env)
  try {
    const port = new URL(first.url).port
    assert.notEqual(port, "0")
    const warned = first.lines.find((line) => line.code === "REVOCABLE_UNKNOWN_SETTING")
    assert.equal(warned?.level, 40)
    assert.match(String(warned?.msg), /^REVOCABLE_ACESS_TTL is not a setting of revocable and is ignored: did you mean REVOCABLE_ACCESS_TTL\?$/)
    const listening = first.lines.find((line) => typeof line.console === "string")
    assert.equal(listening?.console, `${first.url}/`)
    assert.match(String(listening?.msg), new RegExp(`the web console is at ${first.url.replaceAll(".", "\\.")}/$`))
    assert.match(String(first.lines.find((line) => line.code === "REVOCABLE_NO_ADMIN")?.msg), /revocable users add NAME --role admin.*REVOCABLE_ADMIN_PASSWORD/)

    const issuer = `http://localhost:${port}`
    assert.equal(listening?.issuer, issuer)
    const metadata = (await (await fetch(`${first.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string; jwks_uri: string }
    assert.equal(metadata.issuer, issuer)
    assert.equal(metadata.jwks_uri, `${issuer}/.well-known/jwks.json`)
    const json = { "content-type": "application/json" }
    assert.equal((await fetch(`${first.url}/auth/register`, { method: "POST", headers: json, body: JSON.stringify({ username: "ivan", password: PASSWORD }) })).status, 201)
    const login = (await (await fetch(`${first.url}/auth/login`, { method: "POST", headers: json, body: JSON.stringify({ username: "ivan", password: PASSWORD }) })).json()) as { access_token: string }
    assert.equal(JSON.parse(Buffer.from(login.access_token.split(".")[1] as string, "base64url").toString()).iss, issuer)
  } finally {
    assert.equal(await first.stop(), 0)
  }

  assert.equal((await runCli(["users", "add", "root", "--role", "admin", "--password-stdin"], { REVOCABLE_DATA_DIR: dir }, PASSWORD)).code, 0)
  const second = await startServe({ REVOCABLE_DATA_DIR: dir, REVOCABLE_PORT: "0" })
  try {
    assert.equal(second.lines.find((line) => line.code === "REVOCABLE_NO_ADMIN" || line.code === "REVOCABLE_UNKNOWN_SETTING"), undefined)
  } finally {
    assert.equal(await second.stop(), 0)
  }
})

test("the other commands print the warning on stderr, before their answer", async () => {
  const result = await runCli(["users", "list", "--json"], { REVOCABLE_DATA_DIR: dir, REVOCABLE_REFRESH_TLL: "1d" })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(result.stderr, "warning: REVOCABLE_REFRESH_TLL is not a setting of revocable and is ignored: did you mean REVOCABLE_REFRESH_TTL?\n")
  assert.ok(JSON.parse(result.stdout))
})
