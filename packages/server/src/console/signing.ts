/// <reference lib="dom" />
// The signing keys page (admins): which key signs, rotate, retire.
import type { RotatedKey, SigningKey } from "../server/schemas.ts"
import { describe, field, h, reporter, when } from "./dom.ts"
import type { Shell } from "./shell.ts"

export async function keysView(shell: Shell, ticket: number): Promise<void> {
  const { client, mount, act, render } = shell
  const report = reporter()
  const detail = h("div")
  let keys: SigningKey[]
  try {
    keys = await client.call<SigningKey[]>("admin/keys")
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "Signing keys"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  const rotate = h("button", { type: "button" }, "Rotate: publish a new key")
  rotate.addEventListener("click", () => {
    void act(
      rotate,
      async () => {
        const { kid, activates_at } = await client.call<RotatedKey>("admin/keys/rotate", { method: "POST" })
        shell.notice = `Key ${kid} is published and signs new tokens from ${new Date(activates_at).toLocaleString()}; the older keys keep verifying the tokens they signed until those expire.`
        await render()
      },
      report,
    )
  })
  if (shell.notice !== "") report.ok(shell.notice)
  shell.notice = ""

  const retireForm = (key: SigningKey): void => {
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
          shell.notice = `Key ${key.kid} is retired: every token it signed is refused.`
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
    const status =
      key.status === "retired"
        ? h("span", { class: "badge bad" }, "Retired")
        : key.status === "signing"
          ? h("span", { class: "badge current" }, "Signing")
          : key.status === "next"
            ? h("span", { class: "badge good" }, "Next, signs from ", when(key.activates_at))
            : h("span", { class: "badge good" }, "Verifying")
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
      h("caption", {}, "Newest first. A rotated key is published at once and signs from its activation time; the newest active key that is not retired signs, the others only verify."),
      h("thead", {}, h("tr", {}, ...["Key id", "Algorithm", "Created", "Status"].map((label) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action")))),
      h("tbody", {}, ...rows),
    ),
    detail,
  ])
}
