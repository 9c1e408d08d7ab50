// revocable/remote on Cloudflare's workerd (issue 15, point 4): a Worker (fixtures/worker.ts) keeps one verifier
// in a module global, in on-demand mode, and verifies each request's token against a live server with it; after
// the session is revoked, a later request is refused, while the feed's token and the JWKS are fetched only once.
// workerd runs JavaScript only: the worker and every module it loads are type-stripped (module.stripTypeScriptTypes,
// the transform Node applies to this repository's sources) into a temporary directory, keeping their .ts names
// so that their imports resolve unchanged, and each is listed in a Cap'n Proto config.
import assert from "node:assert/strict"
import { spawn, type ChildProcess } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { stripTypeScriptTypes } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join, posix, relative, resolve } from "node:path"
import { after, before, test } from "node:test"
import { fileURLToPath } from "node:url"
import { call, signIn } from "../helpers/server.ts"
import { claimsOf, feedClient, startFeedServer, stop, type FeedServer } from "./helpers.ts"

const REPOSITORY = fileURLToPath(new URL("../../../../", import.meta.url))
const WORKERD = join(REPOSITORY, "node_modules/.bin/workerd")
const WORKER = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))
// Static imports and re-exports, in code whose type-only imports are already gone.
const IMPORT = /^\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm

/** Strips `entry` and every module it imports into `dir`, at their paths in the repository; those paths, entry first. */
function stripModules(entry: string, dir: string): string[] {
  const names: string[] = []
  const visit = (file: string) => {
    const name = relative(REPOSITORY, file).split("\\").join(posix.sep)
    if (names.includes(name)) return
    names.push(name)
    const code = stripTypeScriptTypes(readFileSync(file, "utf8"))
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), code)
    for (const match of code.matchAll(IMPORT)) {
      const specifier = (match[1] ?? match[2]) as string
      if (!specifier.startsWith(".")) throw new Error(`${name} imports ${specifier}, which the Worker cannot load`)
      visit(resolve(dirname(file), specifier))
    }
  }
  visit(entry)
  return names
}

/** The config: the Worker on 127.0.0.1 (a port the kernel picks), allowed to reach loopback only (the server). */
function capnpConfig(modules: string[]): string {
  const listed = modules.map((name) => `(name = ${JSON.stringify(name)}, esModule = embed ${JSON.stringify(name)})`)
  const fromEnvironment = ["ISSUER", "CLIENT_ID", "CLIENT_SECRET", "POLL_INTERVAL"].map((name) => `(name = "${name}", fromEnvironment = "${name}")`)
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "verifier", worker = (
      modules = [${listed.join(", ")}],
      compatibilityDate = "2025-01-01",
      bindings = [${fromEnvironment.join(", ")}],
      globalOutbound = "loopback")),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "verifier")],
);
`
}

interface Workerd {
  child: ChildProcess
  url: string
  exited: Promise<void>
}

/** Starts workerd on `config`; resolves once its socket listens (the port comes on the control fd, 3). */
function startWorkerd(config: string, env: Record<string, string>): Promise<Workerd> {
  const child = spawn(WORKERD, ["serve", config, "--control-fd=3"], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  return new Promise((resolve, reject) => {
    let control = ""
    child.stdio[3]?.on("data", (chunk: Buffer) => {
      control += chunk.toString("utf8")
      const line = control.split("\n").find((entry) => entry.includes('"listen"'))
      if (line !== undefined) resolve({ child, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, exited })
    })
    child.once("error", reject)
    exited.then(() => reject(new Error(`workerd exited before it listened: ${stderr}`)))
  })
}

let server: FeedServer
let workerd: Workerd | undefined
let dir: string | undefined
before(async () => {
  server = await startFeedServer()
  const credentials = await feedClient(server)
  dir = mkdtempSync(join(tmpdir(), "revocable-workerd-"))
  const config = join(dir, "config.capnp")
  writeFileSync(config, capnpConfig(stripModules(WORKER, dir)))
  // Every verify polls (a 304 while nothing changed): the test need not wait out an interval.
  workerd = await startWorkerd(config, { ISSUER: server.url, CLIENT_ID: credentials.clientId, CLIENT_SECRET: credentials.clientSecret, POLL_INTERVAL: "0s" })
})
after(async () => {
  if (workerd !== undefined) {
    workerd.child.kill("SIGTERM")
    await workerd.exited
  }
  await stop(server)
  server.cleanup()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

interface WorkerAnswer {
  outcome: string
  mode: string
  revocations: number
  requests: Record<string, number>
}

const verifyInWorker = async (token: string): Promise<WorkerAnswer> => {
  const answer = await call(workerd!.url, "GET", "/", { token })
  assert.equal(answer.status, 200, answer.text)
  return answer.body as WorkerAnswer
}

test("workerd: one verifier in a module global serves request after request, and refuses a token on the request after its session is revoked", async () => {
  const pair = await signIn(server.url, "workerd_user")
  const first = await verifyInWorker(pair.access_token)
  assert.deepEqual({ ...first, requests: undefined }, { outcome: "ok", mode: "on-demand", revocations: 0, requests: undefined })
  // A later request, with no background work in between: the same verifier polls again inside it.
  const second = await verifyInWorker(pair.access_token)
  assert.equal(second.outcome, "ok")
  assert.equal(second.requests["/revocations"], (first.requests["/revocations"] ?? 0) + 1)

  const revoked = await call(server.url, "POST", "/admin/revocations", { token: server.admin, json: { kind: "session", id: claimsOf(pair.access_token).sid } })
  assert.equal(revoked.status, 201, revoked.text)
  const third = await verifyInWorker(pair.access_token)
  assert.deepEqual({ ...third, requests: undefined }, { outcome: "token_revoked", mode: "on-demand", revocations: 1, requests: undefined })
  // Discovery, the JWKS and the feed's token once, across the three requests.
  assert.deepEqual({ ...third.requests, "/revocations": undefined }, {
    "/.well-known/oauth-authorization-server": 1,
    "/.well-known/jwks.json": 1,
    "/oauth/token": 1,
    "/revocations": undefined,
  })
})
