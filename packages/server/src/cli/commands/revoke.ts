// `revocable revoke` and `revocable unrevoke`: the operator's grains of revocation, recorded as cli:<os user>.
import { REVOCATION_KINDS, type Revocation, type RevocationKind } from "revocable/stores"
import { command, oneOf, UsageError } from "../args.ts"
import { CliError, json, printable, time } from "./context.ts"
import { readStdin } from "./prompt.ts"
import { subjectOf } from "./users.ts"

const JSON_OPTION = { type: "boolean", help: "print the revocation as JSON" } as const

export const revoke = command({
  name: "revoke",
  summary: "Revoke a token, a session, or every token of a user, on every instance.",
  usage: "revoke (--token TOKEN | --session SID | --user USER) [--reason TEXT] [options]",
  options: {
    token: { type: "string", value: "TOKEN", help: "an access token (revokes it) or a refresh token (revokes its session); - reads it from stdin" },
    session: { type: "string", value: "SID", help: "a session: its access and refresh tokens" },
    user: { type: "string", value: "USER", help: "a username or a subject: every token issued to it until now (later logins still work)" },
    reason: { type: "string", value: "TEXT", help: "why, kept with the revocation" },
    json: JSON_OPTION,
  },
  description: "The revocation is recorded with the actor cli:<os user>, and reaches running servers through the store's change feed.",
  examples: [
    "revocable revoke --user alice --reason \"laptop stolen\"",
    "revocable revoke --session Xq3v0R8b",
    "pbpaste | revocable revoke --token -",
  ],
  async run({ values }, context) {
    const grain = oneOf(values, ["token", "session", "user"], "revoke")
    const meta = { actor: context.actor, ...(values.reason === undefined ? {} : { reason: values.reason }) }
    let revocation: Revocation | null
    if (grain === "token") {
      const token = values.token === "-" ? (await readStdin(context.io.stdin)).trim() : (values.token ?? "")
      const { auth } = await context.runtime()
      revocation = await auth.revoke(token, meta)
      if (revocation === null) throw new CliError("nothing revoked: the token is not one this server issued, or it has expired")
    } else {
      const id = (grain === "session" ? values.session : values.user) ?? ""
      if (id === "") throw new UsageError(`--${grain} needs a non-empty value`, "revoke")
      const { auth } = await context.runtime()
      if (grain === "session") {
        revocation = await auth.revokeSession(id, meta)
      } else {
        const { subject, username } = await subjectOf(context, id)
        revocation = await auth.revokeSubject(subject, meta)
        if (!values.json) return context.out(revokedLine(revocation, username))
      }
    }
    context.out(values.json ? json(revocation) : revokedLine(revocation))
  },
})

function revokedLine(revocation: Revocation, username: string | null = null): string {
  const what =
    revocation.kind === "subject"
      ? `every token of ${username === null ? "" : `${username}, `}subject ${revocation.id}, issued until ${time(revocation.createdAt)}`
      : `${revocation.kind} ${revocation.id}${revocation.subject === null ? "" : ` of subject ${revocation.subject}`}`
  return `${printable(`revoked ${what}`)}\n${printable(`undo: revocable unrevoke ${revocation.kind} ${revocation.id}`)}`
}

export const unrevoke = command({
  name: "unrevoke",
  summary: "Lift a revocation: the tokens it refused are accepted again until they expire.",
  args: ["KIND", "ID"],
  options: {},
  description: `KIND is one of ${REVOCATION_KINDS.join(", ")}; ID is the jti, sid, subject or kid, as 'revocable revocations' lists them. Exits 1 when there is no such revocation, and for a key: a retired key cannot be restored ('revocable keys rotate' makes a new one).`,
  examples: ["revocable unrevoke subject 4f1c9a", "revocable unrevoke session Xq3v0R8b"],
  async run({ positionals }, context) {
    const [kind = "", id = ""] = positionals
    if (!REVOCATION_KINDS.includes(kind as RevocationKind)) {
      throw new UsageError(`KIND must be one of ${REVOCATION_KINDS.join(", ")}, not ${JSON.stringify(kind)}`, "unrevoke")
    }
    const { auth } = await context.runtime()
    if (!(await auth.unrevoke(kind as RevocationKind, id))) throw new CliError(printable(`no ${kind} revocation ${id}`))
    context.out(printable(`unrevoked ${kind} ${id}`))
  },
})
