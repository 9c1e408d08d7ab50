/// <reference lib="dom" />
// The account page: who you are, your sessions (sign one out, or all), your sign-in providers, and your password.
import type { Identities, Me, PasswordChanged, Session } from "../server/schemas.ts"
import { recentActivity } from "./activity.ts"
import { confirmAction, describe, field, h, reporter } from "./dom.ts"
import { identitiesSection, listProviders, signOut } from "./federation.ts"
import { emailSection } from "./recovery.ts"
import { ago, sessionDevice, sessionsTable } from "./sessions.ts"
import type { Shell } from "./shell.ts"

export async function accountView(shell: Shell, ticket: number): Promise<void> {
  const { client, mount, act, render } = shell
  const report = reporter()
  let sessions: Session[]
  let current: Me
  let identities: Identities
  try {
    ;[current, sessions, identities] = await Promise.all([client.call<Me>("me"), client.call<Session[]>("auth/sessions"), client.call<Identities>("me/identities")])
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "My account"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  shell.me = current
  const [providers, activity, email] = await Promise.all([listProviders(client), recentActivity(client), emailSection(shell, identities.passwordless)])
  if (shell.failure !== null) report.fail(shell.failure)
  else if (shell.notice !== "") report.ok(shell.notice)
  shell.failure = null
  shell.notice = ""
  const reload = h("button", { type: "button", class: "secondary", id: "reload" }, "Reload")
  reload.addEventListener("click", () => void render())

  const signOutButton = (session: Session): HTMLElement => {
    const device = sessionDevice(session)
    const button = h(
      "button",
      { type: "button", class: "danger secondary", "aria-label": `Sign out ${session.current === true ? "this session" : `the session on ${device}`}` },
      "Sign out",
    )
    button.addEventListener("click", () => {
      if (session.current === true) return void act(button, () => signOut(client), report)
      void act(button, () => client.call(`auth/sessions/${encodeURIComponent(session.session_id)}`, { method: "DELETE" }), report).then((done) => {
        if (done) void render()
      })
    })
    return button
  }
  const everywhere = h("button", { type: "button", class: "danger" }, "Sign out everywhere")
  everywhere.addEventListener("click", async () => {
    if (await confirmAction("Sign out everywhere?", "Every session of your account ends, this one included, on every device.", "Sign out everywhere")) {
      void act(everywhere, () => client.logoutEverywhere(), report)
    }
  })

  // An account made by a federated sign-in has no password to show: its first one is set from the session.
  const currentPassword = field("current-password", "Current password", { type: "password", autocomplete: "current-password", required: !identities.passwordless })
  currentPassword.node.hidden = identities.passwordless
  const nextPassword = field("next-password", "New password", { type: "password", autocomplete: "new-password", required: true, minlength: 8 }, "At least 8 characters, not a common password nor close to your username. Your other sessions will be signed out.")
  const change = h("button", { type: "submit" }, identities.passwordless ? "Set password" : "Change password")
  // The account's name, for password managers: they file the new password under it.
  const account = h("input", { type: "text", autocomplete: "username", value: current.username ?? current.sub, readonly: true, hidden: true })
  const passwordForm = h("form", { class: "stack", "aria-labelledby": "password-title" }, account, currentPassword.node, nextPassword.node, change)
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(
      change,
      async () => {
        const answer = await client.call<PasswordChanged>("auth/password", {
          body: { current_password: currentPassword.input.value, new_password: nextPassword.input.value },
        })
        passwordForm.reset()
        const others = answer.revoked_sessions
        const said = `${others} other session${others === 1 ? " was" : "s were"} signed out.`
        if (!identities.passwordless) return report.ok(`Password changed; ${said}`)
        // The page changes with it: a current password from now on, and identities that may be unlinked.
        shell.notice = `Password set; ${said}`
        await render()
      },
      report,
    )
  })

  mount(ticket, [
    h("h1", {}, "My account"),
    report.node,
    h(
      "section",
      { class: "panel", "aria-labelledby": "me-title" },
      h("h2", { id: "me-title" }, `Signed in as ${current.username ?? current.sub}`),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Roles"),
        h("dd", {}, current.roles.length === 0 ? "none" : current.roles.join(", ")),
        h("dt", {}, "Access token expires"),
        h("dd", { id: "me-expires" }, ago(current.expires_at)),
      ),
      reload,
    ),
    h(
      "section",
      { "aria-labelledby": "sessions-title" },
      h("h2", { id: "sessions-title" }, "Sessions"),
      sessionsTable("sessions", `Where you are signed in: ${sessions.length} session${sessions.length === 1 ? "" : "s"}.`, sessions, signOutButton),
      h("div", { class: "actions" }, everywhere),
    ),
    identitiesSection(shell, report, identities, providers),
    email,
    h(
      "section",
      { "aria-labelledby": "password-title" },
      h("h2", { id: "password-title" }, identities.passwordless ? "Set a password" : "Change password"),
      identities.passwordless ? h("p", {}, "You sign in through a provider only. A password lets you sign in without it, and unlink it.") : null,
      passwordForm,
    ),
    activity,
  ])
}
