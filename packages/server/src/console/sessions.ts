/// <reference lib="dom" />
// Sessions as people read them: the device in words ("Firefox on Linux"), where from, and times relative to now
// ("5 minutes ago", the exact time in the tooltip); never a session or token id, except for admins who ask.
import type { Session } from "../server/schemas.ts"
import { deviceName, h } from "./dom.ts"
import { signedInWith } from "./federation.ts"

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ["year", 365 * 86_400_000],
  ["month", 30 * 86_400_000],
  ["week", 7 * 86_400_000],
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
]

/** "5 minutes ago", "just now", "in 2 days", in the browser's language. */
export function relative(iso: string, now = Date.now()): string {
  const delta = Date.parse(iso) - now
  if (Math.abs(delta) < 60_000) return "just now"
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" })
  const [unit, size] = UNITS.find(([, ms]) => Math.abs(delta) >= ms) ?? ["minute", 60_000]
  return format.format(Math.round(delta / size), unit)
}

/** A relative time, with the exact one in its tooltip and its datetime attribute. */
export function ago(iso: string): HTMLElement {
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, relative(iso))
}

/** The device a session signed in from, in words: the client's label or its User-Agent. */
export function sessionDevice(session: Session): string {
  return deviceName(session.device ?? session.user_agent)
}

/**
 * A table of sessions: device (with "This device" for the caller's), where from, when signed in, last active,
 * and the action `act` makes for each (sign out, revoke). With `ids`, an admin's view, each row shows its id too.
 */
export function sessionsTable(id: string, caption: string, sessions: Session[], act: (session: Session) => Node | null, ids = false): HTMLElement {
  const rows = sessions.map((session) =>
    h(
      "tr",
      { class: session.current === true ? "current" : null, "data-session": session.session_id },
      h(
        "td",
        { title: session.user_agent ?? session.device ?? "" },
        sessionDevice(session),
        session.current === true ? h("span", { class: "badge current" }, "This device") : null,
        ids ? h("div", { class: "hint" }, "Session ", h("code", {}, session.session_id)) : null,
      ),
      h("td", {}, session.ip ?? "—"),
      h("td", {}, ago(session.created_at), signedInWith(session)),
      h("td", {}, ago(session.last_used_at)),
      h("td", {}, act(session)),
    ),
  )
  const heads = ["Device", "IP address", "Signed in", "Last active"]
  return h(
    "table",
    { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...heads.map((head) => h("th", { scope: "col" }, head)), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action")))),
    h("tbody", {}, ...rows),
  )
}
