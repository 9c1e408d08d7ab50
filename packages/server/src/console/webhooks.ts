/// <reference lib="dom" />
// The webhooks page (admins): the endpoints that receive audit events, each with its recent deliveries; add one
// (its signing secret is shown here once), remove one after a confirmation.
import { ClientError } from "revocable/client"
import type { deliveryView } from "../server/routes/webhooks.ts"
import { EVENT_LABELS, eventLabel } from "./activity.ts"
import { confirmAction, describe, field, h, reporter, type Child } from "./dom.ts"
import { ago, relative } from "./sessions.ts"
import type { Shell } from "./shell.ts"

type Delivery = ReturnType<typeof deliveryView>
type EventType = Delivery["event_type"]
/** An endpoint as GET /admin/webhooks lists it (the Endpoint schema of routes/webhooks.ts). */
interface Endpoint {
  id: string
  url: string
  events: EventType[]
  created_at: string
}
interface DeliveryPage {
  items: Delivery[]
  next: string | null
}

/** The event types an endpoint can receive, in words: every one the API accepts. */
const EVENTS: Record<EventType, string> = EVENT_LABELS
/** Deliveries shown per endpoint, and per "Load more". */
const RECENT = 10

/** Why an attempt got no answer, in words; the server's code stays in brackets for whoever reads the logs. */
const ERRORS: Record<string, string> = {
  ECONNREFUSED: "Connection refused",
  ECONNRESET: "Connection reset",
  ENOTFOUND: "No such host",
  EAI_AGAIN: "Host name lookup failed",
  ENOTPUBLIC: "Not a public address",
  EHOSTUNREACH: "Host unreachable",
}

function lastAnswer(delivery: Delivery): string {
  if (delivery.last_status !== null) return `HTTP ${delivery.last_status}`
  if (delivery.last_error === null) return "—"
  const words = ERRORS[delivery.last_error]
  return words === undefined ? delivery.last_error : `${words} (${delivery.last_error})`
}

/** "in 2 hours"; "in under a minute" and "now" where relative() would say "just now". */
function due(iso: string): HTMLElement {
  const wait = Date.parse(iso) - Date.now()
  const text = wait <= 0 ? "now" : wait < 60_000 ? "in under a minute" : relative(iso)
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, text)
}

function status(delivery: Delivery): Child[] {
  if (delivery.status === "delivered") return [h("span", { class: "badge good" }, "Delivered")]
  if (delivery.status === "failed") return [h("span", { class: "badge bad" }, "Failed"), ` after ${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`]
  if (delivery.attempts === 0 || delivery.next_attempt_at === null) return [h("span", { class: "badge current" }, "Sending")]
  return [h("span", { class: "badge bad" }, "Retrying"), ` (attempt ${delivery.attempts}, next try `, due(delivery.next_attempt_at), ")"]
}

function deliveryRow(delivery: Delivery): HTMLElement {
  return h(
    "tr",
    { "data-status": delivery.status },
    h("td", {}, eventLabel(delivery.event_type)),
    h("td", {}, ...status(delivery)),
    h("td", {}, lastAnswer(delivery)),
    h("td", {}, ago(delivery.last_attempt_at ?? delivery.created_at)),
  )
}

/** One endpoint: its facts, its recent deliveries (refreshed and paged in place), and its Remove button. */
async function endpointCard(shell: Shell, endpoint: Endpoint, report: ReturnType<typeof reporter>, removed: () => Promise<void>): Promise<HTMLElement> {
  const { client, act } = shell
  const path = `admin/webhooks/${encodeURIComponent(endpoint.id)}`
  const titleId = `webhook-${endpoint.id}`
  const body = h("tbody")
  const table = h(
    "table",
    { class: "deliveries" },
    h("caption", {}, "Recent deliveries, newest first."),
    h("thead", {}, h("tr", {}, ...["Event", "Status", "Last answer", "When"].map((head) => h("th", { scope: "col" }, head)))),
    body,
  )
  const empty = h("p", { class: "hint" }, "No deliveries yet: each event of these types is sent as it happens.")
  const refresh = h("button", { type: "button", class: "secondary", "aria-label": `Refresh the deliveries to ${endpoint.url}` }, "Refresh")
  const more = h("button", { type: "button", class: "secondary", hidden: true, "aria-label": `More deliveries to ${endpoint.url}` }, "Load more")
  const remove = h("button", { type: "button", class: "danger secondary", "aria-label": `Remove ${endpoint.url}` }, "Remove")
  let cursor: string | null = null

  const load = async (fresh: boolean): Promise<void> => {
    const params = new URLSearchParams({ limit: String(RECENT) })
    if (!fresh && cursor !== null) params.set("cursor", cursor)
    const page = await client.call<DeliveryPage>(`${path}/deliveries?${params}`)
    if (fresh) body.replaceChildren()
    body.append(...page.items.map(deliveryRow))
    cursor = page.next
    more.hidden = cursor === null
    table.hidden = body.children.length === 0
    empty.hidden = !table.hidden
  }
  refresh.addEventListener("click", () => void act(refresh, () => load(true), report))
  more.addEventListener("click", () => void act(more, () => load(false), report))
  remove.addEventListener("click", async () => {
    const consequence = "It receives no more events; its pending deliveries and their history are dropped, and its secret signs nothing more."
    if (!(await confirmAction(`Remove the endpoint ${endpoint.url}?`, consequence, "Remove endpoint"))) return
    void act(
      remove,
      async () => {
        await client.call(path, { method: "DELETE" })
        await removed()
        report.ok(`${endpoint.url} is removed: it receives no more events.`)
      },
      report,
    )
  })
  await load(true)
  return h(
    "section",
    { class: "panel endpoint", "aria-labelledby": titleId, "data-endpoint": endpoint.id },
    h("h3", { id: titleId, class: "url" }, endpoint.url),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Events"),
      h("dd", {}, endpoint.events.map(eventLabel).join(", ")),
      h("dt", {}, "Created"),
      h("dd", {}, ago(endpoint.created_at)),
      h("dt", {}, "Endpoint id"),
      h("dd", {}, h("code", {}, endpoint.id)),
    ),
    table,
    empty,
    h("div", { class: "actions" }, refresh, more, remove),
  )
}

/** The new endpoint's secret, with its copy button: the only time the console can show it. */
function secretPanel(created: Endpoint & { secret: string }, done: () => void): HTMLElement {
  const said = reporter()
  // A text area, so that the whole secret shows on a phone too.
  const secret = h("textarea", { id: "webhook-secret", class: "secret", rows: 2, readonly: true, spellcheck: "false", "aria-describedby": "webhook-secret-note" }, created.secret)
  const copy = h("button", { type: "button" }, "Copy secret")
  copy.addEventListener("click", () => {
    // No navigator.clipboard outside a secure context (plain http:// to another host than localhost).
    Promise.resolve(navigator.clipboard)
      .then((clipboard) => clipboard.writeText(created.secret))
      .then(
      () => said.ok("Copied: paste it into the receiver's settings."),
      () => {
        secret.select()
        said.ok("This browser did not let the page copy: the secret is selected, copy it with Ctrl+C (⌘C on a Mac).")
      },
    )
  })
  const close = h("button", { type: "button", class: "secondary" }, "Done")
  close.addEventListener("click", done)
  const title = h("h2", { id: "secret-title", tabindex: -1 }, "Signing secret of the new endpoint")
  return h(
    "section",
    { class: "panel", "aria-labelledby": "secret-title" },
    title,
    h("p", { class: "url" }, "For ", h("code", {}, created.url), "."),
    h("div", { class: "field" }, h("label", { for: "webhook-secret" }, "Signing secret"), secret),
    h("p", { id: "webhook-secret-note" }, h("strong", {}, "Shown once."), " Copy it now and give it to the receiver, which checks each delivery's signature with it. It cannot be shown again: if it is lost, add a new endpoint and remove this one."),
    h("div", { class: "actions" }, copy, close),
    said.node,
  )
}

export async function webhooksView(shell: Shell, ticket: number): Promise<void> {
  const { client, mount, act } = shell
  const report = reporter()
  const adding = reporter()
  const list = h("div", { id: "webhooks" })
  const listTitle = h("h2", { id: "endpoints-title", tabindex: -1 }, "Endpoints")
  const secretBox = h("div")

  const draw = async (): Promise<void> => {
    const endpoints = await client.call<Endpoint[]>("admin/webhooks")
    const cards = await Promise.all(endpoints.map((endpoint) => endpointCard(shell, endpoint, report, removed)))
    list.replaceChildren(...(cards.length === 0 ? [h("p", {}, "No endpoints yet: add one below.")] : cards))
  }
  const removed = async (): Promise<void> => {
    await draw()
    listTitle.focus()
  }

  const url = field("webhook-url", "URL", { type: "url", required: true, maxlength: 2048, autocomplete: "off" }, "Where each event is POSTed, signed as Standard Webhooks say: https:// and a public address, unless the server allows others.")
  const boxes = Object.entries(EVENTS).map(([type, label]) => {
    const input = h("input", { type: "checkbox", id: `webhook-event-${type}`, name: "events", value: type })
    return { input, node: h("div", { class: "choice" }, input, h("label", { for: input.id }, label, " ", h("code", {}, type))) }
  })
  const submit = h("button", { type: "submit" }, "Add endpoint")
  const form = h(
    "form",
    { class: "stack wide", "aria-labelledby": "add-title" },
    url.node,
    h("fieldset", { class: "choices" }, h("legend", {}, "Events to send"), ...boxes.map((box) => box.node)),
    submit,
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const events = boxes.filter((box) => box.input.checked).map((box) => box.input.value)
    if (events.length === 0) {
      adding.fail(new ClientError("invalid_request", 400, "Choose at least one event type to send."))
      return boxes[0]?.input.focus()
    }
    void act(
      submit,
      async () => {
        const created = await client.call<Endpoint & { secret: string }>("admin/webhooks", { body: { url: url.input.value, events } })
        form.reset()
        adding.ok(`${created.url} is added: copy its secret above.`)
        secretBox.replaceChildren(
          secretPanel(created, () => {
            secretBox.replaceChildren()
            listTitle.focus()
          }),
        )
        await draw().catch((error: unknown) => report.fail(error))
        secretBox.querySelector("h2")?.focus()
      },
      adding,
    )
  })

  try {
    await draw()
  } catch (error) {
    if (client.signedIn) mount(ticket, [h("h1", {}, "Webhooks"), h("p", { class: "error", role: "alert" }, describe(error))])
    return
  }
  mount(ticket, [
    h("h1", {}, "Webhooks"),
    h("p", {}, "Other systems learn of audit events as they happen: each endpoint gets a signed POST for every event of the types it chose, retried until it answers with a 2xx status, and failed after the last retry."),
    report.node,
    secretBox,
    h("section", { "aria-labelledby": "endpoints-title" }, listTitle, list),
    h("section", { "aria-labelledby": "add-title" }, h("h2", { id: "add-title" }, "Add an endpoint"), adding.node, form),
  ])
}
