// A throwaway PostgreSQL cluster on a free port, for tests that stop, crash, pause and restart the server mid-run,
// and a TCP proxy in front of it that a test can cut, stall or reset, to isolate one client while the server stays up.
import { execFile, execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer, connect, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

/** The bin directory of the newest PostgreSQL server installed under /usr/lib/postgresql, or null. */
export function postgresBinaries(): string | null {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return null
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, "bin", "pg_ctl")) && existsSync(join(root, name, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? null : join(root, versions[0], "bin")
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === "string") throw new Error("No port was assigned.")
  return address.port
}

export interface Cluster {
  port: number
  /** Connection string for the superuser `postgres`, database `postgres`. */
  url: string
  start(): Promise<void>
  /** "fast" closes connections cleanly; "immediate" is a crash: the next start replays the WAL. */
  stop(mode?: "fast" | "immediate"): Promise<void>
  /**
   * SIGSTOPs every process of the server, as a stalled host or a network partition behaves: the kernel still
   * accepts connections, nothing answers them. Until resume().
   */
  pause(): void
  resume(): void
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>
}

/**
 * Makes a cluster in a temporary directory (initdb) and starts it, with `settings` (`name=value`) besides the
 * usual ones. PostgreSQL refuses to run as root, so under root every command runs as the `postgres` user, which
 * owns the directory.
 */
export async function createCluster(bin: string, settings: readonly string[] = []): Promise<Cluster> {
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), "revocable-pg-"))
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString())
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString())
    chownSync(dir, uid, gid)
  }
  const data = join(dir, "data")
  const log = join(dir, "server.log")
  const port = await freePort()

  async function pg(command: string, args: string[]): Promise<void> {
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, command), ...args]] : [join(bin, command), args]
    try {
      await run(file, argv, { cwd: dir })
    } catch (error) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").slice(-2000) : ""
      throw new Error(`${command} ${args[0] ?? ""} failed: ${(error as Error).message}\n${tail}`)
    }
  }

  const options = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", "-c max_connections=50", "-c shared_buffers=16MB", ...settings.map((setting) => `-c ${setting}`)]
  const cluster: Cluster = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => pg("pg_ctl", ["start", "-D", data, "-l", log, "-w", "-t", "60", "-o", options.join(" ")]),
    stop: (mode = "fast") => pg("pg_ctl", ["stop", "-D", data, "-m", mode, "-w", "-t", "60"]),
    pause() {
      // The postmaster first, so that it starts no process once its children are listed.
      const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
      process.kill(postmaster, "SIGSTOP")
      for (const pid of childrenOf(postmaster)) process.kill(pid, "SIGSTOP")
    },
    resume() {
      const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
      for (const pid of [...childrenOf(postmaster), postmaster]) process.kill(pid, "SIGCONT")
    },
    async destroy() {
      await cluster.stop("immediate").catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  // --no-sync skips flushing initdb's own files: a crash of the server, not of the machine, is what tests make.
  await pg("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
  await cluster.start()
  return cluster
}

/** The processes whose parent is `pid` (each server process gets a session of its own, so not a process group). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8")
        // After "pid (command) state": the parent's pid. The command may hold spaces and parentheses.
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid
      } catch {
        return false // exited meanwhile
      }
    })
    .map(Number)
}

export interface Proxy {
  port: number
  /** Drops every connection through the proxy and refuses new ones, until restore(). */
  cut(): void
  /** Passes no byte either way on any connection, new ones too, as a server that stopped answering, until restore(). */
  stall(): void
  /**
   * Kills every connection open now on the server's side only: the client hears nothing until it next writes,
   * and is then reset (ECONNRESET), as after a failover or a NAT that forgot it. New connections pass.
   */
  reset(): void
  restore(): void
  /** Resolves when the next client connects (through the proxy, even stalled). */
  nextConnection(): Promise<void>
  close(): Promise<void>
}

export async function createProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>()
  /** Each client's connection to the server. */
  const pairs = new Map<Socket, Socket>()
  /** Clients whose server side reset() killed: they are left open. */
  const forgotten = new WeakSet<Socket>()
  let open = true
  let stalled = false
  const connecting: Array<() => void> = []
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => socket.destroy())
  }
  const server: Server = createServer((client) => {
    for (const connected of connecting.splice(0)) connected()
    track(client)
    if (!open) return void client.destroy()
    const upstream = connect(targetPort, "127.0.0.1")
    track(upstream)
    pairs.set(client, upstream)
    client.pipe(upstream).pipe(client)
    client.on("close", () => {
      pairs.delete(client)
      upstream.destroy()
    })
    upstream.on("close", () => {
      if (!forgotten.has(client)) client.destroy()
    })
    if (stalled) for (const socket of [client, upstream]) socket.pause()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("No port was assigned.")
  return {
    port: address.port,
    cut() {
      open = false
      for (const socket of sockets) socket.destroy()
    },
    stall() {
      stalled = true
      for (const socket of sockets) socket.pause()
    },
    reset() {
      for (const [client, upstream] of pairs) {
        pairs.delete(client)
        forgotten.add(client)
        client.unpipe(upstream)
        upstream.unpipe(client)
        upstream.destroy()
        client.once("data", () => client.resetAndDestroy())
        // unpipe() paused it: it must read to see the write.
        client.resume()
      }
    },
    nextConnection() {
      return new Promise((resolve) => connecting.push(resolve))
    },
    restore() {
      open = true
      if (stalled) for (const socket of sockets) socket.resume()
      stalled = false
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
