// `revocable serve` in a process of its own (test/server/fixtures/serve.ts), configured by the environment a
// test gives it, with its JSON log lines at hand.
import assert from "node:assert/strict"
import { spawn, type ChildProcess } from "node:child_process"

const FIXTURE = new URL("../server/fixtures/serve.ts", import.meta.url).pathname
const children = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL")
})

export interface ServerProcess {
  url: string
  child: ChildProcess
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[]
  /** Resolves on the first log line that matches. */
  logged(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
  exited: Promise<number | null>
}

export async function startProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, REVOCABLE_PORT: "0", REVOCABLE_ISSUER: "http://issuer.test", REVOCABLE_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  children.add(child)
  const logs: Record<string, unknown>[] = []
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = []
  let stderr = ""
  let buffered = ""
  child.stderr?.on("data", (chunk) => (stderr += chunk))
  child.stdout?.on("data", (chunk) => {
    buffered += chunk
    let newline: number
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>
      buffered = buffered.slice(newline + 1)
      logs.push(line)
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(line)
        }
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => {
    children.delete(child)
    resolve(code)
  }))
  const logged = (match: (line: Record<string, unknown>) => boolean) => {
    const found = logs.find(match)
    if (found) return Promise.resolve(found)
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      waiters.push({ match, resolve })
      exited.then((code) => reject(new Error(`the server exited (${code}) first: ${stderr}`)))
    })
  }
  const ready = await logged((line) => typeof line.url === "string")
  return { url: ready.url as string, child, logs, logged, exited }
}

export async function stopProcess(server: ServerProcess): Promise<void> {
  server.child.kill("SIGTERM")
  assert.equal(await server.exited, 0)
}

