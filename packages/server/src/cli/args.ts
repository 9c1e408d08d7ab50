// Command-line parsing and help for the `revocable` CLI, on node:util parseArgs. A command is a plain spec:
// its options (with the help line of each), its positional arguments and a `run` that gets them typed.
import { parseArgs } from "node:util"
import type { Context } from "./commands/context.ts"

export interface OptionSpec {
  type: "string" | "boolean"
  short?: string
  multiple?: boolean
  /** The placeholder shown in help: `--limit N`. */
  value?: string
  help: string
}

export type Options = Record<string, OptionSpec>

type Value<O extends OptionSpec> = O["type"] extends "boolean" ? boolean : O["multiple"] extends true ? string[] : string

export interface Parsed<O extends Options> {
  values: { [K in keyof O]?: Value<O[K]> } & { config?: string; help?: boolean }
  positionals: string[]
}

export interface Command<O extends Options = Options> {
  /** As typed: "revoke", "users add". */
  name: string
  summary: string
  /** The synopsis after the program name, when it says more than `name [options]`. */
  usage?: string
  /** Positional arguments, all required, in order. */
  args?: readonly string[]
  options: O
  description?: string
  examples?: readonly string[]
  /** The process lives on after `run` resolves (a server). */
  keepsRunning?: boolean
  run(parsed: Parsed<O>, context: Context): Promise<void>
}

export interface Group {
  name: string
  summary: string
  description?: string
  commands: readonly Command[]
}

/** Infers a command's option types from its spec. */
export function command<O extends Options>(spec: Command<O>): Command {
  return spec as unknown as Command
}

/** Bad command-line input: exit status 2, with a pointer to the command's help. */
export class UsageError extends Error {
  override name = "UsageError"
  readonly command: string

  constructor(message: string, command = "") {
    super(message)
    this.command = command
  }
}

const CONFIG: OptionSpec = { type: "string", value: "FILE", help: "read settings from this file, as the server does" }
const HELP: OptionSpec = { type: "boolean", short: "h", help: "show this help" }

function optionsOf(spec: Command): Options {
  return { ...spec.options, config: CONFIG, help: HELP }
}

export function parse(spec: Command, argv: readonly string[]): Parsed<Options> {
  const options = optionsOf(spec)
  const { args, restore } = withDashValues(argv, options)
  // Not strict: the tokens are checked here, so that a mistake is told by what it is, not by Node's wording.
  const result = parseArgs({
    args,
    options: Object.fromEntries(
      Object.entries(options).map(([name, option]) => [
        name,
        { type: option.type, ...(option.short ? { short: option.short } : {}), ...(option.multiple ? { multiple: true } : {}) },
      ]),
    ),
    allowPositionals: true,
    strict: false,
    tokens: true,
  })
  for (const token of result.tokens) {
    if (token.kind !== "option") continue
    const option = options[token.name]
    if (option === undefined) throw new UsageError(`unknown option ${token.rawName}`, spec.name)
    if (option.type === "boolean" && token.value !== undefined) throw new UsageError(`option ${token.rawName} takes no value`, spec.name)
    // A value that looks like an option was not one (withDashValues has already joined the dashed ids).
    const missing = token.value === undefined || (!token.inlineValue && token.value.startsWith("-"))
    if (option.type === "string" && missing) throw new UsageError(`option ${token.rawName} needs a value`, spec.name)
  }
  const parsed = result as Parsed<Options>
  parsed.positionals = parsed.positionals.map(restore)
  if (parsed.values.help) return parsed
  const expected = spec.args ?? []
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`missing ${expected.slice(parsed.positionals.length).join(" ")}`, spec.name)
  }
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[expected.length])}`, spec.name)
  }
  return parsed
}

/**
 * Ids are base64url, so they may begin with "-", or "--" (1 in 4096). After an option that takes a value, such an
 * argument is that value (parseArgs would call it ambiguous) unless it is one of the command's options;
 * elsewhere one that is not an option is a positional argument when it is "-" and two characters or more (a
 * bundle of short flags is never used here), or "--" and what no option name looks like (an option is lower
 * case: "--reasn" stays an unknown option, "--aKM9N6qK" is an id). `restore` puts them back once parseArgs
 * has run.
 */
const HELD = "\u0000held:"
const DASHED_ID = /^-[^-].|^--(?![a-z][a-z0-9-]*(?:=|$))/

function withDashValues(argv: readonly string[], options: Options): { args: string[]; restore: (positional: string) => string } {
  const isOption = (arg: string) =>
    arg.startsWith("--") ? Object.hasOwn(options, arg.slice(2).split("=")[0] as string) : Object.values(options).some((option) => arg === `-${option.short}`)
  const args: string[] = []
  const held: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === "--") {
      args.push(...argv.slice(i))
      break
    }
    const next = argv[i + 1]
    const takesValue = arg.startsWith("--") && !arg.includes("=") && options[arg.slice(2)]?.type === "string"
    if (takesValue && next !== undefined && next.startsWith("-") && next !== "--" && !isOption(next)) {
      args.push(`${arg}=${next}`)
      i++
    } else if (DASHED_ID.test(arg) && !isOption(arg)) {
      args.push(`${HELD}${held.push(arg) - 1}`)
    } else {
      args.push(arg)
    }
  }
  return { args, restore: (positional) => (positional.startsWith(HELD) ? (held[Number(positional.slice(HELD.length))] as string) : positional) }
}

/** Exactly one of the named options, or a usage error. */
export function oneOf<K extends string>(values: Partial<Record<K, unknown>>, names: readonly K[], command: string): K {
  const given = names.filter((name) => values[name] !== undefined)
  if (given.length !== 1) {
    const list = names.map((name) => `--${name}`).join(", ")
    throw new UsageError(given.length === 0 ? `give one of ${list}` : `give only one of ${list}`, command)
  }
  return given[0] as K
}

/** An integer option within bounds, or a usage error. */
export function integer(value: string | undefined, name: string, min: number, max: number, command: string): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}`, command)
  }
  return number
}

export function commandHelp(spec: Command): string {
  const synopsis = spec.usage ?? [spec.name, ...(spec.args ?? []), "[options]"].join(" ")
  const lines = [`Usage: revocable ${synopsis}`, "", spec.summary]
  if (spec.description) lines.push("", spec.description)
  lines.push("", "Options:", ...columns(Object.entries(optionsOf(spec)).map(([name, option]) => [flag(name, option), option.help])))
  if (spec.examples?.length) lines.push("", "Examples:", ...spec.examples.map((example) => `  ${example}`))
  return lines.join("\n") + "\n"
}

export function groupHelp(group: Group): string {
  const lines = [`Usage: revocable ${group.name} <command> [options]`, "", group.summary]
  if (group.description) lines.push("", group.description)
  lines.push("", "Commands:", ...columns(group.commands.map((spec) => [[spec.name.split(" ").at(-1), ...(spec.args ?? [])].join(" "), spec.summary])))
  lines.push("", `Run 'revocable ${group.name} <command> --help' for the options of each.`)
  return lines.join("\n") + "\n"
}

function flag(name: string, option: OptionSpec): string {
  const long = `--${name}${option.type === "string" ? ` ${option.value ?? "VALUE"}` : ""}`
  return option.short ? `-${option.short}, ${long}` : `    ${long}`
}

/** Two aligned columns, indented. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const width = Math.max(0, ...rows.map((row) => (row[0] ?? "").length))
  return rows.map(([left = "", right = ""]) => `  ${left.padEnd(width)}  ${right}`.trimEnd())
}
