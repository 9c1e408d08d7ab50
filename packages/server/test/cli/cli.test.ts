import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { after, afterEach, describe, test } from "node:test"
import type { Auth } from "revocable"
import type { Revocation, Session, ServerStore } from "revocable/stores"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { userDirectory, type User } from "../../src/server/user-directory.ts"
import { cliEnv, MAIN, runCli, type CliResult } from "../fixtures/cli-run.ts"

const PASSWORD = "correct horse battery staple"

const ACTOR = `cli:${userInfo().username}`
const dirs: string[] = []
const opened: Auth[] = []

afterEach(async () => {
  for (const auth of opened.splice(0)) await auth.close()
})

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A new SQLite store in a temp directory, as the CLI's environment names it. */
function newStore(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "revocable-cli-"))
  dirs.push(dir)
  return { REVOCABLE_DATA_DIR: dir }
}

/** createAuth on the store the CLI uses, configured the way the server and the CLI are. */
async function openAuth(env: Record<string, string>): Promise<{ auth: Auth; store: ServerStore }> {
  const config = loadConfig(cliEnv(env))
  const store = await openStore(config)
  const auth = createAuthFromConfig(config, store)
  opened.push(auth)
  await auth.ready()
  return { auth, store }
}

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`
}

/** The next revocation of this kind that reaches `auth` through the store's change feed. */
function nextRevocation(auth: Auth, kind: Revocation["kind"]): Promise<Revocation> {
  return new Promise((resolve) => {
    const off = auth.on("revoked", (revocation) => {
      if (revocation.kind !== kind) return
      off()
      resolve(revocation)
    })
  })
}

function ok(result: CliResult): string {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`)
  return result.stdout
}

/** A failure prints exactly one line on stderr, never a stack trace, and nothing on stdout. */
function failure(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `stdout: ${result.stdout} stderr: ${result.stderr}`)
  assert.equal(result.stdout, "")
  assert.match(result.stderr, /^revocable[^\n]*\n$/)
  assert.match(result.stderr, message)
}

const SQLITE = newStore()

describe("revocable revoke", () => {
  test("revoke --token refuses the access token on a running instance and on a new one; the session lives on", async () => {
    const { auth } = await openAuth(SQLITE)
    const pair = await auth.issue(unique("tok"))
    const delivered = nextRevocation(auth, "token")
    const out = ok(await runCli(["revoke", "--token", pair.accessToken, "--reason", "leaked"], SQLITE))
    assert.match(out, /^revoked token \S+ of subject tok-[0-9a-f]{8}\nundo: revocable unrevoke token \S+\n$/)
    assert.equal((await delivered).actor, ACTOR)
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    const { auth: fresh } = await openAuth(SQLITE)
    await assert.rejects(fresh.verify(pair.accessToken), { code: "token_revoked" })
    assert.ok((await fresh.refresh(pair.refreshToken)).accessToken)
  })

  test("revoke --token - reads a refresh token from stdin and revokes its whole session", async () => {
    const { auth } = await openAuth(SQLITE)
    const pair = await auth.issue(unique("stdin"))
    const revocation = JSON.parse(ok(await runCli(["revoke", "--token", "-", "--json"], SQLITE, `${pair.refreshToken}\n`))) as Revocation
    assert.deepEqual([revocation.kind, revocation.id, revocation.actor], ["session", pair.sessionId, ACTOR])
    const { auth: fresh } = await openAuth(SQLITE)
    await assert.rejects(fresh.verify(pair.accessToken), { code: "token_revoked" })
    await assert.rejects(fresh.refresh(pair.refreshToken), { code: "token_revoked" })
  })

  test("revoke --token with a token that is not ours exits 1 without echoing it", async () => {
    const garbage = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"
    const result = await runCli(["revoke", "--token", garbage], SQLITE)
    failure(result, 1, /^revocable revoke: nothing revoked: the token is not one this server issued/)
    assert.ok(!result.stderr.includes(garbage))
  })

  test("revoke --user cuts off every session of the user, and later logins work", async () => {
    const { auth } = await openAuth(SQLITE)
    const subject = unique("mallory")
    const pairs = [await auth.issue(subject), await auth.issue(subject)]
    const out = ok(await runCli(["revoke", "--user", subject, "--reason", "incident 42"], SQLITE))
    assert.match(out, new RegExp(`^revoked every token of subject ${subject}, issued until \\d{4}-\\d\\d-\\d\\dT`))
    const { auth: fresh } = await openAuth(SQLITE)
    for (const pair of pairs) {
      await assert.rejects(fresh.verify(pair.accessToken), { code: "token_revoked" })
      await assert.rejects(fresh.refresh(pair.refreshToken), { code: "token_revoked" })
    }
    const later = await fresh.issue(subject)
    assert.equal((await fresh.verify(later.accessToken)).sub, subject)
    const listed = JSON.parse(ok(await runCli(["revocations", "--user", subject, "--json"], SQLITE))) as { items: Revocation[] }
    assert.deepEqual(
      listed.items.map(({ kind, id, reason, actor }) => ({ kind, id, reason, actor })),
      [{ kind: "subject", id: subject, reason: "incident 42", actor: ACTOR }],
    )
  })

  test("--user takes the server's usernames: revoke, sessions and revocations act on that user's subject", async () => {
    const username = unique("dave")
    ok(await runCli(["users", "add", username, "--password-stdin"], SQLITE, `${PASSWORD}\n`))
    const { auth, store } = await openAuth(SQLITE)
    const user = await userDirectory(store, auth).authenticate(username, PASSWORD)
    const pair = await auth.issue(user.sub, { device: "laptop" })
    const sessions = JSON.parse(ok(await runCli(["sessions", username, "--json"], SQLITE))) as Session[]
    assert.deepEqual(sessions.map((session) => session.sid), [pair.sessionId])
    const out = ok(await runCli(["revoke", "--user", username, "--reason", "laptop stolen"], SQLITE))
    assert.match(out, new RegExp(`^revoked every token of ${username}, subject ${user.sub}, issued until `))
    const { auth: fresh } = await openAuth(SQLITE)
    await assert.rejects(fresh.verify(pair.accessToken), { code: "token_revoked" })
    const listed = JSON.parse(ok(await runCli(["revocations", "--user", username, "--json"], SQLITE))) as { items: Revocation[] }
    assert.deepEqual(listed.items.map(({ kind, id }) => ({ kind, id })), [{ kind: "subject", id: user.sub }])
    assert.equal(ok(await runCli(["sessions", username], SQLITE)), "no live sessions\n")
  })

  test("unrevoke lifts a session revocation, and exits 1 when there is none", async () => {
    const { auth } = await openAuth(SQLITE)
    const pair = await auth.issue(unique("undo"))
    ok(await runCli(["revoke", "--session", pair.sessionId], SQLITE))
    await assert.rejects((await openAuth(SQLITE)).auth.verify(pair.accessToken), { code: "token_revoked" })
    assert.equal(ok(await runCli(["unrevoke", "session", pair.sessionId], SQLITE)), `unrevoked session ${pair.sessionId}\n`)
    assert.equal((await (await openAuth(SQLITE)).auth.verify(pair.accessToken)).sid, pair.sessionId)
    failure(await runCli(["unrevoke", "session", pair.sessionId], SQLITE), 1, /^revocable unrevoke: no session revocation \S+\n$/)
  })
})

describe("revocable sessions and revocations", () => {
  test("sessions lists a subject's live sessions, escaping control characters in device labels", async () => {
    const { auth } = await openAuth(SQLITE)
    const subject = unique("sess")
    const first = await auth.issue(subject, { device: "Firefox on Linux" })
    const second = await auth.issue(subject, { device: "evil\u001b[2Jterminal" })
    const listed = JSON.parse(ok(await runCli(["sessions", subject, "--json"], SQLITE))) as Session[]
    assert.deepEqual(listed.map((session) => session.sid).sort(), [first.sessionId, second.sessionId].sort())
    const table = ok(await runCli(["sessions", subject], SQLITE))
    assert.match(table, /^SID +CREATED +LAST USED +EXPIRES +DEVICE\n/)
    assert.ok(table.includes("Firefox on Linux"))
    assert.ok(table.includes("evil\\x1b[2Jterminal") && !table.includes("\u001b"))
    ok(await runCli(["revoke", "--session", second.sessionId], SQLITE))
    const after = JSON.parse(ok(await runCli(["sessions", subject, "--json"], SQLITE))) as Session[]
    assert.deepEqual(after.map((session) => session.sid), [first.sessionId])
    assert.equal(ok(await runCli(["sessions", unique("nobody")], SQLITE)), "no live sessions\n")
  })

  test("revocations pages newest first with --limit and --cursor, and prints the command for the next page", async () => {
    const { auth } = await openAuth(SQLITE)
    const subject = unique("pages")
    const sids: string[] = []
    for (let i = 0; i < 5; i++) {
      const { sessionId } = await auth.issue(subject)
      await auth.revokeSession(sessionId, { reason: `r${i}` })
      sids.push(sessionId)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const args: string[] = ["revocations", "--user", subject, "--kind", "session", "--limit", "2", "--json", ...(cursor === null ? [] : ["--cursor", cursor])]
      const page = JSON.parse(ok(await runCli(args, SQLITE))) as { items: Revocation[]; next: string | null }
      assert.ok(page.items.length <= 2)
      seen.push(...page.items.map((item) => item.id))
      cursor = page.next
      pages++
    } while (cursor !== null)
    assert.equal(pages, 3)
    assert.deepEqual(seen, [...sids].reverse())

    const human = ok(await runCli(["revocations", "--user", subject, "--limit", "2"], SQLITE))
    const lines = human.trimEnd().split("\n")
    assert.match(lines[0] ?? "", /^CREATED +KIND +ID +SUBJECT +EXPIRES +ACTOR +REASON$/)
    assert.equal(lines.length, 4)
    const more = /^more: revocable (revocations .*)$/.exec(lines[3] ?? "")
    assert.ok(more, human)
    const next = ok(await runCli((more[1] as string).split(" "), SQLITE))
    assert.ok(next.includes(sids[2] as string) && next.includes(sids[1] as string) && !next.includes(sids[4] as string))
  })

  test("revocations refuses a bad --kind or --limit as usage errors", async () => {
    failure(await runCli(["revocations", "--kind", "user"], SQLITE), 2, /--kind must be one of token, session, subject, key/)
    failure(await runCli(["revocations", "--limit", "5000"], SQLITE), 2, /--limit must be an integer from 1 to 1000/)
    failure(await runCli(["revocations", "--limit", "two"], SQLITE), 2, /--limit must be an integer/)
  })
})

describe("revocable keys", () => {
  test("keys rotate publishes the next key (list: next, signs from …), --now signs at once; keys retire refuses every token the old key signed", async () => {
    const env = newStore()
    const { auth } = await openAuth(env)
    const before = await auth.issue(unique("keys"))
    const [first] = JSON.parse(ok(await runCli(["keys", "list", "--json"], env))) as { kid: string; status: string }[]
    assert.equal(first?.status, "signing")
    assert.equal(kidOf(before.accessToken), first.kid)

    const next = JSON.parse(ok(await runCli(["keys", "rotate", "--json"], env))) as { kid: string; activatesAt: number }
    assert.notEqual(next.kid, first.kid)
    const waiting = JSON.parse(ok(await runCli(["keys", "list", "--json"], env))) as { kid: string; status: string; activatesAt: number; privateJwk?: unknown }[]
    assert.deepEqual(waiting.map((key) => [key.kid, key.status, key.activatesAt]), [[next.kid, "next", next.activatesAt], [first.kid, "signing", waiting[1]?.activatesAt]])
    assert.ok(waiting.every((key) => !("privateJwk" in key)))
    assert.match(ok(await runCli(["keys", "list"], env)), new RegExp(`^${escape(next.kid)} +EdDSA +next, signs from ${new Date(next.activatesAt).toISOString().slice(0, 19)}Z `, "m"))
    assert.equal(kidOf((await (await openAuth(env)).auth.issue(unique("keys"))).accessToken), first.kid, "the old key signs until then")

    const printed = ok(await runCli(["keys", "rotate", "--now"], env))
    const kid = /^new key (\S+) signs now: verifiers that cached the JWKS refuse its tokens until they fetch it again\n$/.exec(printed)?.[1] as string
    assert.ok(kid, printed)
    const listed = JSON.parse(ok(await runCli(["keys", "list", "--json"], env))) as { kid: string; status: string }[]
    assert.deepEqual(listed.map((key) => [key.kid, key.status]), [[kid, "signing"], [next.kid, "verifies"], [first.kid, "verifies"]], "the key rotated --now supersedes the waiting one")

    const { auth: fresh } = await openAuth(env)
    const after = await fresh.issue(unique("keys"))
    assert.equal(kidOf(after.accessToken), kid)
    assert.ok(await fresh.verify(before.accessToken))

    assert.equal(ok(await runCli(["keys", "retire", first.kid, "--reason", "leaked"], env)), `retired key ${first.kid}: every token it signed is refused\n`)
    const { auth: third } = await openAuth(env)
    await assert.rejects(third.verify(before.accessToken), { code: "token_revoked" })
    assert.ok(await third.verify(after.accessToken))
    const table = ok(await runCli(["keys", "list"], env))
    assert.match(table, new RegExp(`^${escape(first.kid)} +EdDSA +retired `, "m"))

    failure(await runCli(["keys", "retire", "no-such-kid"], env), 1, /^revocable keys retire: no key has kid "no-such-kid"\n$/)
    failure(await runCli(["keys", "retire"], env), 2, /missing KID/)
  })

  test("unrevoke key exits 1 with one line: a retired key cannot be restored, and it stays retired", async () => {
    const env = newStore()
    const { auth } = await openAuth(env)
    const before = await auth.issue(unique("keys"))
    const oldKid = kidOf(before.accessToken)
    ok(await runCli(["keys", "rotate"], env))
    ok(await runCli(["keys", "retire", oldKid], env))
    failure(await runCli(["unrevoke", "key", oldKid], env), 1, /^revocable unrevoke: A retired key cannot be restored: rotate a new key instead\.\n$/)
    const listed = JSON.parse(ok(await runCli(["keys", "list", "--json"], env))) as { kid: string; status: string }[]
    assert.equal(listed.find((key) => key.kid === oldKid)?.status, "retired")
    const { auth: fresh } = await openAuth(env)
    await assert.rejects(fresh.verify(before.accessToken), { code: "token_revoked" })
    assert.deepEqual((await fresh.listRevocations({ kind: "key" })).items.map((entry) => entry.id), [oldKid])
  })
})

function kidOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString()) as { kid: string }).kid
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")
}

describe("revocable users and clients", () => {

  test("users add with --password-stdin creates a user who can log in, and users list shows it", async () => {
    const username = unique("carol")
    const out = ok(await runCli(["users", "add", username, "--role", "admin", "--password-stdin"], SQLITE, `${PASSWORD}\n`))
    assert.match(out, new RegExp(`^created user ${username} \\(sub \\S+\\) with roles admin\\n$`))
    const { auth, store } = await openAuth(SQLITE)
    const user = await userDirectory(store, auth).authenticate(username, PASSWORD)
    assert.deepEqual(user.roles, ["admin"])

    const listed: User[] = []
    let cursor: string | null = null
    do {
      const page = JSON.parse(ok(await runCli(["users", "list", "--json", ...(cursor === null ? [] : ["--cursor", cursor])], SQLITE))) as { items: User[]; next: string | null }
      listed.push(...page.items)
      cursor = page.next
    } while (cursor !== null)
    assert.deepEqual(listed.find((entry) => entry.username === username), user)
    assert.ok(!ok(await runCli(["users", "list"], SQLITE)).includes("passwordHash"))

    failure(await runCli(["users", "add", username, "--password-stdin"], SQLITE, PASSWORD), 1, /^revocable users add: the username \S+ is taken\n$/)
  })

  test("users add refuses to read a password from a non-terminal without --password-stdin, and a weak password", async () => {
    failure(await runCli(["users", "add", unique("dave")], SQLITE), 2, /no terminal to ask for the password on: give it with --password-stdin/)
    failure(await runCli(["users", "add", unique("dave"), "--password-stdin", "--password", PASSWORD], SQLITE), 2, /not both/)
    const weak = await runCli(["users", "add", unique("dave"), "--password-stdin"], SQLITE, "short")
    failure(weak, 1, /^revocable users add: The password is too short: it needs at least 8 characters/)
  })

  test("users add --password works for scripts but warns, and never prints the password", async () => {
    const username = unique("erin")
    const result = await runCli(["users", "add", username, "--password", PASSWORD], SQLITE)
    assert.equal(result.code, 0)
    assert.match(result.stderr, /^warning: --password shows the password to other users/)
    assert.ok(!result.stdout.includes(PASSWORD) && !result.stderr.includes(PASSWORD))
  })

  test("users add asks for the password twice at a terminal, without echoing it", async () => {
    const username = unique("frank")
    const { code, output } = await atTerminal(["users", "add", username], SQLITE, [`Password for ${username}: `, "Repeat the password: "], PASSWORD)
    assert.equal(code, 0, output)
    assert.ok(output.includes(`created user ${username}`), output)
    assert.ok(!output.includes(PASSWORD), output)
    const { auth, store } = await openAuth(SQLITE)
    assert.equal((await userDirectory(store, auth).authenticate(username, PASSWORD)).username, username)
  })

  test("users suspend revokes the user's tokens and refuses logins; unsuspend allows logins again", async () => {
    const username = unique("grace")
    ok(await runCli(["users", "add", username, "--password-stdin"], SQLITE, PASSWORD))
    const { auth, store } = await openAuth(SQLITE)
    const users = userDirectory(store, auth)
    const user = await users.authenticate(username, PASSWORD)
    const pair = await auth.issue(user.sub)

    assert.match(ok(await runCli(["users", "suspend", username, "--reason", "incident"], SQLITE)), /^suspended \S+ \(sub \S+\): every token revoked, logins refused\n$/)
    await assert.rejects((await openAuth(SQLITE)).auth.verify(pair.accessToken), { code: "token_revoked" })
    await assert.rejects(users.authenticate(username, PASSWORD), { code: "forbidden" })
    const [revocation] = (await auth.listRevocations({ subject: user.sub })).items
    assert.deepEqual([revocation?.kind, revocation?.reason, revocation?.actor], ["subject", "incident", ACTOR])

    ok(await runCli(["users", "unsuspend", user.sub], SQLITE))
    assert.equal((await users.authenticate(username, PASSWORD)).sub, user.sub)
    failure(await runCli(["users", "suspend", unique("nobody")], SQLITE), 1, /^revocable users suspend: no user nobody-[0-9a-f]+\n$/)
  })

  test("clients add prints the secret once, and clients list and remove manage the credentials", async () => {
    const { store } = await openAuth(SQLITE)
    const created = JSON.parse(ok(await runCli(["clients", "add", "orders-api", "--json"], SQLITE))) as { clientId: string; clientSecret: string; name: string }
    assert.equal(created.name, "orders-api")
    const clients = clientDirectory(store)
    assert.equal((await clients.authenticate(created.clientId, created.clientSecret))?.name, "orders-api")

    const human = await runCli(["clients", "add", "billing-api"], SQLITE)
    assert.match(human.stdout, /^client_id +\S+\nclient_secret +\S+\n$/)
    assert.match(human.stderr, /shown only this once/)

    // A public client (an app) has no secret; it names itself by its id.
    const app = JSON.parse(ok(await runCli(["clients", "add", "mobile-app", "--public", "--json"], SQLITE))) as { clientId: string; clientSecret?: string }
    assert.equal(app.clientSecret, undefined)
    assert.deepEqual(await clients.find(app.clientId), { clientId: app.clientId, name: "mobile-app", type: "public", scopes: [], createdAt: (await clients.find(app.clientId))?.createdAt })

    const table = ok(await runCli(["clients", "list"], SQLITE))
    assert.ok(table.includes(created.clientId) && table.includes("orders-api") && table.includes("billing-api"))
    assert.match(table, new RegExp(`${app.clientId} +public .*mobile-app`))
    assert.match(table, new RegExp(`${created.clientId} +confidential .*orders-api`))
    assert.ok(!table.includes(created.clientSecret))

    assert.equal(ok(await runCli(["clients", "remove", created.clientId], SQLITE)), `removed client ${created.clientId}\n`)
    assert.equal(await clients.authenticate(created.clientId, created.clientSecret), null)
    failure(await runCli(["clients", "remove", created.clientId], SQLITE), 1, /^revocable clients remove: no client \S+\n$/)
  })
})

/** Runs the CLI on a pseudo-terminal (util-linux `script`), answering each prompt once it shows. */
async function atTerminal(args: string[], env: Record<string, string>, prompts: string[], answer: string): Promise<{ code: number | null; output: string }> {
  const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`
  const line = [process.execPath, MAIN, ...args].map(quote).join(" ")
  const child = spawn("script", ["-qec", line, "/dev/null"], { env: cliEnv(env), stdio: ["pipe", "pipe", "inherit"] })
  let output = ""
  let exited = false
  const waiters: (() => void)[] = []
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter()
  }
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code) => {
      exited = true
      wake()
      resolve(code)
    })
  })
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk
    wake()
  })
  let from = 0
  for (const prompt of prompts) {
    let at: number
    while ((at = output.indexOf(prompt, from)) === -1 && !exited) await new Promise<void>((resolve) => waiters.push(resolve))
    if (at === -1) break
    from = at + prompt.length
    child.stdin.write(`${answer}\r`)
  }
  const code = await closed
  child.stdin.end()
  return { code, output }
}

describe("revocable usage and failures", () => {
  test("bad command lines exit 2 with one line naming the problem", async () => {
    const cases: [string[], RegExp][] = [
      [[], /^revocable: give a command \(see 'revocable --help'\)\n$/],
      [["frobnicate"], /^revocable: unknown command "frobnicate"/],
      [["--frobnicate"], /^revocable: unknown option --frobnicate/],
      [["revoke"], /^revocable revoke: give one of --token, --session, --user/],
      [["revoke", "--session", "a", "--user", "b"], /^revocable revoke: give only one of/],
      [["revoke", "--user"], /^revocable revoke: option --user needs a value/],
      [["revocations", "--bogus"], /^revocable revocations: unknown option --bogus/],
      [["sessions"], /^revocable sessions: missing USER/],
      [["unrevoke", "session"], /^revocable unrevoke: missing ID/],
      [["unrevoke", "user", "x"], /^revocable unrevoke: KIND must be one of token, session, subject, key/],
      [["purge", "now"], /^revocable purge: unexpected argument "now"/],
      [["users"], /^revocable users: give a command: add, list, suspend, unsuspend/],
      [["users", "erase", "x"], /^revocable users: unknown command "erase"/],
      [["keys", "list", "--json=yes"], /^revocable keys list: option --json takes no value/],
    ]
    const results = await Promise.all(cases.map(([args]) => runCli(args, SQLITE)))
    results.forEach((result, index) => failure(result, 2, (cases[index] as [string[], RegExp])[1]))
  })

  test("--help works for the program and every command, on stdout with exit 0", async () => {
    const paths = [
      [], ["serve"], ["users"], ["users", "add"], ["users", "list"], ["users", "suspend"], ["users", "unsuspend"],
      ["clients"], ["clients", "add"], ["clients", "list"], ["clients", "remove"], ["revoke"], ["unrevoke"],
      ["sessions"], ["revocations"], ["keys"], ["keys", "list"], ["keys", "rotate"], ["keys", "retire"], ["purge"],
    ]
    const results = await Promise.all(paths.map((path) => runCli([...path, "--help"], SQLITE)))
    results.forEach((result, index) => {
      const path = paths[index] as string[]
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stderr, "")
      assert.ok(result.stdout.startsWith(`Usage: revocable ${path.length === 0 ? "<command>" : path.join(" ")}`), result.stdout)
    })
    assert.match(ok(await runCli(["--config", "x.json", "revoke", "-h"], SQLITE)), /^Usage: revocable revoke /)
  })

  test("a store that cannot be opened exits 1 with 'store unavailable'", async () => {
    const file = join(newStore().REVOCABLE_DATA_DIR as string, "auth.db")
    writeFileSync(file, "this is not a SQLite database")
    const result = await runCli(["revocations"], { REVOCABLE_STORE: `sqlite:${file}` })
    failure(result, 1, /^revocable revocations: store unavailable: \S.*\n$/)
  })

  test("outside the server's folder, commands say which store they looked for and how to point at it, and create none", async () => {
    const folder = newStore().REVOCABLE_DATA_DIR as string
    const commands = [["users", "list"], ["revocations"], ["revoke", "--user", "alice"], ["keys", "rotate"], ["purge"]]
    for (const args of commands) {
      const result = await runCli(args, {}, "", folder)
      failure(result, 1, new RegExp(`^revocable ${args[0]}[^:]*: no store at ${escape(join(folder, "data", "revocable.db"))} \\(REVOCABLE_DATA_DIR is \\./data; this folder is ${escape(folder)}\\): .*REVOCABLE_DATA_DIR=DIR, REVOCABLE_STORE=sqlite:FILE or --config FILE; only 'revocable serve' creates a store\n$`))
    }
    const elsewhere = join(folder, "elsewhere.db")
    failure(await runCli(["sessions", "alice"], { REVOCABLE_STORE: "sqlite:elsewhere.db" }, "", folder), 1, new RegExp(`^revocable sessions: no store at ${escape(elsewhere)} \\(REVOCABLE_STORE is sqlite:elsewhere\\.db\\)`))
    assert.deepEqual(readdirSync(folder), [])

    // Pointed at the server's store, the same command works from here.
    assert.equal((await runCli(["users", "list"], SQLITE, "", folder)).code, 0)
  })

  test("an invalid setting exits 1 with a message naming it", async () => {
    failure(await runCli(["purge"], { ...SQLITE, REVOCABLE_ACCESS_TTL: "soon" }), 1, /^revocable purge: REVOCABLE_ACCESS_TTL must be a duration/)
    failure(await runCli(["purge", "--config", join(SQLITE.REVOCABLE_DATA_DIR as string, "none.json")], SQLITE), 1, /^revocable purge: Cannot use the config file .* it does not exist/)
  })

  test("purge reports how many expired entries it removed", async () => {
    assert.match(ok(await runCli(["purge"], SQLITE)), /^removed \d+ expired entr(y|ies)\n$/)
    assert.deepEqual(Object.keys(JSON.parse(ok(await runCli(["purge", "--json"], SQLITE))) as object), ["removed"])
  })
})
