/// <reference lib="dom" />
// The revocations page (admins): the live revocations, filtered by user and by what they apply to; revoke, un-revoke.
import type { Client } from "revocable/client"
import type { Revocation, RevocationPage, UserPage } from "../server/schemas.ts"
import { confirmAction, describe, field, h, reporter, when } from "./dom.ts"
import type { Shell } from "./shell.ts"

const GRAINS: Record<Revocation["kind"], string> = { token: "Token", session: "Session", subject: "User", key: "Key" }

async function userIndex(client: Client): Promise<Map<string, string>> {
  const page = await client.call<UserPage>("admin/users?limit=1000")
  return new Map(page.items.map((user) => [user.sub, user.username]))
}

export async function revocationsView(shell: Shell, ticket: number, query: URLSearchParams): Promise<void> {
  const { client, mount, act, render } = shell
  const report = reporter()
  let names: Map<string, string>
  try {
    names = await userIndex(client)
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
    h("option", { value: "" }, "Anything"),
    ...Object.entries(GRAINS).map(([value, label]) => h("option", { value, selected: value === kindFilter }, label)),
  )
  const filter = h(
    "form",
    { class: "inline", role: "search", "aria-label": "Filter revocations" },
    user.node,
    h("div", { class: "field" }, h("label", { for: "filter-kind" }, "Applies to"), kind),
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
    undo.addEventListener("click", async () => {
      const what = `${GRAINS[entry.kind].toLowerCase()} ${entry.id}`
      if (!(await confirmAction(`Un-revoke ${what}?`, "Tokens it refused are accepted again until they expire.", "Un-revoke"))) return
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
    const page = await client.call<RevocationPage>(`admin/revocations?${params}`)
    body.append(...page.items.map(row))
    shown += page.items.length
    cursor = page.next
    more.hidden = cursor === null
    caption.textContent = `${shown} live revocation${shown === 1 ? "" : "s"}${subject === "" ? "" : ` of ${userFilter.trim()}`}${kindFilter === "" ? "" : `, applying to ${GRAINS[kindFilter as Revocation["kind"]] ?? kindFilter}`}, newest first.`
  }
  more.addEventListener("click", () => void act(more, load, report))
  try {
    await load()
  } catch (error) {
    report.fail(error)
  }

  const revokeKind = h("select", { id: "revoke-kind" }, h("option", { value: "session" }, "Session (its id)"), h("option", { value: "subject" }, "User (every token so far)"), h("option", { value: "token" }, "Token (the token or its id)"))
  const revokeId = field("revoke-id", "Id", { required: true, autocomplete: "off" })
  // A token's id alone does not say whose it is: the server asks for its owner then (a whole token names it).
  const revokeOwner = field("revoke-owner", "Owner", { autocomplete: "off", list: "known-users" }, "For a token's id: the username or user id it belongs to.")
  const showOwner = () => void (revokeOwner.node.hidden = revokeKind.value !== "token")
  revokeKind.addEventListener("change", showOwner)
  showOwner()
  const revokeReason = field("revoke-reason", "Reason", { autocomplete: "off" })
  const revokeButton = h("button", { type: "submit", class: "danger" }, "Revoke")
  const revokeForm = h("form", { class: "inline", "aria-labelledby": "revoke-title" }, h("div", { class: "field" }, h("label", { for: "revoke-kind" }, "Applies to"), revokeKind), revokeId.node, revokeOwner.node, revokeReason.node, revokeButton)
  revokeForm.addEventListener("submit", (event) => {
    event.preventDefault()
    void act(
      revokeButton,
      async () => {
        const id = revokeKind.value === "subject" ? [...names].find(([, name]) => name === revokeId.input.value.trim().toLowerCase())?.[0] ?? revokeId.input.value.trim() : revokeId.input.value.trim()
        const owner = revokeOwner.input.value.trim()
        const bareJti = revokeKind.value === "token" && !id.includes(".")
        const request = { kind: revokeKind.value, id, ...(bareJti && owner !== "" ? { subject: owner } : {}), ...(revokeReason.input.value === "" ? {} : { reason: revokeReason.input.value }) }
        const created = await client.call<Revocation>("admin/revocations", { body: request })
        revokeForm.reset()
        showOwner()
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
        h("tr", {}, ...["Applies to", "Revoked", "User", "Reason", "By", "When", "Expires"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action"))),
      ),
      body,
    ),
    more,
    h("section", { class: "panel", "aria-labelledby": "revoke-title" }, h("h2", { id: "revoke-title" }, "Revoke"), revokeForm),
  ])
}
