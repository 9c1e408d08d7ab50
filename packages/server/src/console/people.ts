/// <reference lib="dom" />
// The users page (admins): find accounts (the start of a username or an email), sort them, open one to see its
// roles, sign-in providers, sessions and recent activity; edit its roles, suspend it, or delete it.
import type { UserOverview } from "../server/routes/admin.ts"
import type { User, UserPage } from "../server/schemas.ts"
import { confirmAction, field, h, reporter } from "./dom.ts"
import { eventLabel } from "./activity.ts"
import { identitiesTable } from "./federation.ts"
import { resetPasswordButton } from "./recovery.ts"
import { ago, sessionDevice, sessionsTable } from "./sessions.ts"
import type { Shell } from "./shell.ts"

export async function usersView(shell: Shell, ticket: number): Promise<void> {
  const { client, mount, act } = shell
  const report = reporter()
  const body = h("tbody")
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more")
  const detail = h("div")
  let cursor: string | null = null

  const rolesForm = (account: UserOverview, tr: HTMLElement | undefined): HTMLElement => {
    const roles = field("user-roles", "Roles", { value: account.roles.join(", "), autocomplete: "off" }, "Comma-separated, such as admin, support. Taking a role away signs the user out everywhere.")
    const save = h("button", { type: "submit" }, "Save roles")
    const form = h("form", { class: "inline", "aria-label": `Roles of ${account.username}` }, roles.node, save)
    form.addEventListener("submit", (event) => {
      event.preventDefault()
      const wanted = roles.input.value.split(",").map((role) => role.trim()).filter((role) => role !== "")
      void act(
        save,
        async () => {
          const updated = await client.call<User>(`admin/users/${encodeURIComponent(account.sub)}/roles`, { method: "PUT", body: { roles: wanted } })
          tr?.replaceWith(row(updated))
          await open(updated)
          report.ok(`${updated.username} has ${updated.roles.length === 0 ? "no roles" : `the roles ${updated.roles.join(", ")}`}.`)
        },
        report,
      )
    })
    return form
  }

  const open = async (user: User): Promise<void> => {
    const account = await client.call<UserOverview>(`admin/users/${encodeURIComponent(user.sub)}`)
    const tr = body.querySelector<HTMLElement>(`tr[data-sub="${CSS.escape(user.sub)}"]`) ?? undefined
    const title = h("h2", { id: "detail-title", tabindex: -1 }, `User ${account.username}`)
    const revoke = (session: UserOverview["sessions"][number]): HTMLElement => {
      const button = h("button", { type: "button", class: "danger secondary", "aria-label": `Revoke the session on ${sessionDevice(session)}` }, "Revoke")
      button.addEventListener("click", () => {
        void act(button, () => client.call("admin/revocations", { body: { kind: "session", id: session.session_id, reason: "revoked from the console" } }), report).then((done) => {
          if (done) void act(button, () => open(user), report)
        })
      })
      return button
    }
    const self = account.sub === shell.me?.sub
    const remove = h("button", { type: "button", class: "danger" }, `Delete ${account.username}`)
    remove.addEventListener("click", async () => {
      const consequence = `Every token of ${account.username} is revoked at once, and the account, its sign-in providers and sessions are removed for good. The audit log keeps only that an account was deleted.`
      if (!(await confirmAction(`Delete ${account.username}?`, consequence, `Delete ${account.username}`))) return
      void act(
        remove,
        async () => {
          await client.call(`admin/users/${encodeURIComponent(account.sub)}`, { method: "DELETE" })
          tr?.remove()
          detail.replaceChildren()
          report.ok(`${account.username} is deleted: every token they held is revoked.`)
        },
        report,
      )
    })
    detail.replaceChildren(
      h(
        "section",
        { class: "panel", "aria-labelledby": "detail-title" },
        title,
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "User id"),
          h("dd", {}, h("code", {}, account.sub)),
          h("dt", {}, "Created"),
          h("dd", {}, ago(account.created_at)),
          h("dt", {}, "Status"),
          h("dd", {}, account.suspended_at === null ? "Active" : h("span", {}, "Suspended ", ago(account.suspended_at))),
        ),
        rolesForm(account, tr),
        h("h3", {}, "Sign-in providers"),
        account.identities.length === 0
          ? h("p", { class: "hint" }, "No provider account is linked: signs in with a password.")
          : identitiesTable(account.identities),
        account.passwordless ? h("p", { class: "hint" }, "No password set: signs in through these providers only.") : null,
        h("h3", {}, "Sessions"),
        account.sessions.length === 0 ? h("p", {}, "No live session.") : sessionsTable("user-sessions", `${account.sessions.length} live session${account.sessions.length === 1 ? "" : "s"}, newest first.`, account.sessions, revoke, true),
        h("h3", {}, "Recent activity"),
        account.events.length === 0
          ? h("p", {}, "Nothing recorded.")
          : h("ul", { class: "events" }, ...account.events.slice(0, 5).map((event) => h("li", {}, ago(event.at), ` ${eventLabel(event.type)}${event.reason === null ? "" : ` (${event.reason})`}`))),
        h("p", {}, h("a", { href: `#/admin/activity?user=${encodeURIComponent(account.sub)}` }, `All activity of ${account.username}`)),
        self ? h("p", { class: "hint" }, "This is you: another admin can delete your account.") : h("div", { class: "actions" }, remove),
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
    const opener = h("button", { type: "button", class: "secondary", "aria-label": `Open ${user.username}` }, "Open")
    opener.addEventListener("click", () => void act(opener, () => open(user), report))
    const suspended = user.suspended_at !== null
    const toggle = h("button", { type: "button", class: suspended ? "secondary" : "danger secondary", "aria-label": `${suspended ? "Unsuspend" : "Suspend"} ${user.username}` }, suspended ? "Unsuspend" : "Suspend")
    // Suspending yourself would lock the console out.
    const self = user.sub === shell.me?.sub
    const tr = h(
      "tr",
      { "data-user": user.username, "data-sub": user.sub },
      h("td", {}, user.username),
      h("td", {}, user.roles.length === 0 ? "—" : user.roles.join(", ")),
      h("td", {}, ago(user.created_at)),
      h("td", {}, suspended ? h("span", { class: "badge bad" }, "Suspended") : h("span", { class: "badge good" }, "Active")),
      h("td", {}, h("div", { class: "actions" }, opener, self ? null : toggle, self ? null : resetPasswordButton(shell, user, report), h("a", { href: `#/admin/revocations?user=${encodeURIComponent(user.username)}` }, "Revocations"))),
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

  const search = field("user-search", "Username or email starts with", { type: "search", autocomplete: "off" })
  const sort = h("select", { id: "user-sort", name: "sort" }, h("option", { value: "name" }, "Name, A to Z"), h("option", { value: "created" }, "Newest first"))
  const caption = h("caption", {}, "Accounts by name.")
  const load = async (): Promise<void> => {
    const q = search.input.value.trim()
    // A search lists its matches by name.
    sort.disabled = q !== ""
    const params = new URLSearchParams({ limit: "50", sort: q === "" ? sort.value : "name" })
    if (q !== "") params.set("q", q)
    if (cursor !== null) params.set("cursor", cursor)
    const page = await client.call<UserPage>(`admin/users?${params}`)
    body.append(...page.items.map(row))
    cursor = page.next
    more.hidden = cursor === null
    const shown = body.children.length
    caption.textContent = q === "" ? (sort.value === "created" ? "Accounts, newest first." : "Accounts by name.") : `${shown}${cursor === null ? "" : "+"} account${shown === 1 ? "" : "s"} whose username or email starts with "${q}".`
  }
  const reload = (): Promise<void> => {
    cursor = null
    body.replaceChildren()
    return load()
  }
  const finder = h("form", { class: "inline", role: "search", "aria-label": "Find users" }, search.node, h("div", { class: "field" }, h("label", { for: "user-sort" }, "Sort"), sort), h("button", { type: "submit" }, "Search"))
  finder.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(finder.querySelector("button") as HTMLElement, reload, report)
  })
  sort.addEventListener("change", () => void act(sort, reload, report))
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
    finder,
    h(
      "table",
      { id: "users" },
      caption,
      h(
        "thead",
        {},
        h("tr", {}, ...["Username", "Roles", "Created", "Status"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Actions"))),
      ),
      body,
    ),
    more,
    detail,
  ])
}
