// A server process whose issuer is its own URL (discovery must name reachable endpoints), with an admin, a
// registered feed client, and a way to wait for a remote verifier's events.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { createConnection, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { RemoteVerifier, RemoteVerifierEvents } from "revocable/remote"
import { startProcess, type ServerProcess } from "../helpers/process.ts"
import { call, freePort, signIn } from "../helpers/server.ts"

export const ADMIN_PASSWORD = "the admin's long passphrase"

export interface FeedServer {
  process: ServerProcess
  url: string
  admin: string
  env: Record<string, string>
  dir: string
  cleanup(): void
}

/** A `revocable serve` process on its own SQLite data directory (or `env`'s store), with the admin signed in. */
export async function startFeedServer(env: Record<string, string> = {}, reuse?: { port: number; dir: string }): Promise<FeedServer> {
  const port = reuse?.port ?? (await freePort())
  const dir = reuse?.dir ?? mkdtempSync(join(tmpdir(), "revocable-remote-"))
  const url = `http://127.0.0.1:${port}`
  const fullEnv = {
    REVOCABLE_PORT: String(port),
    REVOCABLE_ISSUER: url,
    REVOCABLE_DATA_DIR: dir,
    REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000",
    REVOCABLE_LOGIN_LIMIT_IP: "1000",
    ...env,
  }
  const process = await startProcess(fullEnv)
  const admin = (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
  return { process, url, admin, env: fullEnv, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A confidential client allowed to read the feed, registered through the admin API. */
export async function feedClient(server: { url: string; admin: string }, scopes = ["revocations:read"]): Promise<{ clientId: string; clientSecret: string }> {
  const created = await call(server.url, "POST", "/admin/clients", { token: server.admin, json: { name: `verifier-${randomBytes(3).toString("hex")}`, scopes } })
  assert.equal(created.status, 201, created.text)
  return { clientId: created.body.client_id, clientSecret: created.body.client_secret }
}

export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString()) as Record<string, any>

/** Resolves on the verifier's next event of this kind that matches. */
export function nextEvent<E extends keyof RemoteVerifierEvents>(
  verifier: RemoteVerifier,
  event: E,
  match: (...args: RemoteVerifierEvents[E]) => boolean = () => true,
): Promise<RemoteVerifierEvents[E]> {
  return new Promise((resolve) => {
    const off = verifier.on(event, (...args) => {
      if (!match(...args)) return
      off()
      resolve(args)
    })
  })
}

/** The error code a verify rejects with, or "ok". */
export async function outcome(verifier: RemoteVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token)
    return "ok"
  } catch (error) {
    return (error as { code?: string }).code ?? String(error)
  }
}

export async function stop(server: FeedServer): Promise<void> {
  server.process.child.kill("SIGTERM")
  await server.process.exited
}

export interface Balancer {
  /** The address the verifiers and the servers' issuer name. */
  url: string
  /** The instances, by port, in order of preference: each connection goes to the first that accepts it. */
  route(ports: number[]): void
  close(): Promise<void>
}

/**
 * A TCP load balancer in front of several server instances, as a fleet is deployed: one issuer URL, each new
 * connection to the first instance that accepts it (a killed one refuses; a stopped one accepts and hangs, as a
 * partition looks). The verifier knows one address and reconnects to it; failing over is the balancer's part.
 */
export async function startBalancer(): Promise<Balancer> {
  let ports: number[] = []
  const sockets = new Set<Socket>()
  const connect = (client: Socket, candidates: number[]) => {
    const [port, ...rest] = candidates
    if (port === undefined) return void client.destroy()
    const upstream = createConnection(port, "127.0.0.1")
    let accepted = false
    // Refused: the next instance.
    upstream.once("error", () => accepted || connect(client, rest))
    upstream.once("connect", () => {
      accepted = true
      sockets.add(upstream)
      upstream.on("error", () => client.destroy())
      upstream.on("close", () => client.destroy())
      client.on("close", () => upstream.destroy())
      client.pipe(upstream)
      upstream.pipe(client)
    })
  }
  const server = createServer((client) => {
    sockets.add(client)
    client.on("error", () => {})
    client.on("close", () => sockets.delete(client))
    // Held until an instance accepts: nothing read from the client is lost meanwhile.
    client.pause()
    connect(client, ports)
  })
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)))
  return {
    url: `http://127.0.0.1:${port}`,
    route(next) {
      ports = next
    },
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
