// `revocable sessions USER`: a user's live sessions, to pick one to revoke.
import { command } from "../args.ts"
import { json, table, time } from "./context.ts"
import { subjectOf } from "./users.ts"

export const sessions = command({
  name: "sessions",
  summary: "List a user's live sessions, newest first.",
  args: ["USER"],
  options: { json: { type: "boolean", help: "print the sessions as JSON (times in milliseconds since the epoch)" } },
  description: "USER is a username or a subject. A session is one login and its chain of refresh tokens; revoke one with 'revocable revoke --session SID'.",
  examples: ["revocable sessions alice"],
  async run({ values, positionals }, context) {
    const { auth } = await context.runtime()
    const { subject } = await subjectOf(context, positionals[0] ?? "")
    const list = await auth.listSessions(subject)
    if (values.json) return context.out(json(list))
    if (list.length === 0) return context.out("no live sessions")
    context.out(
      table(
        ["SID", "CREATED", "LAST USED", "EXPIRES", "DEVICE"],
        list.map((session) => [session.sid, time(session.createdAt), time(session.lastUsedAt), time(session.expiresAt), session.device]),
      ),
    )
  },
})
