// Throwaway Redis servers for tests: single servers and a 3-master Cluster on ports free at run time, through
// the system `redis-server` and `redis-cli`; and a TCP proxy that can cut one client off from Redis.
import { spawn, execFile, type ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { createClient } from "redis"

const run = promisify(execFile)
const started = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of started) child.kill("SIGKILL")
})

/** The shared Redis of the test environment. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

/** A prefix no other test uses. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`
}

/** Deletes every key of the stores made with these prefixes (they all carry the hash tag `{prefix}`). */
export async function deleteKeys(url: string, prefixes: Iterable<string>): Promise<void> {
  const client = createClient({ url })
  client.on("error", () => {})
  await client.connect()
  try {
    for (const prefix of prefixes) {
      const pattern = `{${prefix.replace(/[*?[\]\\]/g, "\\$&")}}*`
      for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        if (keys.length > 0) await client.del(keys)
      }
    }
  } finally {
    await client.close()
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })
}

/** A port free now (and, for Cluster nodes, its bus port + 10000 too). */
export async function freePort(withBus = false): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    if ((await canListen(port)) && (!withBus || (await canListen(port + 10_000)))) return port
  }
  throw new Error("No free port found.")
}

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** Starts (again) on the same port and data directory; resolves once it answers PING. */
  start(): Promise<void>
  /** Kills the process (SIGKILL by default) and resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Stops the process (SIGSTOP), as a stall or a partition would, and resolves once it is stopped. */
  pause(): Promise<void>
  /** Lets a paused process go on (SIGCONT) and resolves once it runs. */
  resume(): Promise<void>
  /** Runs redis-cli against it. */
  cli(...args: string[]): Promise<string>
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>
}

/** Starts a redis-server with these extra arguments (`--appendonly yes`, ...); persistence is off unless asked. */
export async function startRedis(args: string[] = [], options: { withBus?: boolean } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "revocable-redis-"))
  let port = await freePort(options.withBus)
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  async function launch(): Promise<boolean> {
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    child = proc
    started.add(proc)
    let output = ""
    proc.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
    proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
    exited = new Promise((resolve) => proc.once("exit", () => resolve()))
    let gone = false
    void exited.then(() => {
      gone = true
      started.delete(proc)
    })
    for (let i = 0; i < 500; i++) {
      if (gone) {
        if (/Address already in use|bind/i.test(output)) return false
        throw new Error(`redis-server exited: ${output.slice(-500)}`)
      }
      if (/Ready to accept connections/.test(output)) return true
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error("redis-server did not become ready.")
  }

  async function start(): Promise<void> {
    if (await launch()) return
    throw new Error(`Port ${port} is taken: redis-server could not restart on it.`)
  }

  for (let attempt = 0; !(await launch()); attempt++) {
    if (attempt > 5) throw new Error("redis-server could not find a free port.")
    port = await freePort(options.withBus)
  }

  /** Sends a job-control signal, then waits until the kernel reports the process stopped (state T) or not. */
  async function signal(name: "SIGSTOP" | "SIGCONT", stopped: boolean): Promise<void> {
    const proc = child
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) throw new Error("redis-server is not running.")
    proc.kill(name)
    const state = () => /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${proc.pid}/stat`, "utf8"))?.[1]
    for (let i = 0; (state() === "T") !== stopped; i++) {
      if (i > 500) throw new Error(`redis-server did not take ${name}.`)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    start,
    async kill(signal = "SIGKILL") {
      if (child && child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
    pause: () => signal("SIGSTOP", true),
    resume: () => signal("SIGCONT", false),
    async cli(...cliArgs) {
      const { stdout } = await run("redis-cli", ["-p", String(port), ...cliArgs])
      return stdout.trim()
    },
    async destroy() {
      await server.kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return server
}

export interface RedisCluster {
  readonly nodes: RedisServer[]
  readonly rootNodes: Array<{ url: string }>
  destroy(): Promise<void>
}

/** Starts three masters and joins them into a Cluster; resolves once every node reports cluster_state:ok. */
export async function startCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = []
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startRedis(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"], { withBus: true }))
    }
    await run("redis-cli", ["--cluster", "create", ...nodes.map((node) => `127.0.0.1:${node.port}`), "--cluster-replicas", "0", "--cluster-yes"])
    for (const node of nodes) {
      for (let i = 0; !(await node.cli("cluster", "info")).includes("cluster_state:ok"); i++) {
        if (i > 500) throw new Error("The cluster did not become ready.")
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  } catch (error) {
    for (const node of nodes) await node.destroy()
    throw error
  }
  return {
    nodes,
    rootNodes: nodes.map((node) => ({ url: node.url })),
    async destroy() {
      for (const node of nodes) await node.destroy()
    },
  }
}

export interface Proxy {
  readonly port: number
  readonly url: string
  /** How many connections clients have opened so far (while Redis is down: how often they tried). */
  readonly accepted: number
  /** Drops every connection and refuses new ones until `restore()`. */
  cut(): void
  restore(): void
  /** Resolves once a client sends `text` (up to 64 characters) towards Redis after this call: what a client did. */
  sent(text: string): Promise<void>
  close(): Promise<void>
}

const WATCHED = 64

/** A TCP proxy to a local port, to cut one client off from a Redis that stays up for the others. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>()
  const watches = new Set<{ text: string; resolve(): void }>()
  let isCut = false
  let accepted = 0
  const server: Server = createServer((client) => {
    accepted++
    if (isCut) {
      client.destroy()
      return
    }
    const upstream = createConnection(targetPort, "127.0.0.1")
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => {
        sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }
    // With the end of what came before, one character short of the text: text split across two chunks is
    // seen, text sent whole before the watch began is not.
    let tail = ""
    client.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1")
      for (const watch of watches) {
        if (((watch.text.length > 1 ? tail.slice(1 - watch.text.length) : "") + text).includes(watch.text)) {
          watches.delete(watch)
          watch.resolve()
        }
      }
      tail = (tail + text).slice(1 - WATCHED)
    })
    client.pipe(upstream)
    upstream.pipe(client)
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  })
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get accepted() {
      return accepted
    },
    cut() {
      isCut = true
      for (const socket of sockets) socket.destroy()
    },
    restore() {
      isCut = false
    },
    sent(text) {
      if (text.length > WATCHED) throw new Error(`Proxy.sent() watches for at most ${WATCHED} characters.`)
      return new Promise((resolve) => watches.add({ text, resolve }))
    },
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
