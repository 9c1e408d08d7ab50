#!/usr/bin/env node
/**
 * `revocable`: the auth server and the operator's tools, on the same store configuration as the server.
 *
 * Exit status: 0 on success, 1 when the command failed (the store unavailable, nothing to unrevoke, …), 2 for
 * a usage error, 130 for a prompt interrupted with Ctrl-C. Failures print one line on stderr, never a stack.
 *
 * @example
 * revocable serve
 * revocable users add alice --role admin
 * revocable revoke --user 4f1c9a --reason "laptop stolen"
 */
import { readFileSync } from "node:fs"
import { AuthError } from "revocable"
import { ConfigError } from "../server/config.ts"
import { columns, commandHelp, groupHelp, parse, UsageError, type Command, type Group } from "./args.ts"
import { audit } from "./commands/audit.ts"
import { clients } from "./commands/clients.ts"
import { CliError, createContext, describe, type Io } from "./commands/context.ts"
import { keys } from "./commands/keys.ts"
import { Interrupted } from "./commands/prompt.ts"
import { purge } from "./commands/purge.ts"
import { revocations } from "./commands/revocations.ts"
import { revoke, unrevoke } from "./commands/revoke.ts"
import { serve } from "./commands/serve.ts"
import { sessions } from "./commands/sessions.ts"
import { users } from "./commands/users.ts"
import { webhooks } from "./commands/webhooks.ts"

const COMMANDS: readonly (Command | Group)[] = [serve, users, clients, revoke, unrevoke, sessions, revocations, audit, webhooks, keys, purge]

const PROGRAM_HELP = `Usage: revocable <command> [options]

JWTs that can be taken back: the auth server, and the tools to manage its users, clients, revocations and keys.

Commands:
${columns(
  COMMANDS.map((entry) => [
    "commands" in entry ? `${entry.name} ${entry.commands.map((sub) => sub.name.split(" ").at(-1)).join("|")}` : [entry.name, ...(entry.args ?? [])].join(" "),
    entry.summary,
  ]),
).join("\n")}

Options:
  -h, --help       show help; also after any command: revocable revoke --help
  -V, --version    print the version
  --config FILE    read settings from this JSON file (also REVOCABLE_CONFIG)

Every command reads the store and the other settings as the server does, from REVOCABLE_* variables; only
serve creates the store, the others exit 1 when they find none there:
  REVOCABLE_STORE      unset for SQLite in REVOCABLE_DATA_DIR (./data), or sqlite:PATH,
                       postgres://… or redis://… for several instances
  REVOCABLE_ISSUER     the server's issuer (default http://localhost:PORT); tokens must match it
  REVOCABLE_KEY_ENCRYPTION_KEY
                       the key that wraps the signing keys, as the server has it (PostgreSQL, Redis)

Exit status: 0 success, 1 failure (such as "store unavailable"), 2 usage error.
`

/** Runs one command line. Resolves the exit status, or null when the process must live on (`serve`). */
async function main(argv: readonly string[], io: Io): Promise<number | null> {
  const { path, rest } = splitCommand(argv)
  const [name, sub] = path
  if (name === undefined) {
    if (rest.includes("--version") || rest.includes("-V")) return write(io.stdout, `${version()}\n`, 0)
    if (rest.includes("--help") || rest.includes("-h")) return write(io.stdout, PROGRAM_HELP, 0)
    const unknown = rest.find((arg) => arg.startsWith("-") && arg !== "--config" && !arg.startsWith("--config="))
    return usage(io, "", unknown === undefined ? "give a command" : `unknown option ${unknown.split("=")[0]}`)
  }
  const entry = COMMANDS.find((candidate) => candidate.name === name)
  if (entry === undefined) return usage(io, "", `unknown command ${JSON.stringify(name)}`)
  let spec: Command
  if ("commands" in entry) {
    const found = entry.commands.find((candidate) => candidate.name === `${entry.name} ${sub}`)
    if (found === undefined) {
      if (sub === undefined && (rest.includes("--help") || rest.includes("-h"))) return write(io.stdout, groupHelp(entry), 0)
      const names = entry.commands.map((candidate) => candidate.name.split(" ").at(-1)).join(", ")
      return usage(io, entry.name, sub === undefined ? `give a command: ${names}` : `unknown command ${JSON.stringify(sub)}; one of ${names}`)
    }
    spec = found
  } else {
    spec = entry
  }

  let context: ReturnType<typeof createContext> | undefined
  try {
    const parsed = parse(spec, rest)
    if (parsed.values.help) return write(io.stdout, commandHelp(spec), 0)
    context = createContext(io, parsed.values.config)
    await spec.run(parsed, context)
    return spec.keepsRunning ? null : 0
  } catch (error) {
    return failed(io, spec.name, error)
  } finally {
    if (!spec.keepsRunning) await context?.close().catch(() => undefined)
  }
}

/** The command words (the first argument, and the second for groups), and everything else in order. */
function splitCommand(argv: readonly string[]): { path: string[]; rest: string[] } {
  const path: string[] = []
  const rest: string[] = []
  let restBeforeGroup = 0
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string
    if (arg === "--") {
      rest.push(...argv.slice(index))
      break
    }
    if (arg.startsWith("-") && arg !== "-") {
      rest.push(arg)
      // Global options may come before the command: keep --config's value with it.
      if (arg === "--config" && path.length === 0 && index + 1 < argv.length) rest.push(argv[++index] as string)
    } else if (path.length === 0) {
      path.push(arg)
      restBeforeGroup = rest.length
    } else if (path.length === 1 && rest.length === restBeforeGroup && isGroup(path[0])) {
      path.push(arg)
    } else {
      rest.push(arg)
    }
  }
  return { path, rest }
}

function isGroup(name: string | undefined): boolean {
  return COMMANDS.some((entry) => entry.name === name && "commands" in entry)
}

function failed(io: Io, command: string, error: unknown): number {
  if (error instanceof UsageError) return usage(io, error.command || command, error.message)
  if (error instanceof Interrupted) return 130
  const prefix = `revocable ${command}: `
  if (error instanceof CliError || error instanceof ConfigError) return write(io.stderr, `${prefix}${error.message}\n`, 1)
  if (error instanceof AuthError) {
    if (error.code === "store_unavailable") return write(io.stderr, `${prefix}store unavailable: ${describe(error.cause ?? error)}\n`, 1)
    return write(io.stderr, `${prefix}${error.message}\n`, 1)
  }
  return write(io.stderr, `${prefix}${describe(error)}\n`, 1)
}

function usage(io: Io, command: string, message: string): number {
  const help = command === "" ? "revocable --help" : `revocable ${command} --help`
  return write(io.stderr, `revocable${command === "" ? "" : ` ${command}`}: ${message} (see '${help}')\n`, 2)
}

function write(stream: NodeJS.WritableStream, text: string, code: number): number {
  stream.write(text)
  return code
}

function version(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version
}

// `revocable revocations | head -1` closes the pipe early: that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0)
  throw error
})
const code = await main(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
// Exit now rather than when the last handle closes: a driver still retrying an unreachable store must not hang a script.
if (code !== null) process.exit(code)
