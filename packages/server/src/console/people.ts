/// <reference lib="dom" />
// The users page (admins): accounts, their sign-in providers and sessions, suspension.
import type { Session, User, UserDetail, UserPage } from "../server/schemas.ts"
import { deviceName, field, h, reporter, when } from "./dom.ts"
import { identitiesTable, signedInWith } from "./federation.ts"
import type { Shell } from "./shell.ts"

export async function usersView(shell: Shell, ticket: number): Promise<void> {
  const { client, mount, act } = shell
  const report = reporter()
  const body = h("tbody")
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more")
  const detail = h("div")
  let cursor: string | null = null

  const sessionsOf = async (user: User): Promise<void> => {
    const [sessions, account] = await Promise.all([
      client.call<Session[]>(`admin/users/${encodeURIComponent(user.sub)}/sessions`),
      client.call<UserDetail>(`admin/users/${encodeURIComponent(user.sub)}`),
    ])
    const title = h("h2", { id: "detail-title", tabindex: -1 }, `Sessions of ${user.username}`)
    const rows = sessions.map((session) => {
      const revoke = h("button", { type: "button", class: "danger secondary", "aria-label": `Revoke the session on ${deviceName(session.device)}` }, "Revoke")
      revoke.addEventListener("click", () => {
        void act(revoke, () => client.call("admin/revocations", { body: { kind: "session", id: session.session_id, reason: "revoked from the console" } }), report).then((done) => {
          if (done) void act(revoke, () => sessionsOf(user), report)
        })
      })
      return h(
        "tr",
        { "data-session": session.session_id },
        h("td", { title: session.device }, deviceName(session.device)),
        h("td", {}, when(session.created_at), signedInWith(session)),
        h("td", {}, when(session.last_used_at)),
        h("td", {}, revoke),
      )
    })
    detail.replaceChildren(
      h(
        "section",
        { class: "panel", "aria-labelledby": "detail-title" },
        title,
        h("h3", {}, "Sign-in providers"),
        account.identities.length === 0
          ? h("p", { class: "hint" }, "No provider account is linked: signs in with a password.")
          : identitiesTable(account.identities),
        account.passwordless ? h("p", { class: "hint" }, "No password set: signs in through these providers only.") : null,
        h("h3", {}, "Sessions"),
        sessions.length === 0
          ? h("p", {}, "No live session.")
          : h(
              "table",
              {},
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Device"), h("th", { scope: "col" }, "Signed in"), h("th", { scope: "col" }, "Last used"), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action")))),
              h("tbody", {}, ...rows),
            ),
      ),
    )
    title.focus()
  }

  const suspendForm = (user: User, tr: HTMLElement): void => {
    const reason = field("suspend-reason", "Reason", { autocomplete: "off" })
    const confirm = h("button", { type: "submit", class: "danger" }, `Suspend ${user.username}`)
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel")
    cancel.addEventListener("click", () => detail.replaceChildren())
    const form = h("form", { class: "inline", "aria-labelledby": "detail-title" }, reason.node, confirm, cancel)
    form.addEventListener("submit", (event) => {
      event.preventDefault()
      void act(
        confirm,
        async () => {
          const updated = await client.call<User>(`admin/users/${encodeURIComponent(user.sub)}/suspend`, { body: reason.input.value === "" ? {} : { reason: reason.input.value } })
          tr.replaceWith(row(updated))
          detail.replaceChildren()
          report.ok(`${updated.username} is suspended: every token they held is revoked and they cannot sign in.`)
        },
        report,
      )
    })
    detail.replaceChildren(
      h(
        "section",
        { class: "panel" },
        h("h2", { id: "detail-title" }, `Suspend ${user.username}?`),
        h("p", {}, "Every token they hold is revoked at once, and their sign-ins are refused until unsuspended."),
        form,
      ),
    )
    reason.input.focus()
  }

  const row = (user: User): HTMLElement => {
    const sessions = h("button", { type: "button", class: "secondary", "aria-label": `Sessions of ${user.username}` }, "Sessions")
    sessions.addEventListener("click", () => void act(sessions, () => sessionsOf(user), report))
    const suspended = user.suspended_at !== null
    const toggle = h("button", { type: "button", class: suspended ? "secondary" : "danger secondary", "aria-label": `${suspended ? "Unsuspend" : "Suspend"} ${user.username}` }, suspended ? "Unsuspend" : "Suspend")
    // Suspending yourself would lock the console out.
    const self = user.sub === shell.me?.sub
    const tr = h(
      "tr",
      { "data-user": user.username },
      h("td", {}, user.username),
      h("td", {}, h("code", {}, user.sub)),
      h("td", {}, user.roles.length === 0 ? "—" : user.roles.join(", ")),
      h("td", {}, when(user.created_at)),
      h("td", {}, suspended ? h("span", { class: "badge bad" }, "Suspended") : h("span", { class: "badge good" }, "Active")),
      h("td", {}, h("div", { class: "actions" }, sessions, self ? null : toggle, h("a", { href: `#/admin/revocations?user=${encodeURIComponent(user.username)}` }, "Revocations"))),
    )
    toggle.addEventListener("click", () => {
      if (!suspended) return suspendForm(user, tr)
      void act(
        toggle,
        async () => {
          const updated = await client.call<User>(`admin/users/${encodeURIComponent(user.sub)}/unsuspend`, { method: "POST" })
          tr.replaceWith(row(updated))
          report.ok(`${updated.username} can sign in again; the tokens revoked by the suspension stay revoked.`)
        },
        report,
      )
    })
    return tr
  }

  const load = async (): Promise<void> => {
    const page = await client.call<UserPage>(`admin/users?limit=50${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
    body.append(...page.items.map(row))
    cursor = page.next
    more.hidden = cursor === null
  }
  more.addEventListener("click", () => void act(more, load, report))
  try {
    await load()
  } catch (error) {
    if (!client.signedIn) return
    report.fail(error)
  }
  mount(ticket, [
    h("h1", {}, "Users"),
    report.node,
    h(
      "table",
      { id: "users" },
      h("caption", {}, "Accounts, in id order."),
      h(
        "thead",
        {},
        h("tr", {}, ...["Username", "Id", "Roles", "Created", "Status"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Actions"))),
      ),
      body,
    ),
    more,
    detail,
  ])
}
