/// <reference lib="dom" />
// Password recovery in the console: "Forgot password?" (ask for a link), the page a mailed link opens (#/reset,
// #/verify-email: the token in the fragment, which the browser never sends), the address on the account page, and
// an admin's reset of a user's password.
import { ClientError, type Client } from "revocable/client"
import type { User } from "../server/schemas.ts"
import { confirmAction, field, h, reporter } from "./dom.ts"
import type { Report, Shell } from "./shell.ts"

interface Offer {
  available: boolean
  email_verification: boolean
}
interface Email {
  email: string | null
  email_verified: boolean
}

async function offer(client: Client): Promise<Offer> {
  try {
    return await client.call<Offer>("auth/password-reset")
  } catch {
    return { available: false, email_verification: false }
  }
}

/** "Forgot password?" under the sign-in form, shown only when the server mails reset links. */
export function forgotLink(client: Client): HTMLElement {
  const paragraph = h("p", { hidden: true }, h("a", { href: "#/forgot" }, "Forgot password?"))
  void offer(client).then(({ available }) => {
    paragraph.hidden = !available
  })
  return paragraph
}

export function forgotView(shell: Shell, ticket: number): void {
  const { client, mount, act } = shell
  const report = reporter()
  const who = field("reset-who", "Email or username", { autocomplete: "username", required: true }, "A link to choose a new password is mailed to the account's address.")
  const submit = h("button", { type: "submit" }, "Send reset link")
  const form = h("form", { class: "stack", "aria-labelledby": "forgot-title" }, who.node, submit)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const value = who.input.value.trim()
    void act(
      submit,
      async () => {
        await client.call("auth/password-reset", { body: value.includes("@") ? { email: value } : { username: value } })
        report.ok("If an account matches and has an address, a link is on its way: check your mail. It works once, for a short time.")
      },
      report,
    )
  })
  mount(ticket, [h("h1", { id: "forgot-title" }, "Reset your password"), report.node, form, h("p", {}, h("a", { href: "#/account" }, "Back to sign in"))], who.input)
}

/** The page a reset link opens: the token is taken from the URL at once, so that it stays in no history entry. */
export function resetView(shell: Shell, ticket: number, query: URLSearchParams): void {
  const { client, mount, act, render } = shell
  const token = query.get("token") ?? ""
  history.replaceState(null, "", "#/reset")
  const report = reporter()
  const password = field("reset-password", "New password", { type: "password", autocomplete: "new-password", required: true, minlength: 8 }, "At least 8 characters, not a common password nor close to your username. Every session of the account will be signed out.")
  const again = field("reset-again", "New password again", { type: "password", autocomplete: "new-password", required: true })
  const submit = h("button", { type: "submit" }, "Set password")
  const form = h("form", { class: "stack", "aria-labelledby": "reset-title" }, password.node, again.node, submit)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    if (password.input.value !== again.input.value) return report.fail(new ClientError("invalid_request", 400, "The two passwords differ."))
    void act(
      submit,
      async () => {
        await client.call("auth/password-reset/confirm", { body: { token, new_password: password.input.value } })
        shell.notice = "Your password is set, and every session of your account was signed out. Sign in with the new password."
        history.replaceState(null, "", "#/account")
        await render()
      },
      report,
    )
  })
  if (token === "") report.fail(new ClientError("invalid_request", 400, "This page needs the link from the mail: open it again."))
  mount(ticket, [h("h1", { id: "reset-title" }, "Choose a new password"), report.node, form], password.input)
}

/** The page a verification link opens: it verifies at once and says so. */
export async function verifyEmailView(shell: Shell, ticket: number, query: URLSearchParams): Promise<void> {
  const { client, mount } = shell
  const token = query.get("token") ?? ""
  history.replaceState(null, "", "#/verify-email")
  const report = reporter()
  try {
    const answer = await client.call<Email>("auth/email/verify", { body: { token } })
    report.ok(`${answer.email ?? "Your address"} is verified: password-reset links can be sent to it.`)
  } catch (error) {
    report.fail(error)
  }
  mount(ticket, [h("h1", {}, "Verify your address"), report.node, h("p", {}, h("a", { href: "#/account" }, "Go to your account"))])
}

/** The account page's section: the address reset links go to, changed with the current password. */
export async function emailSection(shell: Shell, passwordless: boolean): Promise<HTMLElement> {
  const { client, act } = shell
  const report = reporter()
  const [current, { email_verification: verifying }] = await Promise.all([client.call<Email>("auth/email").catch(() => ({ email: null, email_verified: false })), offer(client)])
  const status = h("p", { id: "email-status" })
  const show = (state: Email) => {
    status.textContent = state.email === null ? "No address: a forgotten password can only be reset by an administrator." : `${state.email}${verifying ? (state.email_verified ? " (verified)" : " (not verified yet: open the link mailed to it)") : ""}`
  }
  show(current)
  const email = field("email", "Email", { type: "email", autocomplete: "email", value: current.email ?? "" }, "Leave empty to remove it.")
  const password = field("email-password", "Current password", { type: "password", autocomplete: "current-password", required: !passwordless })
  password.node.hidden = passwordless
  const save = h("button", { type: "submit" }, "Save address")
  const form = h("form", { class: "stack", "aria-labelledby": "email-title" }, email.node, password.node, save)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(
      save,
      async () => {
        const answer = await client.call<Email & { verification_sent: boolean }>("auth/email", { body: { email: email.input.value.trim(), current_password: password.input.value } })
        password.input.value = ""
        show(answer)
        report.ok(answer.verification_sent ? "Address saved: open the link mailed to it to verify it." : "Address saved.")
      },
      report,
    )
  })
  return h("section", { "aria-labelledby": "email-title" }, h("h2", { id: "email-title" }, "Email"), status, report.node, form)
}

/** The users page's "Reset password": asks first, then shows the generated password once. */
export function resetPasswordButton(shell: Shell, user: User, report: Report & { ok(text: string): void }): HTMLElement {
  const button = h("button", { type: "button", class: "danger secondary", "aria-label": `Reset the password of ${user.username}` }, "Reset password")
  button.addEventListener("click", async () => {
    const yes = await confirmAction(`Reset the password of ${user.username}?`, "A new password is generated and shown once; every session of theirs is signed out at once.", "Reset password")
    if (!yes) return
    void shell.act(
      button,
      async () => {
        const answer = await shell.client.call<User & { password: string }>(`admin/users/${encodeURIComponent(user.sub)}/password`, { method: "POST", body: {} })
        report.ok(`New password of ${answer.username}: ${answer.password} — shown only now. Every session of theirs was signed out.`)
      },
      report,
    )
  })
  return button
}
