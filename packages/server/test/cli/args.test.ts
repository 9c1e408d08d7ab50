// Command-line parsing: ids are base64url, so a session id or a jti may begin with "-".
import assert from "node:assert/strict"
import { test } from "node:test"
import { command, parse, UsageError } from "../../src/cli/args.ts"

const spec = command({
  name: "revoke",
  summary: "test spec",
  options: {
    session: { type: "string", value: "SID", help: "a session" },
    json: { type: "boolean", help: "JSON" },
  },
  async run() {},
})

test("an option's value may begin with a dash: session ids are base64url", () => {
  assert.equal(parse(spec, ["--session", "-x3Qk9v0aB_c-1d2e3f4g5"]).values.session, "-x3Qk9v0aB_c-1d2e3f4g5")
  assert.equal(parse(spec, ["--session=-x3Qk"]).values.session, "-x3Qk")
})

test("an option name after an option that needs a value is still an error, not a value", () => {
  assert.throws(() => parse(spec, ["--session", "--json"]), (error: unknown) => error instanceof UsageError && /--session needs a value/.test(error.message))
  assert.throws(() => parse(spec, ["--session", "-h"]), UsageError)
  assert.throws(() => parse(spec, ["--session"]), /option --session needs a value/)
})

test("a flag given a value, and an unknown short option, are told as what they are", () => {
  assert.throws(() => parse(spec, ["--json=yes"]), (error: unknown) => error instanceof UsageError && /option --json takes no value/.test(error.message))
  assert.throws(() => parse(spec, ["-z"]), (error: unknown) => error instanceof UsageError && /unknown option -z/.test(error.message))
  assert.equal(parse(spec, ["--json", "--session=s1"]).values.json, true)
})

test("a positional argument may begin with a dash, and keeps its place", () => {
  const unrevoke = command({ name: "unrevoke", summary: "test spec", args: ["KIND", "ID"], options: {}, async run() {} })
  assert.deepEqual(parse(unrevoke, ["session", "-x3Qk9v0aB_c"]).positionals, ["session", "-x3Qk9v0aB_c"])
  assert.deepEqual(parse(unrevoke, ["session", "--", "-x"]).positionals, ["session", "-x"])
  assert.throws(() => parse(unrevoke, ["session", "--frobnicate"]), /unknown option --frobnicate/)
  assert.throws(() => parse(unrevoke, ["session", "--dry-run=1"]), /unknown option --dry-run/)
  // One id in 4096 begins with two dashes: what follows them is unlike any option's name.
  assert.deepEqual(parse(unrevoke, ["session", "--aKM9N6qKjKR_62VDveOQ"]).positionals, ["session", "--aKM9N6qKjKR_62VDveOQ"])
  assert.deepEqual(parse(unrevoke, ["session", "--8x"]).positionals, ["session", "--8x"])
})
