/// <reference lib="dom" />
// The audit log in the console: "Recent security activity" on the account page, and the admin Activity page
// (every event, filtered by user, type and time, a page at a time).
import type { Client } from "revocable/client"
import type { AuditEventView } from "../server/routes/audit.ts"
import { deviceName, describe, field, h, reporter, when } from "./dom.ts"
import type { Shell } from "./shell.ts"

interface AuditPage {
  items: AuditEventView[]
  next: string | null
}

/** Each type in plain words; also the choices of the Type filter and of a webhook's events, in this order. */
export const EVENT_LABELS: Record<AuditEventView["type"], string> = {
  "login.succeeded": "Signed in",
  "login.failed": "Sign-in refused",
  "refresh.reused": "Stolen session suspected (refresh token used twice)",
  "session.revoked": "Session signed out",
  "subject.revoked": "Signed out everywhere",
  "token.revoked": "Token revoked",
  "revocation.removed": "Revocation undone",
  "password.changed": "Password changed",
  "password.reset": "Password reset",
  "user.created": "Account created",
  "user.deleted": "Account deleted",
  "user.suspended": "Account suspended",
  "user.unsuspended": "Account unsuspended",
  "user.roles_changed": "Roles changed",
  "key.rotated": "Signing key rotated",
  "key.retired": "Signing key retired",
  "client.created": "OAuth client added",
  "client.deleted": "OAuth client removed",
  "webhook.created": "Webhook endpoint added",
  "webhook.deleted": "Webhook endpoint removed",
}

const PERIODS: Record<string, { label: string; ms: number }> = {
  "1h": { label: "Last hour", ms: 3_600_000 },
  "24h": { label: "Last 24 hours", ms: 86_400_000 },
  "7d": { label: "Last 7 days", ms: 7 * 86_400_000 },
  "30d": { label: "Last 30 days", ms: 30 * 86_400_000 },
}

/** The plain words for an event type (the type itself for one this console does not know). */
export function eventLabel(type: string): string {
  return EVENT_LABELS[type as AuditEventView["type"]] ?? type
}

/** Where an event came from: the device in plain words, and the address. */
function origin(event: AuditEventView): string {
  const parts = [event.user_agent === null ? null : deviceName(event.user_agent), event.ip].filter((part) => part !== null)
  return parts.length === 0 ? "—" : parts.join(", ")
}

function eventRow(event: AuditEventView, admin: boolean): HTMLElement {
  return h(
    "tr",
    { "data-type": event.type },
    h("td", {}, when(event.at)),
    h("td", {}, eventLabel(event.type)),
    admin ? h("td", {}, event.subject === null ? "—" : h("code", {}, event.subject)) : null,
    h("td", {}, event.actor ?? "—"),
    h("td", {}, event.reason ?? "—"),
    h("td", { title: event.user_agent ?? "" }, origin(event)),
  )
}

function eventTable(id: string, caption: HTMLElement, body: HTMLElement, admin: boolean): HTMLElement {
  const heads = ["When", "What", ...(admin ? ["User"] : []), "By", "Why", "From"]
  return h("table", { id }, caption, h("thead", {}, h("tr", {}, ...heads.map((head) => h("th", { scope: "col" }, head)))), body)
}

/** The account page's section: the user's own recent events (GET /me/audit). */
export async function recentActivity(client: Client): Promise<HTMLElement> {
  const section = (...children: Node[]) => h("section", { "aria-labelledby": "activity-title" }, h("h2", { id: "activity-title" }, "Recent security activity"), ...children)
  let page: AuditPage
  try {
    page = await client.call<AuditPage>("me/audit?limit=10")
  } catch (error) {
    return section(h("p", { class: "error", role: "alert" }, describe(error)))
  }
  const caption = h("caption", {}, page.items.length === 0 ? "Nothing recorded yet." : "Sign-ins, refused attempts and changes to your account, newest first. Something you do not recognise? Change your password and sign out everywhere.")
  return section(eventTable("activity", caption, h("tbody", {}, ...page.items.map((event) => eventRow(event, false))), false))
}

/** The admin Activity page (#/admin/activity?user=&type=&since=). */
export async function activityView(shell: Shell, ticket: number, query: URLSearchParams): Promise<void> {
  const { client, mount, act, render } = shell
  const report = reporter()
  const userFilter = query.get("user")?.trim() ?? ""
  const typeFilter = query.get("type") ?? ""
  const sinceFilter = query.get("since") ?? ""

  const user = field("activity-user", "User", { value: userFilter }, "A username or a user id; empty for everyone.")
  const type = h(
    "select",
    { id: "activity-type", name: "type" },
    h("option", { value: "" }, "Anything"),
    ...Object.entries(EVENT_LABELS).map(([value, text]) => h("option", { value, selected: value === typeFilter }, text)),
  )
  const since = h(
    "select",
    { id: "activity-since", name: "since" },
    h("option", { value: "" }, "Any time"),
    ...Object.entries(PERIODS).map(([value, period]) => h("option", { value, selected: value === sinceFilter }, period.label)),
  )
  const filter = h(
    "form",
    { class: "inline", role: "search", "aria-label": "Filter activity" },
    user.node,
    h("div", { class: "field" }, h("label", { for: "activity-type" }, "What"), type),
    h("div", { class: "field" }, h("label", { for: "activity-since" }, "When"), since),
    h("button", { type: "submit" }, "Filter"),
  )
  filter.addEventListener("submit", (event) => {
    event.preventDefault()
    const params = new URLSearchParams()
    if (user.input.value.trim() !== "") params.set("user", user.input.value.trim())
    if (type.value !== "") params.set("type", type.value)
    if (since.value !== "") params.set("since", since.value)
    const next = `#/admin/activity${params.size === 0 ? "" : `?${params}`}`
    if (location.hash === next) void render()
    else location.hash = next
  })

  const body = h("tbody")
  const caption = h("caption")
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more")
  const period = PERIODS[sinceFilter]
  const from = period === undefined ? null : new Date(Date.now() - period.ms).toISOString()
  let shown = 0
  let cursor: string | null = null
  const load = async (): Promise<void> => {
    const params = new URLSearchParams({ limit: "50" })
    if (userFilter !== "") params.set("subject", userFilter)
    if (typeFilter !== "") params.set("type", typeFilter)
    if (from !== null) params.set("since", from)
    if (cursor !== null) params.set("cursor", cursor)
    const page = await client.call<AuditPage>(`admin/audit?${params}`)
    body.append(...page.items.map((event) => eventRow(event, true)))
    shown += page.items.length
    cursor = page.next
    more.hidden = cursor === null
    const filters = [userFilter && `about ${userFilter}`, typeFilter && `of type "${eventLabel(typeFilter)}"`, period && period.label.toLowerCase()].filter(Boolean)
    caption.textContent = `${shown} event${shown === 1 ? "" : "s"}${filters.length === 0 ? "" : ` ${filters.join(", ")}`}, newest first.`
  }
  more.addEventListener("click", () => void act(more, load, report))
  try {
    await load()
  } catch (error) {
    report.fail(error)
  }
  mount(ticket, [h("h1", {}, "Activity"), report.node, filter, eventTable("activity-log", caption, body, true), h("div", { class: "actions" }, more)])
}
