/// <reference lib="dom" />
// The web console: sign in, register, your account and sessions, and for admins the revocations, users and
// keys. Plain DOM, routed by the URL's hash (#/account, #/admin/users, ...); every text from the server goes in
// with textContent, never as HTML. Served by the auth server with revocable/client, both as ES modules.
import { ClientError, createClient } from "../client/index.ts"

interface Me {
  sub: string
  username: string | null
  roles: string[]
  session_id: string
  jti: string
  expires_at: string
}
interface Session {
  session_id: string
  device: string | null
  created_at: string
  last_used_at: string
  expires_at: string
  current?: boolean
}
interface User {
  sub: string
  username: string
  roles: string[]
  created_at: string
  suspended_at: string | null
}
interface Revocation {
  kind: "token" | "session" | "subject" | "key"
  id: string
  subject: string | null
  reason: string | null
  actor: string | null
  created_at: string
  expires_at: string
}
interface Key {
  kid: string
  alg: string
  created_at: string
  retired_at: string | null
}
interface Page<T> {
  items: T[]
  next: string | null
}

const client = createClient({ baseUrl: new URL(".", location.href) })
const main = element("main")
const nav = element("nav")
const who = element("who")
const signOutButton = element("signout")

let me: Me | null = null
/** Said once on the next sign-in view: why the session ended. */
let notice = ""
/** Each render takes a ticket; a render overtaken by a newer one writes nothing. */
let renders = 0

const ENDINGS: Record<string, string> = {
  logout: "You signed out.",
  "logout-everywhere": "You signed out on every device.",
  token_revoked: "Your session has ended: it was signed out from another device or revoked by an administrator.",
  refresh_token_reused: "Your session was ended because its refresh token was used twice, which can mean it was stolen. Sign in again.",
}
const GRAINS: Record<Revocation["kind"], string> = { token: "Token", session: "Session", subject: "User", key: "Key" }

client.on("logged-out", ({ reason }) => {
  me = null
  notice = ENDINGS[reason] ?? "Your session has ended. Sign in again."
  void render()
})
client.on("logged-in", () => {
  me = null
  notice = ""
  void render()
})
window.addEventListener("hashchange", () => void render())
signOutButton.addEventListener("click", () => {
  void act(signOutButton, () => client.logout(), { fail: (error) => main.prepend(h("p", { class: "error", role: "alert" }, describe(error))) })
})

void client.restore().then(
  () => render(),
  (error: unknown) => render(error),
)

// ---- rendering ----------------------------------------------------------------------------------------------

type Child = Node | string | null | undefined | false
type Props = Record<string, string | number | boolean | null | undefined>

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === true) node.setAttribute(name, "")
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value))
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child)
  return node
}

function element(id: string): HTMLElement {
  const found = document.getElementById(id)
  if (found === null) throw new Error(`The page has no #${id}.`)
  return found
}

function when(iso: string | null): Node {
  if (iso === null) return document.createTextNode("—")
  return h("time", { datetime: iso }, new Date(iso).toLocaleString())
}

/** "Chrome on Linux" for a User-Agent; the session list keeps the full text in a tooltip. */
function deviceName(device: string | null): string {
  if (device === null || device === "") return "Unknown device"
  if (!device.startsWith("Mozilla/")) return device
  // In order: an Edge UA also names Chrome and Safari, an Android one Linux.
  const browser = ["Edg", "OPR", "Firefox", "HeadlessChrome", "Chrome", "Safari"].find((name) => device.includes(`${name}/`))
  const system = ["Windows", "Android", "iPhone", "iPad", "Mac OS X", "CrOS", "Linux"].find((name) => device.includes(name))
  if (browser === undefined) return device
  const names: Record<string, string> = { Edg: "Edge", OPR: "Opera", HeadlessChrome: "Headless Chrome", "Mac OS X": "macOS", CrOS: "ChromeOS" }
  return system === undefined ? names[browser] ?? browser : `${names[browser] ?? browser} on ${names[system] ?? system}`
}

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

function describe(error: unknown): string {
  if (!(error instanceof ClientError)) return "Something went wrong; try again."
  switch (error.code) {
    case "invalid_credentials":
      return "Wrong username or password."
    case "rate_limited":
      return `Too many attempts; try again in ${error.retryAfter ?? "a few"} seconds.`
    case "network_error":
      return "The server could not be reached; try again."
    case "store_unavailable":
      return "The server cannot reach its store right now; try again."
    default:
      return error.message
  }
}

/** The place a view reports into: a status for what worked, an alert for what did not. */
function reporter(): { node: HTMLElement; ok(text: string): void; fail(error: unknown): void } {
  const status = h("p", { class: "notice", role: "status" })
  const alert = h("p", { class: "error", role: "alert" })
  return {
    node: h("div", {}, status, alert),
    ok(text) {
      alert.textContent = ""
      status.textContent = text
    },
    fail(error) {
      status.textContent = ""
      alert.textContent = describe(error)
    },
  }
}

/** Runs an action from a button or form: disabled meanwhile; a session that ended is handled by the event. */
async function act(control: HTMLElement, action: () => Promise<unknown>, report?: { fail(error: unknown): void }): Promise<boolean> {
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
  if (!client.signedIn) {
    chrome(null)
    return path === "/register" ? registerView(ticket) : signInView(ticket, startError)
  }
  try {
    me ??= await client.call<Me>("me")
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "revocable"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  if (ticket !== renders) return
  chrome(me)
  const admin = me.roles.includes("admin")
  if (path.startsWith("/admin/") && !admin) {
    return mount(ticket, [h("h1", {}, "Not allowed"), h("p", {}, "These pages are for administrators.")])
  }
  switch (path) {
    case "/admin/revocations":
      return revocationsView(ticket, query)
    case "/admin/users":
      return usersView(ticket)
    case "/admin/keys":
      return keysView(ticket)
    default:
      return accountView(ticket)
  }
}

// ---- signed out ---------------------------------------------------------------------------------------------

function field(id: string, label: string, props: Props = {}, hint?: string): { node: HTMLElement; input: HTMLInputElement } {
  const input = h("input", { id, name: id, ...(hint === undefined ? {} : { "aria-describedby": `${id}-hint` }), ...props })
  return { node: h("div", { class: "field" }, h("label", { for: id }, label), input, hint === undefined ? null : h("p", { class: "hint", id: `${id}-hint` }, hint)), input }
}

function signInView(ticket: number, startError?: unknown): void {
  const report = reporter()
  if (notice !== "") report.ok(notice)
  else if (startError !== undefined) report.fail(startError)
  notice = ""
  const username = field("username", "Username", { autocomplete: "username", required: true })
  const password = field("password", "Password", { type: "password", autocomplete: "current-password", required: true })
  const submit = h("button", { type: "submit" }, "Sign in")
  const form = h("form", { class: "stack", "aria-labelledby": "signin-title" }, username.node, password.node, submit)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(submit, () => client.login(username.input.value, password.input.value), report)
  })
  mount(ticket, [h("h1", { id: "signin-title" }, "Sign in"), report.node, form, h("p", {}, "No account yet? ", h("a", { href: "#/register" }, "Create one"))], username.input)
}

function registerView(ticket: number): void {
  const report = reporter()
  const username = field("new-username", "Username", { autocomplete: "username", required: true }, "3 to 64 letters, digits, '.', '_', '-' or '@'.")
  const password = field("new-password", "Password", { type: "password", autocomplete: "new-password", required: true, minlength: 8 }, "At least 8 characters, not your username.")
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

// ---- your account -------------------------------------------------------------------------------------------

async function accountView(ticket: number): Promise<void> {
  const report = reporter()
  let sessions: Session[]
  let current: Me
  try {
    ;[current, sessions] = await Promise.all([client.call<Me>("me"), client.call<Session[]>("auth/sessions")])
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "My account"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  me = current
  const reload = h("button", { type: "button", class: "secondary", id: "reload" }, "Reload")
  reload.addEventListener("click", () => void render())

  const rows = sessions.map((session) => {
    const device = deviceName(session.device)
    const button = h(
      "button",
      { type: "button", class: "danger secondary", "aria-label": `Sign out ${session.current === true ? "this session" : `the session on ${device}`}` },
      "Sign out",
    )
    button.addEventListener("click", () => {
      if (session.current === true) return void act(button, () => client.logout(), report)
      void act(button, () => client.call(`auth/sessions/${encodeURIComponent(session.session_id)}`, { method: "DELETE" }), report).then((done) => {
        if (done) void render()
      })
    })
    return h(
      "tr",
      { class: session.current === true ? "current" : null, "data-session": session.session_id },
      h("td", { title: session.device }, device, session.current === true ? h("span", { class: "badge current" }, "This session") : null),
      h("td", {}, when(session.created_at)),
      h("td", {}, when(session.last_used_at)),
      h("td", {}, button),
    )
  })
  const everywhere = h("button", { type: "button", class: "danger" }, "Sign out everywhere")
  everywhere.addEventListener("click", () => void act(everywhere, () => client.logoutEverywhere(), report))

  const currentPassword = field("current-password", "Current password", { type: "password", autocomplete: "current-password", required: true })
  const nextPassword = field("next-password", "New password", { type: "password", autocomplete: "new-password", required: true, minlength: 8 }, "At least 8 characters. Your other sessions will be signed out.")
  const change = h("button", { type: "submit" }, "Change password")
  // The account's name, for password managers: they file the new password under it.
  const account = h("input", { type: "text", autocomplete: "username", value: current.username ?? current.sub, readonly: true, hidden: true })
  const passwordForm = h("form", { class: "stack", "aria-labelledby": "password-title" }, account, currentPassword.node, nextPassword.node, change)
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(
      change,
      async () => {
        const answer = await client.call<{ revoked_sessions: number }>("auth/password", {
          body: { current_password: currentPassword.input.value, new_password: nextPassword.input.value },
        })
        passwordForm.reset()
        const others = answer.revoked_sessions
        report.ok(`Password changed; ${others} other session${others === 1 ? " was" : "s were"} signed out.`)
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
        h("dt", {}, "User id"),
        h("dd", { id: "me-sub" }, h("code", {}, current.sub)),
        h("dt", {}, "Roles"),
        h("dd", {}, current.roles.length === 0 ? "none" : current.roles.join(", ")),
        h("dt", {}, "This session"),
        h("dd", { id: "me-session" }, h("code", {}, current.session_id)),
        h("dt", {}, "Access token id"),
        h("dd", { id: "me-jti" }, h("code", {}, current.jti)),
        h("dt", {}, "Access token expires"),
        h("dd", {}, when(current.expires_at)),
      ),
      reload,
    ),
    h(
      "section",
      { "aria-labelledby": "sessions-title" },
      h("h2", { id: "sessions-title" }, "Sessions"),
      h(
        "table",
        { id: "sessions" },
        h("caption", {}, `Where you are signed in: ${sessions.length} session${sessions.length === 1 ? "" : "s"}.`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Device"), h("th", { scope: "col" }, "Signed in"), h("th", { scope: "col" }, "Last used"), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action")))),
        h("tbody", {}, ...rows),
      ),
      h("div", { class: "actions" }, everywhere),
    ),
    h("section", { "aria-labelledby": "password-title" }, h("h2", { id: "password-title" }, "Change password"), passwordForm),
  ])
}

// ---- admin: revocations -------------------------------------------------------------------------------------

async function userIndex(): Promise<Map<string, string>> {
  const page = await client.call<Page<User>>("admin/users?limit=1000")
  return new Map(page.items.map((user) => [user.sub, user.username]))
}

async function revocationsView(ticket: number, query: URLSearchParams): Promise<void> {
  const report = reporter()
  let names: Map<string, string>
  try {
    names = await userIndex()
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "Revocations"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  const userFilter = query.get("user") ?? ""
  const kindFilter = query.get("kind") ?? ""
  const subject = [...names].find(([, username]) => username === userFilter.trim().toLowerCase())?.[0] ?? userFilter.trim()

  const user = field("filter-user", "User", { value: userFilter, list: "known-users" }, "A username or a user id; empty for everyone.")
  const kind = h(
    "select",
    { id: "filter-kind", name: "kind" },
    h("option", { value: "" }, "Every grain"),
    ...Object.entries(GRAINS).map(([value, label]) => h("option", { value, selected: value === kindFilter }, label)),
  )
  const filter = h(
    "form",
    { class: "inline", role: "search", "aria-label": "Filter revocations" },
    user.node,
    h("div", { class: "field" }, h("label", { for: "filter-kind" }, "Grain"), kind),
    h("button", { type: "submit" }, "Filter"),
    h("datalist", { id: "known-users" }, ...[...names.values()].map((name) => h("option", { value: name }))),
  )
  filter.addEventListener("submit", (event) => {
    event.preventDefault()
    const params = new URLSearchParams()
    if (user.input.value.trim() !== "") params.set("user", user.input.value.trim())
    if (kind.value !== "") params.set("kind", kind.value)
    const next = `#/admin/revocations${params.size === 0 ? "" : `?${params}`}`
    if (location.hash === next) void render()
    else location.hash = next
  })

  const body = h("tbody")
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more")
  const caption = h("caption")
  let shown = 0
  let cursor: string | null = null

  const row = (entry: Revocation): HTMLElement => {
    const owner = entry.subject === null ? null : names.get(entry.subject) ?? entry.subject
    const undo = h("button", { type: "button", class: "secondary", "aria-label": `Un-revoke ${GRAINS[entry.kind].toLowerCase()} ${entry.id}` }, "Un-revoke")
    undo.addEventListener("click", () => {
      void act(undo, () => client.call(`admin/revocations/${entry.kind}/${encodeURIComponent(entry.id)}`, { method: "DELETE" }), report).then((done) => {
        if (!done) return
        tr.remove()
        report.ok(`${GRAINS[entry.kind]} ${entry.id} is no longer revoked.`)
      })
    })
    const tr = h(
      "tr",
      { "data-kind": entry.kind, "data-id": entry.id },
      h("td", {}, GRAINS[entry.kind]),
      h("td", {}, h("code", {}, entry.id)),
      h("td", {}, owner ?? "—"),
      h("td", {}, entry.reason ?? "—"),
      h("td", {}, entry.actor ?? "—"),
      h("td", {}, when(entry.created_at)),
      h("td", {}, when(entry.expires_at)),
      // A retired key stays retired: the server refuses to restore it.
      h("td", {}, entry.kind === "key" ? "permanent" : undo),
    )
    return tr
  }

  const load = async (): Promise<void> => {
    const params = new URLSearchParams({ limit: "50" })
    if (subject !== "") params.set("subject", subject)
    if (kindFilter !== "") params.set("kind", kindFilter)
    if (cursor !== null) params.set("cursor", cursor)
    const page = await client.call<Page<Revocation>>(`admin/revocations?${params}`)
    body.append(...page.items.map(row))
    shown += page.items.length
    cursor = page.next
    more.hidden = cursor === null
    caption.textContent = `${shown} live revocation${shown === 1 ? "" : "s"}${subject === "" ? "" : ` of ${userFilter.trim()}`}${kindFilter === "" ? "" : `, grain ${GRAINS[kindFilter as Revocation["kind"]] ?? kindFilter}`}, newest first.`
  }
  more.addEventListener("click", () => void act(more, load, report))
  try {
    await load()
  } catch (error) {
    report.fail(error)
  }

  const revokeKind = h("select", { id: "revoke-kind" }, h("option", { value: "session" }, "Session (its id)"), h("option", { value: "subject" }, "User (every token so far)"), h("option", { value: "token" }, "Token (the token or its id)"))
  const revokeId = field("revoke-id", "Id", { required: true, autocomplete: "off" })
  const revokeReason = field("revoke-reason", "Reason", { autocomplete: "off" })
  const revokeButton = h("button", { type: "submit", class: "danger" }, "Revoke")
  const revokeForm = h("form", { class: "inline", "aria-labelledby": "revoke-title" }, h("div", { class: "field" }, h("label", { for: "revoke-kind" }, "Grain"), revokeKind), revokeId.node, revokeReason.node, revokeButton)
  revokeForm.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(
      revokeButton,
      async () => {
        const id = revokeKind.value === "subject" ? [...names].find(([, name]) => name === revokeId.input.value.trim().toLowerCase())?.[0] ?? revokeId.input.value.trim() : revokeId.input.value.trim()
        const created = await client.call<Revocation>("admin/revocations", { body: { kind: revokeKind.value, id, ...(revokeReason.input.value === "" ? {} : { reason: revokeReason.input.value }) } })
        revokeForm.reset()
        body.prepend(row(created))
        report.ok(`${GRAINS[created.kind]} ${created.id} is revoked.`)
      },
      report,
    )
  })

  mount(ticket, [
    h("h1", {}, "Revocations"),
    report.node,
    filter,
    h(
      "table",
      { id: "revocations" },
      caption,
      h(
        "thead",
        {},
        h("tr", {}, ...["Grain", "Revoked", "User", "Reason", "By", "When", "Kept until"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action"))),
      ),
      body,
    ),
    more,
    h("section", { class: "panel", "aria-labelledby": "revoke-title" }, h("h2", { id: "revoke-title" }, "Revoke"), revokeForm),
  ])
}

// ---- admin: users -------------------------------------------------------------------------------------------

async function usersView(ticket: number): Promise<void> {
  const report = reporter()
  const body = h("tbody")
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more")
  const detail = h("div")
  let cursor: string | null = null

  const sessionsOf = async (user: User): Promise<void> => {
    const sessions = await client.call<Session[]>(`admin/users/${encodeURIComponent(user.sub)}/sessions`)
    const title = h("h2", { id: "detail-title", tabindex: -1 }, `Sessions of ${user.username}`)
    const rows = sessions.map((session) => {
      const revoke = h("button", { type: "button", class: "danger secondary", "aria-label": `Revoke the session on ${deviceName(session.device)}` }, "Revoke")
      revoke.addEventListener("click", () => {
        void act(revoke, () => client.call("admin/revocations", { body: { kind: "session", id: session.session_id, reason: "revoked from the console" } }), report).then((done) => {
          if (done) void act(revoke, () => sessionsOf(user), report)
        })
      })
      return h("tr", {}, h("td", { title: session.device }, deviceName(session.device)), h("td", {}, when(session.created_at)), h("td", {}, when(session.last_used_at)), h("td", {}, revoke))
    })
    detail.replaceChildren(
      h(
        "section",
        { class: "panel", "aria-labelledby": "detail-title" },
        title,
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
    const self = user.sub === me?.sub
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
    const page = await client.call<Page<User>>(`admin/users?limit=50${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
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

// ---- admin: keys --------------------------------------------------------------------------------------------

async function keysView(ticket: number): Promise<void> {
  const report = reporter()
  const detail = h("div")
  let keys: Key[]
  try {
    keys = await client.call<Key[]>("admin/keys")
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "Signing keys"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  const signing = keys.find((key) => key.retired_at === null)?.kid
  const rotate = h("button", { type: "button" }, "Rotate: sign with a new key")
  rotate.addEventListener("click", () => {
    void act(
      rotate,
      async () => {
        const { kid } = await client.call<{ kid: string }>("admin/keys/rotate", { method: "POST" })
        notice = `New tokens are signed with key ${kid}; the older keys keep verifying the tokens they signed until those expire.`
        await render()
      },
      report,
    )
  })
  if (notice !== "") report.ok(notice)
  notice = ""

  const retireForm = (key: Key): void => {
    const reason = field("retire-reason", "Reason", { autocomplete: "off" })
    const confirm = h("button", { type: "submit", class: "danger" }, `Retire ${key.kid}`)
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel")
    cancel.addEventListener("click", () => detail.replaceChildren())
    const form = h("form", { class: "inline", "aria-labelledby": "retire-title" }, reason.node, confirm, cancel)
    form.addEventListener("submit", (event) => {
      event.preventDefault()
      void act(
        confirm,
        async () => {
          await client.call(`admin/keys/${encodeURIComponent(key.kid)}`, { method: "DELETE", body: reason.input.value === "" ? {} : { reason: reason.input.value } })
          notice = `Key ${key.kid} is retired: every token it signed is refused.`
          await render()
        },
        report,
      )
    })
    detail.replaceChildren(
      h(
        "section",
        { class: "panel" },
        h("h2", { id: "retire-title" }, `Retire key ${key.kid}?`),
        h("p", {}, "Every token it signed is refused from now on, on every instance: the sessions they belong to end, yours too if this key signed your tokens."),
        form,
      ),
    )
    reason.input.focus()
  }

  const rows = keys.map((key) => {
    const status = key.retired_at !== null ? h("span", { class: "badge bad" }, "Retired") : key.kid === signing ? h("span", { class: "badge current" }, "Signing") : h("span", { class: "badge good" }, "Verifying")
    const retire = key.retired_at === null ? h("button", { type: "button", class: "danger secondary", "aria-label": `Retire key ${key.kid}` }, "Retire") : null
    retire?.addEventListener("click", () => retireForm(key))
    return h("tr", { "data-kid": key.kid }, h("td", {}, h("code", {}, key.kid)), h("td", {}, key.alg), h("td", {}, when(key.created_at)), h("td", {}, status, key.retired_at === null ? null : " ", key.retired_at === null ? null : when(key.retired_at)), h("td", {}, retire))
  })
  mount(ticket, [
    h("h1", {}, "Signing keys"),
    report.node,
    h("div", { class: "actions" }, rotate),
    h(
      "table",
      { id: "keys" },
      h("caption", {}, "Newest first. The newest key that is not retired signs; the others only verify."),
      h("thead", {}, h("tr", {}, ...["Key id", "Algorithm", "Created", "Status"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action")))),
      h("tbody", {}, ...rows),
    ),
    detail,
  ])
}
