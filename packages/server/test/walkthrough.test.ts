// The curl walkthroughs of README.md and docs/server.md, run as they are written against a started server, so
// that they stay true: every block that talks to the server (`$B`), each document's blocks in one shell, with `B`
// pointed at the server. A comment that shows an answer (`# 204`, `# {"error":"token_revoked",…}`, `# HTTP/1.1 …`)
// must match what the commands printed, in order, "…" standing for anything.
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { after, test } from "node:test"
import { fileURLToPath } from "node:url"
import { cliEnv, finished, MAIN, type CliResult } from "./fixtures/cli-run.ts"

const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
const folders: string[] = []

after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

/** The document's ```sh blocks that use the server's base URL `$B`, joined into one script. */
function walkthrough(document: string): string {
  const blocks = [...readFileSync(join(ROOT, document), "utf8").matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] as string)
  return blocks.filter((block) => block.includes("$B")).join("\n")
}

/** The answers the script's comments show, as patterns: a comment holding JSON, an HTTP status line or a bare status. */
function shownAnswers(script: string): RegExp[] {
  const answers: RegExp[] = []
  for (const line of script.split("\n")) {
    const comment = /(?:^|\s)#\s+(.*)$/.exec(line)?.[1]?.trim()
    if (comment === undefined || !/^(\{|HTTP\/|\d{3}$)/.test(comment)) continue
    // A bare status is what `curl -w '%{http_code}\n'` prints, right after whatever the command before printed.
    if (/^\d{3}$/.test(comment)) answers.push(new RegExp(`${comment}\n`))
    else answers.push(new RegExp(comment.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[^\\n]*?")))
  }
  return answers
}

/** `revocable serve` on a new SQLite store and a free port; resolves its URL, its data directory and a stop. */
async function startServer(): Promise<{ url: string; dataDir: string; stop(): Promise<number | null> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "revocable-walkthrough-"))
  folders.push(dataDir)
  const child = spawn(process.execPath, [MAIN, "serve"], { env: cliEnv({ REVOCABLE_DATA_DIR: dataDir, REVOCABLE_PORT: "0" }), stdio: ["ignore", "pipe", "pipe"] })
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  let output = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
      const found = /"url":"(http:\/\/[^"]+)"/.exec(output)
      if (found) resolve(found[1] as string)
    })
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${output}`)))
  })
  return {
    url,
    dataDir,
    async stop() {
      child.kill("SIGTERM")
      return exited
    },
  }
}

/** Runs the script in bash, stopping at the first failing command; `revocable` is the repository's CLI. */
function bash(script: string, env: Record<string, string>): Promise<CliResult> {
  const path = [join(ROOT, "node_modules", ".bin"), process.env.PATH].join(delimiter)
  const environment = cliEnv({ ...env, NODE_OPTIONS: "--conditions=revocable-source", PATH: path })
  return finished(spawn("bash", ["-eo", "pipefail", "-c", script], { cwd: ROOT, env: environment, stdio: ["ignore", "pipe", "pipe"] }))
}

/** The README's ```sh block of CLI commands (`npm run revocable -- …`). */
function cliBlock(): string {
  const blocks = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] as string)
  const block = blocks.find((candidate) => candidate.startsWith("npm run revocable -- "))
  assert.ok(block, "README.md has a block of CLI commands")
  return block
}

test("the CLI block of README.md runs as written against the store of a started server", async () => {
  const script = cliBlock()
  const server = await startServer()
  try {
    // The block reads the password from password.txt in the current folder: made here, beside the data.
    const password = join(server.dataDir, "password.txt")
    writeFileSync(password, "correct horse battery staple\n", { mode: 0o600 })
    const result = await bash(script.replaceAll("< password.txt", `< ${password}`), { REVOCABLE_DATA_DIR: server.dataDir })
    assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
    for (const shown of [/created user alice/, /revoked every token of alice/, /laptop stolen/, /is published in the JWKS and signs from /, /Usage: revocable/]) {
      assert.match(result.stdout, shown)
    }
  } finally {
    assert.equal(await server.stop(), 0)
  }
})

for (const document of ["README.md", "docs/server.md"]) {
  test(`the curl walkthrough of ${document} runs as written and prints the answers its comments show`, async () => {
    const script = walkthrough(document)
    const base = /^B=http:\/\/(127\.0\.0\.1|localhost):8000$/m
    assert.match(script, base, "the walkthrough sets B to the default address")
    const answers = shownAnswers(script)
    assert.ok(answers.length >= 3, `${document} shows answers in its comments`)
    const server = await startServer()
    try {
      const result = await bash(script.replace(base, `B=${server.url}`), { REVOCABLE_DATA_DIR: server.dataDir })
      assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
      let from = 0
      for (const answer of answers) {
        const found = answer.exec(result.stdout.slice(from))
        assert.ok(found, `${answer} not printed after offset ${from} of:\n${result.stdout}`)
        from += found.index + found[0].length
      }
    } finally {
      assert.equal(await server.stop(), 0)
    }
  })
}
