// Chromium (Debian's package) driven by playwright-core, and the auth server it talks to: started in this
// process on a free port, on a SQLite file in a temporary directory; it serves the web console at `/`.
import assert from "node:assert/strict"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium, type Browser, type Page } from "playwright-core"
import { startServer, type RunningServer } from "../../src/server/app.ts"
import { loadConfig, type ServerConfig } from "../../src/server/config.ts"

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
export const ADMIN_PASSWORD = "admin password for the console tests"
export const PASSWORD = "correct horse battery staple"

/** Outside CI a machine without Chromium skips the browser tests; under CI they fail. */
export const withoutChromium: string | false =
  existsSync(CHROMIUM) || process.env.CI === "true" ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  })
}

export interface ConsoleServer extends RunningServer {
  config: ServerConfig
  /** A JSON call from outside the browser (set-up and checks); body undefined when empty. */
  api(method: string, path: string, options?: { json?: unknown; token?: string }): Promise<{ status: number; body: any }>
  /** Registers a user with PASSWORD; resolves their subject. */
  register(username: string): Promise<string>
  /** Logs the admin in; resolves an access token. */
  adminToken(): Promise<string>
  /** The server's count of refresh tokens taken for reuse (from /metrics). */
  reuseDetected(): Promise<number>
}

/** The server with an admin account ("admin"); `env` adds to the defaults fit for tests. */
export async function consoleServer(env: Record<string, string> = {}): Promise<ConsoleServer> {
  const dir = mkdtempSync(join(tmpdir(), "revocable-browser-"))
  const config = loadConfig({
    REVOCABLE_PORT: "0",
    REVOCABLE_STORE: `sqlite:${join(dir, "revocable.db")}`,
    REVOCABLE_LOG_LEVEL: "silent",
    REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    REVOCABLE_PURGE_INTERVAL: "off",
    ...env,
  })
  let server: RunningServer
  try {
    server = await startServer(config)
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  async function api(method: string, path: string, options: { json?: unknown; token?: string } = {}): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = {}
    if (options.json !== undefined) headers["content-type"] = "application/json"
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    const response = await fetch(server.url + path, { method, headers, ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }) })
    const text = await response.text()
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
  }
  return {
    ...server,
    config,
    api,
    async register(username) {
      const answer = await api("POST", "/auth/register", { json: { username, password: PASSWORD } })
      assert.equal(answer.status, 201)
      return answer.body.sub as string
    },
    async adminToken() {
      const answer = await api("POST", "/auth/login", { json: { username: "admin", password: ADMIN_PASSWORD } })
      assert.equal(answer.status, 200)
      return answer.body.access_token as string
    },
    async reuseDetected() {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      const line = text.split("\n").find((entry) => entry.startsWith("revocable_refresh_reuse_detected_total"))
      assert.ok(line !== undefined, "the metric is exported")
      return Number(line.split(" ").at(-1))
    },
    async close() {
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const ARTIFACTS = new URL("../../../../test-artifacts/", import.meta.url)

/** Saves a full-page screenshot as test-artifacts/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: new URL(`${name}.png`, ARTIFACTS).pathname, fullPage: true })
}

/**
 * Runs `action` in every page at one moment, to make tabs race: each action first awaits `window.go`, and one
 * BroadcastChannel message releases them all once every page is waiting on it. The pages share an origin and a
 * browser context.
 */
export async function atOnce<T>(pages: readonly Page[], action: (page: Page) => Promise<T>): Promise<T[]> {
  await Promise.all(
    pages.map((page) =>
      page.evaluate(() => {
        const channel = new BroadcastChannel("test:at-once")
        const go = new Promise<void>((resolve) => {
          channel.onmessage = () => {
            channel.close()
            resolve()
          }
        })
        const flags = window as unknown as { waiting: boolean }
        flags.waiting = false
        Object.defineProperty(window, "go", {
          configurable: true,
          get() {
            flags.waiting = true
            return go
          },
        })
      }),
    ),
  )
  const running = pages.map(action)
  await Promise.all(pages.map((page) => page.waitForFunction(() => (window as unknown as { waiting: boolean }).waiting, undefined, { polling: 10 })))
  await pages[0]?.evaluate(() => {
    const channel = new BroadcastChannel("test:at-once")
    channel.postMessage("go")
    channel.close()
  })
  return Promise.all(running)
}
