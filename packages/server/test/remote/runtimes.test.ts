// revocable/remote on the runtimes services run on (issue 15, point 4): Bun and Deno run a verifier script
// against a live server process: ready, a token verifies, its session is revoked, the token is refused.
// workerd, which runs a Worker rather than a script, has its own file: workerd.test.ts.
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { after, before, test } from "node:test"
import { finished } from "../fixtures/cli-run.ts"
import { signIn } from "../helpers/server.ts"
import { feedClient, startFeedServer, stop, type FeedServer } from "./helpers.ts"

const BIN = fileURLToPath(new URL("../../../../node_modules/.bin/", import.meta.url))
const SCRIPT = fileURLToPath(new URL("./fixtures/check.ts", import.meta.url))

let server: FeedServer
let credentials: { clientId: string; clientSecret: string }
before(async () => {
  server = await startFeedServer()
  credentials = await feedClient(server)
})
after(async () => {
  await stop(server)
  server.cleanup()
})

const RUNTIMES: Record<string, string[]> = {
  bun: [`${BIN}bun`, "run", SCRIPT],
  deno: [`${BIN}deno`, "run", "--allow-net", "--allow-env", "--no-config", SCRIPT],
}

for (const [name, [command, ...args]] of Object.entries(RUNTIMES)) {
  test(`${name}: ready, verify ok, revoke, refused`, async () => {
    const pair = await signIn(server.url, `${name}_user`)
    const child = spawn(command as string, args, {
      env: { ...process.env, ISSUER: server.url, ...{ CLIENT_ID: credentials.clientId, CLIENT_SECRET: credentials.clientSecret }, TOKEN: pair.access_token, ADMIN: server.admin, MODE: "auto", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    const result = await finished(child)
    assert.equal(result.code, 0, result.stderr)
    const seen = JSON.parse(result.stdout.trim().split("\n").at(-1) as string)
    assert.deepEqual({ ...seen, mode: undefined }, { before: "ok", revoke: 201, after: "token_revoked", mode: undefined })
  })
}
