// What every command gets: the process's streams and environment, the store opened lazily on the server's
// configuration, the actor recorded with its revocations, and the output helpers shared by all commands.
import { userInfo } from "node:os"
import { type Auth, AuthError } from "revocable"
import { loadConfig, type ServerConfig } from "../../server/config.ts"
import { audited, createAudit, type Audit } from "../../server/audit.ts"
import { auditView } from "../../server/routes/audit.ts"
import { createWebhooks, type Webhooks } from "../../server/webhooks/index.ts"
import { createAuthFromConfig } from "../../server/engine.ts"
import type { ServerStore } from "revocable/stores"
import { NoStore, openExistingStore } from "../store.ts"

export interface Io {
  env: NodeJS.ProcessEnv
  stdin: NodeJS.ReadStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export interface Runtime {
  config: ServerConfig
  store: ServerStore
  auth: Auth
  /** For the events a command records itself (user deletions, role changes); revocations are recorded by `auth`. */
  audit: Audit
  /** The webhook endpoints, and the outbox the audit's events go to (the servers' workers deliver them). */
  webhooks: Webhooks
}

export interface Context {
  io: Io
  /** Who the revocations made here are recorded as: "cli:<os user>". */
  actor: string
  /** Loads the configuration and opens the store, once; main closes it after the command. */
  runtime(): Promise<Runtime>
  /** Writes one line (or several) to stdout. */
  out(text: string): void
  /** Writes a note for the person at the terminal to stderr, so that stdout stays parseable. */
  note(text: string): void
}

/** An operational failure: exit status 1, with this message on stderr. */
export class CliError extends Error {
  override name = "CliError"
}

/** How long opening the store may take before the command gives up: a store down must not hang a script. */
const OPEN_TIMEOUT_MS = 15_000

export function createContext(io: Io, configFile: string | undefined): Context & { close(): Promise<void> } {
  let opening: Promise<Runtime> | undefined
  let opened: Runtime | undefined

  async function open(): Promise<Runtime> {
    const config = loadConfig(io.env, configFile === undefined ? {} : { file: configFile })
    for (const warning of config.warnings) io.stderr.write(`warning: ${warning.message}\n`)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`no answer within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS)
    })
    const connecting = connect(config)
    // Past the timeout nobody awaits it any more, and the process exits: its late failure is of no interest.
    connecting.catch(() => undefined)
    try {
      return await Promise.race([connecting, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async function connect(config: ServerConfig): Promise<Runtime> {
    let store: ServerStore
    try {
      store = await openExistingStore(config)
    } catch (cause) {
      throw cause instanceof NoStore ? new CliError(cause.message) : unavailable(cause)
    }
    // The CLI's revocations and key changes go to the audit log as the server's do; its lines stay off stdout.
    const log = () => ({ info: () => undefined, error: (_fields: object, message: string) => void io.stderr.write(`warning: ${message}\n`) })
    // Never started here: the CLI only writes to the outbox, which the servers' workers deliver.
    const webhooks = createWebhooks({ store, settings: config.webhooks, retentionMs: config.auditRetentionMs, log, present: auditView })
    const audit = createAudit({ store, metrics: { storeError: () => undefined }, retentionMs: config.auditRetentionMs, log, onRecorded: webhooks.enqueue })
    const auth = audited(createAuthFromConfig(config, store), audit)
    try {
      await auth.ready()
    } catch (cause) {
      void auth.close().catch(() => undefined)
      throw unavailable(cause instanceof AuthError && cause.code === "store_unavailable" ? (cause.cause ?? cause) : cause)
    }
    opened = { config, store, auth, audit, webhooks }
    return opened
  }

  return {
    io,
    actor: `cli:${osUser(io.env)}`,
    runtime: () => (opening ??= open()),
    out: (text) => void io.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    note: (text) => void io.stderr.write(`${text}\n`),
    async close() {
      await opened?.auth.close()
    },
  }
}

function osUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username
  } catch {
    // No passwd entry (a container running under an arbitrary uid).
    return env.USER ?? env.LOGNAME ?? String(process.getuid?.() ?? "unknown")
  }
}

export function unavailable(cause: unknown): CliError {
  return new CliError(`store unavailable: ${typeof cause === "string" ? cause : describe(cause)}`)
}

/** One line about an error from a driver, without the credentials a connection string may carry. */
export function describe(error: unknown): string {
  let message = ""
  for (let current = error; current !== undefined && message === ""; ) {
    if (current instanceof AggregateError && current.message === "") {
      current = current.errors[0]
    } else if (current instanceof Error) {
      message = current.message || String((current as { code?: unknown }).code ?? current.name)
    } else {
      message = String(current)
    }
  }
  return redact(message.split("\n")[0] ?? "")
}

export function redact(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@")
}

/** Milliseconds since the epoch as an ISO time to the second; "-" for none. */
export function time(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")
}

/**
 * A table with a header row, columns separated by two spaces. Values come from users (device labels, reasons),
 * so control characters are escaped: they must not drive the operator's terminal.
 */
export function table(headers: readonly string[], rows: readonly (readonly (string | null | undefined)[])[]): string {
  const cells = [headers, ...rows.map((row) => row.map((value) => (value === null || value === undefined || value === "" ? "-" : printable(value))))]
  const widths = headers.map((_, index) => Math.max(...cells.map((row) => (row[index] ?? "").length)))
  return cells
    .map((row) => row.map((value, index) => (index === row.length - 1 ? value : (value ?? "").padEnd(widths[index] ?? 0))).join("  ").trimEnd())
    .join("\n")
}

export function printable(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`)
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2)
}
