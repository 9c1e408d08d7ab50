// `revocable users add|list|show|suspend|unsuspend|reset-password|roles|delete`: the auth server's accounts, from
// the operator's terminal.
import { createInterface } from "node:readline/promises"
import { identityList } from "../../server/oidc/identities.ts"
import { generatePassword } from "../../server/password-reset.ts"
import { deleteUser } from "../../server/user-deletion.ts"
import { userDirectory, type User } from "../../server/user-directory.ts"
import { command, integer, UsageError, type Group } from "../args.ts"
import { CliError, json, printable, table, time, type Context } from "./context.ts"
import { promptHidden, readStdin } from "./prompt.ts"

const MAX_LIMIT = 1000

const add = command({
  name: "users add",
  summary: "Create a user; the password is asked for without echo.",
  args: ["USERNAME"],
  options: {
    role: { type: "string", multiple: true, value: "ROLE", help: "a role, such as admin (repeat for several)" },
    "password-stdin": { type: "boolean", help: "read the password from stdin instead of asking" },
    password: { type: "string", value: "PASSWORD", help: "the password itself: visible to other users of this machine, avoid" },
    json: { type: "boolean", help: "print the user as JSON" },
  },
  description: "Without a terminal to ask on, give --password-stdin. Role admin grants the admin API.",
  examples: ["revocable users add alice --role admin", "printf %s \"$PASSWORD\" | revocable users add ci-bot --password-stdin"],
  async run({ values, positionals }, context) {
    const username = positionals[0] ?? ""
    if (values.password !== undefined && values["password-stdin"]) throw new UsageError("give --password or --password-stdin, not both", "users add")
    if (values.password === undefined && !values["password-stdin"] && !context.io.stdin.isTTY) {
      throw new UsageError("no terminal to ask for the password on: give it with --password-stdin", "users add")
    }
    if (values.password !== undefined) context.note("warning: --password shows the password to other users of this machine and keeps it in shell history; prefer --password-stdin")
    const { store, auth } = await context.runtime()
    const users = userDirectory(store, auth)
    if ((await users.findByUsername(username)) !== null) throw new CliError(printable(`the username ${username} is taken`))
    const password = values.password ?? (values["password-stdin"] ? await readStdin(context.io.stdin) : await ask(context, username))
    const user = await users.create({ username, password, roles: values.role ?? [] })
    context.out(values.json ? json(user) : `created user ${user.username} (sub ${user.sub})${user.roles.length ? ` with roles ${user.roles.join(", ")}` : ""}`)
  },
})

async function ask(context: Context, username: string): Promise<string> {
  const { stdin, stderr } = context.io
  const password = await promptHidden(`Password for ${printable(username)}: `, stdin, stderr)
  if ((await promptHidden("Repeat the password: ", stdin, stderr)) !== password) throw new CliError("the two passwords differ")
  return password
}

const list = command({
  name: "users list",
  summary: "List the users, a page at a time.",
  options: {
    limit: { type: "string", value: "N", help: `at most N per page, 1 to ${MAX_LIMIT} (default 50)` },
    cursor: { type: "string", value: "CURSOR", help: "the page after the one that printed this cursor" },
    json: { type: "boolean", help: "print {items, next} as JSON (times in milliseconds since the epoch)" },
  },
  async run({ values }, context) {
    const limit = integer(values.limit, "limit", 1, MAX_LIMIT, "users list")
    const { store, auth } = await context.runtime()
    const page = await userDirectory(store, auth).list({ cursor: values.cursor, limit })
    if (values.json) return context.out(json(page))
    context.out(
      page.items.length === 0
        ? "no users"
        : table(
            ["SUB", "USERNAME", "ROLES", "STATUS", "CREATED"],
            page.items.map((user) => [user.sub, user.username, user.roles.join(","), status(user), time(user.createdAt)]),
          ),
    )
    if (page.next !== null) context.out(`more: revocable users list${limit === undefined ? "" : ` --limit ${limit}`} --cursor ${page.next}`)
  },
})

function status(user: User): string {
  return user.suspendedAt === null ? "active" : `suspended ${time(user.suspendedAt)}`
}

/** A user named by username or by subject; a name that is both (for two users) is refused, not guessed. */
async function lookUpUser(users: ReturnType<typeof userDirectory>, name: string): Promise<User | null> {
  const [bySub, byName] = await Promise.all([users.get(name), users.findByUsername(name)])
  if (bySub !== null && byName !== null && bySub.sub !== byName.sub) {
    throw new CliError(printable(`${name} is the subject of ${bySub.username} and the username of another user: give that user's subject`))
  }
  return bySub ?? byName
}

async function findUser(users: ReturnType<typeof userDirectory>, name: string): Promise<User> {
  const user = await lookUpUser(users, name)
  if (user === null) throw new CliError(printable(`no user ${name}`))
  return user
}

/**
 * The subject that a `--user` value names: a user's username or subject. Any other value is taken as a subject
 * as it is: an application may issue tokens with the library to subjects the server has no account for.
 */
export async function subjectOf(context: Context, name: string): Promise<{ subject: string; username: string | null }> {
  const { store, auth } = await context.runtime()
  const user = await lookUpUser(userDirectory(store, auth), name)
  return user === null ? { subject: name, username: null } : { subject: user.sub, username: user.username }
}

const show = command({
  name: "users show",
  summary: "Show a user: roles, status, and the OpenID Connect identities linked to the account.",
  args: ["USER"],
  options: { json: { type: "boolean", help: "print the user and its identities as JSON (times in milliseconds since the epoch)" } },
  description: "USER is a username or a subject.",
  examples: ["revocable users show alice"],
  async run({ values, positionals }, context) {
    const { store, auth } = await context.runtime()
    const users = userDirectory(store, auth)
    const user = await findUser(users, positionals[0] ?? "")
    const identities = await identityList(store, users).list(user.sub)
    if (values.json) return context.out(json({ ...user, identities }))
    context.out(
      table(
        ["SUB", "USERNAME", "ROLES", "STATUS", "CREATED", "PASSWORD"],
        [[user.sub, user.username, user.roles.join(","), status(user), time(user.createdAt), user.passwordless ? "none (signs in through its identities)" : "set"]],
      ),
    )
    context.out(
      identities.length === 0
        ? "no linked identities"
        : table(
            ["PROVIDER", "ISSUER", "SUBJECT", "EMAIL", "LINKED"],
            identities.map((identity) => [identity.provider, identity.issuer, identity.subject, identity.email, time(identity.linkedAt)]),
          ),
    )
  },
})

const suspend = command({
  name: "users suspend",
  summary: "Suspend a user: every token of theirs is revoked and logins are refused.",
  args: ["USER"],
  options: {
    reason: { type: "string", value: "TEXT", help: "why, kept with the revocation" },
    json: { type: "boolean", help: "print the user as JSON" },
  },
  description: "USER is a username or a subject.",
  examples: ["revocable users suspend alice --reason \"incident 42\""],
  async run({ values, positionals }, context) {
    const { store, auth } = await context.runtime()
    const users = userDirectory(store, auth)
    const found = await findUser(users, positionals[0] ?? "")
    const user = await users.suspend(found.sub, { actor: context.actor, ...(values.reason === undefined ? {} : { reason: values.reason }) })
    if (user === null) throw new CliError(printable(`no user ${found.username}`))
    context.out(values.json ? json(user) : `suspended ${user.username} (sub ${user.sub}): every token revoked, logins refused`)
  },
})

const unsuspend = command({
  name: "users unsuspend",
  summary: "Let a suspended user log in again; tokens revoked by the suspension stay revoked.",
  args: ["USER"],
  options: { json: { type: "boolean", help: "print the user as JSON" } },
  description: "USER is a username or a subject.",
  async run({ values, positionals }, context) {
    const { store, auth } = await context.runtime()
    const users = userDirectory(store, auth)
    const found = await findUser(users, positionals[0] ?? "")
    const user = await users.unsuspend(found.sub)
    if (user === null) throw new CliError(printable(`no user ${found.username}`))
    context.out(values.json ? json(user) : `unsuspended ${user.username} (sub ${user.sub}): logins allowed again`)
  },
})

const resetPassword = command({
  name: "users reset-password",
  summary: "Reset a user's password: every token of theirs is revoked.",
  args: ["USER"],
  options: {
    "password-stdin": { type: "boolean", help: "read the new password from stdin (the password policy applies)" },
    reason: { type: "string", value: "TEXT", help: "why, kept with the revocation" },
    json: { type: "boolean", help: "print the user (and a generated password) as JSON" },
  },
  description: "USER is a username or a subject. Without --password-stdin, a password of 24 random characters is generated and printed once: hand it to the user, who signs in with it and changes it.",
  examples: ["revocable users reset-password alice", "printf %s \"$PASSWORD\" | revocable users reset-password alice --password-stdin"],
  async run({ values, positionals }, context) {
    const { store, auth, audit } = await context.runtime()
    const users = userDirectory(store, auth)
    const found = await findUser(users, positionals[0] ?? "")
    const generated = values["password-stdin"] ? null : generatePassword()
    const password = generated ?? (await readStdin(context.io.stdin))
    const reason = values.reason ?? "password reset from the CLI"
    const user = await users.resetPassword(found.sub, password, { meta: { actor: context.actor, reason } })
    if (user === null) throw new CliError(printable(`no user ${found.username}`))
    await audit.record({ type: "password.reset", subject: user.sub, actor: context.actor, reason, details: { method: "cli", generated: generated !== null } })
    if (values.json) return context.out(json(generated === null ? user : { ...user, password: generated }))
    context.out(`reset the password of ${user.username} (sub ${user.sub}): every token revoked`)
    if (generated !== null) context.out(`new password: ${generated}`)
  },
})

const roles = command({
  name: "users roles",
  summary: "Set a user's roles; taking one away revokes every token of the user.",
  args: ["USER"],
  options: {
    set: { type: "string", value: "ROLES", help: "every role the user has from now on, comma-separated (\"\" for none)" },
    json: { type: "boolean", help: "print the user as JSON" },
  },
  description: "USER is a username or a subject. A session's tokens carry the roles of its sign-in: an added role shows from the user's next sign-in. The last admin keeps the role admin.",
  examples: ["revocable users roles alice --set admin,support", "revocable users roles bob --set \"\""],
  async run({ values, positionals }, context) {
    if (values.set === undefined) throw new UsageError("give the roles with --set, such as --set admin,support", "users roles")
    const wanted = values.set.split(",").map((role) => role.trim()).filter((role) => role !== "")
    const { store, auth, audit } = await context.runtime()
    const users = userDirectory(store, auth)
    const found = await findUser(users, positionals[0] ?? "")
    const changed = await users.setRoles(found.sub, wanted, { reason: "roles changed", actor: context.actor })
    if (changed === null) throw new CliError(printable(`no user ${found.username}`))
    const { before, after } = changed
    await audit.record({ type: "user.roles_changed", subject: after.sub, actor: context.actor, details: { before: before.roles, after: after.roles } })
    context.out(values.json ? json(after) : `${after.username} (sub ${after.sub}) has ${after.roles.length === 0 ? "no roles" : `roles ${after.roles.join(", ")}`}`)
  },
})

const remove = command({
  name: "users delete",
  summary: "Delete a user: every token revoked, the account and its linked identities removed.",
  args: ["USER"],
  options: { yes: { type: "boolean", help: "do not ask for confirmation (required without a terminal)" } },
  description:
    "USER is a username or a subject. Asks you to type the username first. The username and mail address are free again afterwards; the audit log keeps a user.deleted event with the subject only.",
  examples: ["revocable users delete alice", "revocable users delete alice --yes"],
  async run({ values, positionals }, context) {
    if (!values.yes && !context.io.stdin.isTTY) throw new UsageError("no terminal to confirm on: give --yes", "users delete")
    const runtime = await context.runtime()
    const users = userDirectory(runtime.store, runtime.auth)
    const user = await findUser(users, positionals[0] ?? "")
    if (!values.yes && !(await confirmed(context, user))) throw new CliError("not deleted: the typed name did not match")
    if (!(await deleteUser({ users, store: runtime.store, audit: runtime.audit }, user.sub, context.actor))) throw new CliError(printable(`no user ${user.username}`))
    context.out(`deleted ${user.username} (sub ${user.sub}): every token revoked, the account removed`)
  },
})

/** Asks at the terminal for the username of the user about to be deleted. */
async function confirmed(context: Context, user: User): Promise<boolean> {
  const prompt = createInterface({ input: context.io.stdin, output: context.io.stderr })
  try {
    const answer = await prompt.question(printable(`Delete ${user.username} (sub ${user.sub}) and revoke every token? Type the username to confirm: `))
    return answer.trim() === user.username
  } finally {
    prompt.close()
  }
}

export const users: Group = {
  name: "users",
  summary: "Manage the auth server's user accounts.",
  commands: [add, list, suspend, unsuspend, show, resetPassword, roles, remove],
}
