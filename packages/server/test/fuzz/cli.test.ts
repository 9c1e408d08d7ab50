// What an operator types: the CLI's argument parser with every command's spec, and the settings loader with
// generated REVOCABLE_* variables and config files. A mistake is a UsageError or a ConfigError naming it,
// never another exception. The settings are read from config.ts itself, so a new one is fuzzed without
// editing this file.
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import fc from "fast-check"
import { parse, UsageError, type Command, type Group } from "../../src/cli/args.ts"
import { clients } from "../../src/cli/commands/clients.ts"
import { keys } from "../../src/cli/commands/keys.ts"
import { purge } from "../../src/cli/commands/purge.ts"
import { revocations } from "../../src/cli/commands/revocations.ts"
import { revoke, unrevoke } from "../../src/cli/commands/revoke.ts"
import { serve } from "../../src/cli/commands/serve.ts"
import { sessions } from "../../src/cli/commands/sessions.ts"
import { users } from "../../src/cli/commands/users.ts"
import { ConfigError, loadConfig } from "../../src/server/config.ts"
import { fuzz } from "../../../revocable/test/fuzz/settings.ts"

// ---------------------------------------------------------------------------------------------------------
// The argument parser

const ENTRIES: readonly (Command | Group)[] = [serve, users, clients, revoke, unrevoke, sessions, revocations, keys, purge]
const SPECS: Command[] = ENTRIES.flatMap((entry) => ("commands" in entry ? entry.commands : [entry]))

function argvFor(spec: Command): fc.Arbitrary<string[]> {
  const names = [...Object.keys(spec.options), "config", "help"]
  const shorts = Object.values(spec.options).flatMap((option) => (option.short === undefined ? [] : [`-${option.short}`]))
  const word = fc.oneof(
    fc.constantFrom(...names.map((name) => `--${name}`), ...shorts, "-h", "--", "-", "---", "--=", "--x", "-xyz", "--Help", "--config=", "--help=1"),
    fc.constantFrom(...names).chain((name) => fc.string({ maxLength: 12 }).map((value) => `--${name}=${value}`)),
    fc.stringMatching(/^-{0,2}[A-Za-z0-9_-]{0,22}$/),
    fc.constantFrom("session", "token", "subject", "key", "alice", "admin", "10", "-1", "1e3", "\u0000", "é", "😀", "", " "),
    fc.string({ maxLength: 16 }),
  )
  return fc.array(word, { maxLength: 8 })
}

describe("fuzz: the CLI's argument parser gives a usage error or the parsed arguments, never another exception", () => {
  for (const spec of SPECS) {
    test(`revocable ${spec.name}`, async () => {
      await fuzz(
        fc.property(argvFor(spec), (argv) => {
          let parsed: ReturnType<typeof parse>
          try {
            parsed = parse(spec, argv)
          } catch (error) {
            if (error instanceof UsageError) return
            throw new Error(`parse threw ${String(error)} (not a UsageError) for ${JSON.stringify(argv)}`, { cause: error })
          }
          if (parsed.values.help === true) return
          assert.equal(parsed.positionals.length, (spec.args ?? []).length, `positionals of ${JSON.stringify(argv)}`)
          for (const [name, value] of Object.entries(parsed.values)) {
            const option = name === "config" ? { type: "string" } : name === "help" ? { type: "boolean" } : spec.options[name]
            assert.ok(option !== undefined, `an option the spec lacks: ${name}`)
            const expected = option.type === "boolean" ? "boolean" : "string"
            for (const one of Array.isArray(value) ? value : [value]) assert.equal(typeof one, expected, `--${name} of ${JSON.stringify(argv)}`)
          }
        }),
        300,
      )
    })
  }
})

// ---------------------------------------------------------------------------------------------------------
// The settings loader

const SOURCE = readFileSync(new URL("../../src/server/config.ts", import.meta.url), "utf8")
const VARIABLES = [...new Set(SOURCE.match(/REVOCABLE_[A-Z0-9_]+/g) ?? []), "PORT"].filter((name) => name !== "REVOCABLE_CONFIG")
const FILE_KEYS = [...new Set([...SOURCE.matchAll(/key: "(\w+)"/g)].map((match) => match[1] as string))]
const OIDC_VARIABLES = ["ISSUER", "CLIENT_ID", "CLIENT_SECRET", "CLIENT_AUTH", "SCOPES", "HOSTED_DOMAIN", "LINK_VERIFIED_EMAIL"].map((key) => `REVOCABLE_OIDC_GOOGLE_${key}`)

const directory = mkdtempSync(join(tmpdir(), "revocable-fuzz-config-"))
after(() => rmSync(directory, { recursive: true, force: true }))
const KEK_FILE = join(directory, "kek")
writeFileSync(KEK_FILE, Buffer.alloc(32, 7).toString("base64url"))

const settingText = fc.oneof(
  fc.constantFrom(
    "0", "1", "-1", "8000", "65536", "1e3", "0x10", "NaN", "Infinity", " 5 ", "1.5", "9".repeat(30), "true", "false", "yes", "off", "on",
    "15m", "30d", "1h", "0s", "-5s", "10ms", "1y", "m", "http://issuer.test", "https://auth.example/path", "ftp://x", "http://", "localhost",
    "postgres://127.0.0.1/test", "redis://127.0.0.1:6379", "sqlite:/tmp/x.db", "sqlite:", "mysql://x", "EdDSA", "HS256", "none", "open", "closed",
    "Strict", "Lax", "None", "evict-oldest", "reject", "fail-open", "fail-closed", "silent", "debug", "http://a.test,http://b.test", "*", "loopback",
    "10.0.0.0/8", "2", KEK_FILE, join(directory, "missing"), Buffer.alloc(32, 1).toString("base64url"), "\u0000", "é", "😀", "",
  ),
  fc.string({ maxLength: 24 }),
  fc.integer().map(String),
)
const fileValue = fc.oneof(settingText, fc.jsonValue({ maxDepth: 2 }))

const environment = fc.dictionary(fc.constantFrom(...VARIABLES, ...OIDC_VARIABLES, "REVOCABLE_OIDC_X", "REVOCABLE_PORTT", "REVOCABLE_"), settingText, { maxKeys: 6 })
const configFile = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom(...FILE_KEYS, "oidc"), fc.string({ maxLength: 8 })), fileValue, { maxKeys: 5 }).map((value) => JSON.stringify(value)),
  fc.constantFrom("", "{", "[]", "null", "1", '"x"', '{"port":', "\ufeff{}", '{"oidc":{"google":{}}}', '{"oidc":[]}', '{"oidc":{"google":{"issuer":1}}}'),
)

describe("fuzz: the settings loader gives a ConfigError or settings, never another exception", () => {
  test("REVOCABLE_* variables", async () => {
    await fuzz(
      fc.property(environment, (env) => {
        try {
          loadConfig(env)
        } catch (error) {
          if (!(error instanceof ConfigError)) throw new Error(`loadConfig threw ${String(error)} (not a ConfigError) for ${JSON.stringify(env)}`, { cause: error })
        }
      }),
      500,
    )
  })

  test("a config file, with or without variables", async () => {
    const file = join(directory, "config.json")
    await fuzz(
      fc.property(configFile, fc.option(environment, { freq: 3 }), (content, env) => {
        writeFileSync(file, content)
        try {
          loadConfig({ ...env, REVOCABLE_CONFIG: file })
        } catch (error) {
          if (!(error instanceof ConfigError)) throw new Error(`loadConfig threw ${String(error)} (not a ConfigError) for ${content} and ${JSON.stringify(env)}`, { cause: error })
        }
      }),
      500,
    )
  })
})
