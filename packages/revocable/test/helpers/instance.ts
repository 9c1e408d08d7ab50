// An application instance in its own OS process (test/fixtures/app.ts), driven over its stdin and stdout, that
// a test can pause (SIGSTOP), resume and kill, and whose clock can be skewed from the others'.
import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { createInterface } from "node:readline"

const APP = new URL("../fixtures/app.ts", import.meta.url).pathname
const SKEW = new URL("../fixtures/skew.ts", import.meta.url).pathname
const running = new Set<Instance>()
process.once("exit", () => {
  for (const instance of running) void instance.kill()
})

/** The store an instance opens: `["sqlite", path]`, `["redis", url, prefix]` or `["postgres", url, schema]`. */
export type StoreArgs = readonly [kind: "sqlite", path: string] | readonly [kind: "redis" | "postgres", url: string, namespace: string]

export interface InstanceOptions {
  /** How far this process's clock is ahead of the real one (negative: behind), in ms. */
  skewMs?: number
  /** createAuth options over the fixture's defaults (durations as strings, e.g. { reuseGrace: "1s" }). */
  auth?: Record<string, unknown>
}

export interface Instance {
  readonly pid: number
  /** Sends an operation; resolves its value, or rejects with an error carrying the AuthError's `code`. */
  call<T>(op: string, ...args: unknown[]): Promise<T>
  /** Stops the process (SIGSTOP) and resolves once the kernel reports it stopped. */
  pause(): Promise<void>
  resume(): void
  /** Ends its stdin (it closes its auth and exits) and resolves once it is gone. */
  stop(): Promise<void>
  /** Kills the process (SIGKILL), as a crash would, and resolves with the signal that ended it once it is gone. */
  kill(): Promise<NodeJS.Signals | null>
}

export function startInstance(store: StoreArgs, options: InstanceOptions = {}): Promise<Instance> {
  const execArgv = options.skewMs ? ["--import", SKEW] : []
  const child = spawn(process.execPath, [...execArgv, APP, ...store], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, REVOCABLE_TEST_SKEW_MS: String(options.skewMs ?? 0), REVOCABLE_TEST_AUTH: JSON.stringify(options.auth ?? {}) },
  })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)))
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  let nextId = 0
  const instance: Instance = {
    pid: child.pid as number,
    call<T>(op: string, ...args: unknown[]) {
      const id = ++nextId
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (value: unknown) => void, reject })
        child.stdin.write(`${JSON.stringify({ id, op, args })}\n`)
      })
    },
    async pause() {
      child.kill("SIGSTOP")
      // The signal is delivered asynchronously: the test must not act before the process has really stopped.
      while (!/^\d+ \(.*\) T/.test(await readFile(`/proc/${child.pid}/stat`, "utf8"))) await new Promise(setImmediate)
    },
    resume() {
      child.kill("SIGCONT")
    },
    async stop() {
      child.kill("SIGCONT")
      child.stdin.end()
      await exited
      running.delete(instance)
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      running.delete(instance)
      return exited
    },
  }
  running.add(instance)
  return new Promise<Instance>((resolve, reject) => {
    void exited.then(() => {
      running.delete(instance)
      const error = new Error(`The application process exited (${child.signalCode ?? child.exitCode}).`)
      reject(error)
      for (const pending of waiting.values()) pending.reject(error)
    })
    createInterface({ input: child.stdout }).on("line", (line) => {
      const message = JSON.parse(line) as { ready?: true; id: number; value?: unknown; error?: string; code?: string }
      if (message.ready) return resolve(instance)
      const pending = waiting.get(message.id)
      waiting.delete(message.id)
      if (message.error === undefined) pending?.resolve(message.value)
      else pending?.reject(Object.assign(new Error(message.error), { code: message.code }))
    })
  })
}
