// Starts the auth server on a free port for a test, on a memory store unless told otherwise, and small fetch
// helpers to drive it over real HTTP.
import { createServer } from "node:net"
import { startServer, type RunningServer, type ServerDeps } from "../../src/server/app.ts"
import { loadConfig, type ServerConfig } from "../../src/server/config.ts"
import { memoryStore } from "revocable/stores/memory"
import type { ServerStore } from "revocable/stores"

export interface TestServer extends RunningServer {
  config: ServerConfig
  store: ServerStore
}

export const PASSWORD = "correct horse battery staple"

/** `env` is added to defaults fit for tests (port 0, silent logs); a memory store made here is closed with the server. */
export async function testServer(env: Record<string, string> = {}, deps: ServerDeps = {}): Promise<TestServer> {
  const config = loadConfig({ REVOCABLE_PORT: "0", REVOCABLE_ISSUER: "http://issuer.test", REVOCABLE_LOG_LEVEL: "silent", ...env })
  const store = deps.store ?? memoryStore()
  const server = await startServer(config, { ...deps, store })
  return {
    ...server,
    config,
    store,
    async close() {
      await server.close()
      if (deps.store === undefined) await store.close()
    },
  }
}

/** A port free at this moment, for a server whose issuer must name its own URL (OAuth discovery). */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const { port } = probe.address() as { port: number }
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

export interface Answer {
  status: number
  headers: Headers
  body: any
  text: string
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; form?: Record<string, string>; token?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  let body: string | undefined = options.body
  if (options.json !== undefined) {
    headers["content-type"] = "application/json"
    body = JSON.stringify(options.json)
  } else if (options.form !== undefined) {
    headers["content-type"] = "application/x-www-form-urlencoded"
    body = new URLSearchParams(options.form).toString()
  }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const response = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  let parsed: unknown = undefined
  if (text !== "" && (response.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text)
  return { status: response.status, headers: response.headers, body: parsed, text }
}

/** Registers (when needed) and logs in; resolves the login answer's body. */
export async function signIn(base: string, username: string, password = PASSWORD, register = true) {
  if (register) {
    const created = await call(base, "POST", "/auth/register", { json: { username, password } })
    if (created.status !== 201) throw new Error(`register answered ${created.status}: ${created.text}`)
  }
  const login = await call(base, "POST", "/auth/login", { json: { username, password } })
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${login.text}`)
  return login.body as { access_token: string; refresh_token: string; session_id: string; expires_in: number; token_type: string }
}
