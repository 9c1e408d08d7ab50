/// <reference lib="dom" />
// The console's DOM helpers: elements, times, device names, form fields, and how errors are told to the user.
import { ClientError } from "revocable/client"

export type Child = Node | string | null | undefined | false
export type Props = Record<string, string | number | boolean | null | undefined>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === true) node.setAttribute(name, "")
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value))
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child)
  return node
}

export function element(id: string): HTMLElement {
  const found = document.getElementById(id)
  if (found === null) throw new Error(`The page has no #${id}.`)
  return found
}

export function when(iso: string | null): Node {
  if (iso === null) return document.createTextNode("—")
  return h("time", { datetime: iso }, new Date(iso).toLocaleString())
}

/** "Chrome on Linux" for a User-Agent; the session list keeps the full text in a tooltip. */
export function deviceName(device: string | null): string {
  if (device === null || device === "") return "Unknown device"
  if (!device.startsWith("Mozilla/")) return device
  // In order: an Edge UA also names Chrome and Safari, an Android one Linux.
  const browser = ["Edg", "OPR", "Firefox", "HeadlessChrome", "Chrome", "Safari"].find((name) => device.includes(`${name}/`))
  const system = ["Windows", "Android", "iPhone", "iPad", "Mac OS X", "CrOS", "Linux"].find((name) => device.includes(name))
  if (browser === undefined) return device
  const names: Record<string, string> = { Edg: "Edge", OPR: "Opera", HeadlessChrome: "Headless Chrome", "Mac OS X": "macOS", CrOS: "ChromeOS" }
  return system === undefined ? names[browser] ?? browser : `${names[browser] ?? browser} on ${names[system] ?? system}`
}


export function field(id: string, label: string, props: Props = {}, hint?: string): { node: HTMLElement; input: HTMLInputElement } {
  const input = h("input", { id, name: id, ...(hint === undefined ? {} : { "aria-describedby": `${id}-hint` }), ...props })
  return { node: h("div", { class: "field" }, h("label", { for: id }, label), input, hint === undefined ? null : h("p", { class: "hint", id: `${id}-hint` }, hint)), input }
}

export function describe(error: unknown): string {
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

/**
 * Asks before a destructive action, in a modal dialog (focus moves into it; Escape or Cancel answers no). The
 * confirming button says what will happen, so that it reads right on its own.
 */
export function confirmAction(question: string, consequence: string, action: string): Promise<boolean> {
  const dialog = h("dialog", { "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" })
  const yes = h("button", { type: "submit", class: "danger", value: "yes" }, action)
  const no = h("button", { type: "submit", class: "secondary", value: "no", autofocus: true }, "Cancel")
  dialog.append(h("form", { method: "dialog", class: "stack" }, h("h2", { id: "confirm-title" }, question), h("p", { id: "confirm-text" }, consequence), h("div", { class: "actions" }, yes, no)))
  document.body.append(dialog)
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove()
      resolve(dialog.returnValue === "yes")
    })
    dialog.showModal()
  })
}

/** The place a view reports into: a status for what worked, an alert for what did not. */
export function reporter(): { node: HTMLElement; ok(text: string): void; fail(error: unknown): void } {
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
