/// <reference lib="dom" />
// The web console: sign in, register, your account and sessions, and for admins the revocations, users, keys,
// activity and webhooks. Plain DOM, routed by the URL's hash (#/account, #/admin/users, ...); every text from the server goes in
// with textContent, never as HTML. Served by the auth server with revocable/client, both as ES modules.
import { ClientError, createClient } from "revocable/client"
import type { Me } from "../server/schemas.ts"
import { accountView } from "./account.ts"
import { activityView } from "./activity.ts"
import { describe, element, field, h, reporter } from "./dom.ts"
import { federatedFailure, providerButtons, signOut } from "./federation.ts"
import { usersView } from "./people.ts"
import { forgotLink, forgotView, resetView, verifyEmailView } from "./recovery.ts"
import { revocationsView } from "./revoking.ts"
import type { Report, Shell } from "./shell.ts"
import { keysView } from "./signing.ts"
import { webhooksView } from "./webhooks.ts"

const main = element("main")
const nav = element("nav")
const who = element("who")
const signOutButton = element("signout")

/** Each render takes a ticket; a render overtaken by a newer one writes nothing. */
let renders = 0

const shell: Shell = {
  client: createClient({ baseUrl: new URL(".", location.href) }),
  me: null,
  notice: "",
  failure: null,
  mount,
  act,
  render: () => render(),
}
const { client } = shell

// A federated sign-in that failed comes back as #/account?error=<code>: said once, then dropped from the URL.
const failed = route().query.get("error")
if (failed !== null) {
  shell.failure = federatedFailure(failed)
  history.replaceState(null, "", "#/account")
}

const ENDINGS: Record<string, string> = {
  logout: "You signed out.",
  "logout-everywhere": "You signed out on every device.",
  token_revoked: "Your session has ended: it was signed out from another device or revoked by an administrator.",
  refresh_token_reused: "Your session was ended because its refresh token was used twice, which can mean it was stolen. Sign in again.",
}

client.on("logged-out", ({ reason }) => {
  shell.me = null
  shell.notice = ENDINGS[reason] ?? "Your session has ended. Sign in again."
  void render()
})
client.on("logged-in", () => {
  shell.me = null
  shell.notice = ""
  void render()
})
window.addEventListener("hashchange", () => void render())
signOutButton.addEventListener("click", () => {
  void act(signOutButton, () => signOut(client), { fail: (error) => main.prepend(h("p", { class: "error", role: "alert" }, describe(error))) })
})

void client.restore().then(
  () => render(),
  (error: unknown) => render(error),
)

// ---- rendering ----------------------------------------------------------------------------------------------

function route(): { path: string; query: URLSearchParams } {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(1) : "/account"
  const [path = "/account", query = ""] = hash.split("?", 2)
  return { path, query: new URLSearchParams(query) }
}

/** Replaces the view; focus goes to `focus` (default the heading) so keyboard and screen reader users follow. */
function mount(ticket: number, nodes: Node[], focus?: HTMLElement): void {
  if (ticket !== renders) return
  main.replaceChildren(...nodes)
  const target = focus ?? main.querySelector("h1")
  if (target instanceof HTMLElement) {
    if (target.tagName === "H1") target.tabIndex = -1
    target.focus()
  }
}

function chrome(user: Me | null): void {
  nav.hidden = user === null
  who.hidden = user === null
  signOutButton.hidden = user === null
  who.textContent = user === null ? "" : `Signed in as ${user.username ?? user.sub}`
  const admin = user?.roles.includes("admin") === true
  const { path } = route()
  nav.querySelectorAll("a").forEach((link) => {
    if (link.hasAttribute("data-admin")) link.hidden = !admin
    if (link.getAttribute("href") === `#${path}`) link.setAttribute("aria-current", "page")
    else link.removeAttribute("aria-current")
  })
}

/** Runs an action from a button or form: disabled meanwhile; a session that ended is handled by the event. */
async function act(control: HTMLElement, action: () => Promise<unknown>, report?: Report): Promise<boolean> {
  if (control instanceof HTMLButtonElement) control.disabled = true
  const signedIn = client.signedIn
  try {
    await action()
    return true
  } catch (error) {
    // A session that ended meanwhile has its own view: the "logged-out" listener shows the sign-in.
    if (!(signedIn && !client.signedIn)) report?.fail(error)
    return false
  } finally {
    if (control instanceof HTMLButtonElement) control.disabled = false
  }
}

async function render(startError?: unknown): Promise<void> {
  const ticket = ++renders
  const { path, query } = route()
  // A mailed link's page works signed in or not.
  if (path === "/reset") return resetView(shell, ticket, query)
  if (path === "/verify-email") return verifyEmailView(shell, ticket, query)
  if (!client.signedIn) {
    if (path === "/forgot") return forgotView(shell, ticket)
    chrome(null)
    return path === "/register" ? registerView(ticket) : signInView(ticket, startError)
  }
  try {
    shell.me ??= await client.call<Me>("me")
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "revocable"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  if (ticket !== renders) return
  const me = shell.me
  chrome(me)
  const admin = me.roles.includes("admin")
  if (path.startsWith("/admin/") && !admin) {
    return mount(ticket, [h("h1", {}, "Not allowed"), h("p", {}, "These pages are for administrators.")])
  }
  switch (path) {
    case "/admin/revocations":
      return revocationsView(shell, ticket, query)
    case "/admin/users":
      return usersView(shell, ticket)
    case "/admin/keys":
      return keysView(shell, ticket)
    case "/admin/activity":
      return activityView(shell, ticket, query)
    case "/admin/webhooks":
      return webhooksView(shell, ticket)
    default:
      return accountView(shell, ticket)
  }
}

// ---- signed out ---------------------------------------------------------------------------------------------

function signInView(ticket: number, startError?: unknown): void {
  const report = reporter()
  if (shell.notice !== "") report.ok(shell.notice)
  else if (shell.failure !== null) report.fail(shell.failure)
  else if (startError !== undefined) report.fail(startError)
  shell.notice = ""
  shell.failure = null
  const username = field("username", "Username", { autocomplete: "username", required: true })
  const password = field("password", "Password", { type: "password", autocomplete: "current-password", required: true })
  const submit = h("button", { type: "submit" }, "Sign in")
  const form = h("form", { class: "stack", "aria-labelledby": "signin-title" }, username.node, password.node, submit)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(submit, () => client.login(username.input.value, password.input.value), report)
  })
  mount(ticket, [h("h1", { id: "signin-title" }, "Sign in"), report.node, form, forgotLink(client), providerButtons(client), h("p", {}, "No account yet? ", h("a", { href: "#/register" }, "Create one"))], username.input)
}

function registerView(ticket: number): void {
  const report = reporter()
  const username = field("new-username", "Username", { autocomplete: "username", required: true }, "3 to 64 letters, digits, '.', '_', '-' or '@'.")
  const password = field("new-password", "Password", { type: "password", autocomplete: "new-password", required: true, minlength: 8 }, "At least 8 characters, not a common password nor close to your username.")
  const confirm = field("confirm-password", "Password again", { type: "password", autocomplete: "new-password", required: true })
  const submit = h("button", { type: "submit" }, "Create account")
  const form = h("form", { class: "stack", "aria-labelledby": "register-title" }, username.node, password.node, confirm.node, submit)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    if (password.input.value !== confirm.input.value) return report.fail(new ClientError("invalid_request", 400, "The two passwords differ."))
    void act(
      submit,
      async () => {
        await client.register(username.input.value, password.input.value)
        location.hash = "#/account"
        await client.login(username.input.value, password.input.value)
      },
      report,
    )
  })
  mount(ticket, [h("h1", { id: "register-title" }, "Create an account"), report.node, form, h("p", {}, "Have an account? ", h("a", { href: "#/account" }, "Sign in"))], username.input)
}
