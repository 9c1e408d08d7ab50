// bin/revocable.js, the entry of `revocable`, `npm start` and `npm run revocable`: the Node.js version checked
// before anything loads, and a log that stays JSON.
import assert from "node:assert/strict"
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, test } from "node:test"
import { fileURLToPath } from "node:url"
import { cliEnv, finished, type CliResult } from "../fixtures/cli-run.ts"

const BIN = fileURLToPath(new URL("../../bin/revocable.js", import.meta.url))
const folders: string[] = []

after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

function emptyFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "revocable-entry-"))
  folders.push(folder)
  return folder
}

function run(node: string, args: readonly string[], cwd: string): Promise<CliResult> {
  return finished(spawn(node, ["--conditions=revocable-source", BIN, ...args], { cwd, env: cliEnv({}), stdio: ["ignore", "pipe", "pipe"] }))
}

/** A Node.js older than 24.7 on the PATH (Debian's is 20), or undefined. */
function olderNode(): string | undefined {
  let candidates: string[]
  try {
    candidates = execFileSync("which", ["-a", "node"], { encoding: "utf8" }).split("\n").filter((line) => line !== "")
  } catch {
    return undefined
  }
  return candidates.find((node) => {
    const [major = 0, minor = 0] = execFileSync(node, ["-p", "process.versions.node"], { encoding: "utf8" }).trim().split(".").map(Number)
    return major < 24 || (major === 24 && minor < 7)
  })
}

const OLD_NODE = olderNode()

test("on a Node.js older than 24.7 every command says which Node it needs and how to get it, and does nothing else", { skip: OLD_NODE === undefined && "no Node.js older than 24.7 on the PATH" }, async () => {
  const node = OLD_NODE as string
  const version = execFileSync(node, ["-p", "process.version"], { encoding: "utf8" }).trim()
  const folder = emptyFolder()
  for (const args of [["serve"], ["users", "list"], ["--version"]]) {
    const result = await run(node, args, folder)
    assert.equal(result.code, 1, args.join(" "))
    assert.equal(result.stdout, "")
    assert.ok(result.stderr.startsWith(`revocable needs Node.js 24.7 or later; this is ${version} (${node}).\n`), result.stderr)
    assert.match(result.stderr, /https:\/\/nodejs\.org\/ .*nvm install 24/)
    assert.match(result.stderr, /npm install brings it \(node_modules\/\.bin\/node\)/)
  }
  assert.deepEqual(readdirSync(folder), [], "no store was created")
})

test("on Node.js 24.7 or later the entry runs the CLI, from the sources under the revocable-source condition", async () => {
  const result = await run(process.execPath, ["--version"], emptyFolder())
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/)
})

test("serve through the entry writes only JSON lines, also once it has served the console's scripts (no ExperimentalWarning)", async () => {
  const folder = emptyFolder()
  const child = spawn(process.execPath, ["--conditions=revocable-source", BIN, "serve"], {
    cwd: folder,
    env: cliEnv({ REVOCABLE_PORT: "0", REVOCABLE_LOG_LEVEL: "info" }),
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
      const found = /"url":"(http:\/\/[^"]+)"/.exec(output)
      if (found) resolve(found[1] as string)
    })
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${output}`)))
  })
  for (const asset of ["console/entry.js", "console/shell.js"]) {
    const answer = await fetch(`${url}/assets/${asset}`)
    assert.equal(answer.status, 200, asset)
    await answer.arrayBuffer()
  }
  child.kill("SIGTERM")
  assert.equal(await exited, 0)
  const lines = output.split("\n").filter((line) => line !== "")
  for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`)
  assert.ok(lines.some((line) => line.includes("/assets/console/entry.js")), "the requests were logged")
})
