// Runs an example as a user would (`node examples/<name>.ts`, PORT=0) and waits for the URL it prints.
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export interface RunningExample {
  base: string
  /** Sends SIGTERM and resolves with the exit code once the process has shut down by itself. */
  stop(): Promise<number | null>
}

export function runExample(name: string, env: Record<string, string> = {}): Promise<RunningExample> {
  const file = fileURLToPath(new URL(`../../../../examples/${name}.ts`, import.meta.url))
  const child = spawn(process.execPath, [file], { env: { ...process.env, ...env, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM")
    return exited
  }
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(stdout)
      if (match) resolve({ base: match[1] as string, stop })
    })
    child.once("exit", (code) => reject(new Error(`examples/${name}.ts exited (${code}) before listening:\n${stderr}`)))
  })
}
