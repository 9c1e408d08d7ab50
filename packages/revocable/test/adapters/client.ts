// A raw HTTP client for the adapter and example tests: sends headers exactly as given (two Authorization
// headers stay two header lines, which fetch would join), and reads Set-Cookie as a list.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http"

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  text: string
  /** The JSON body, or undefined when the body is not JSON. */
  json: any
}

export interface CallOptions {
  /** Header lines in order; a name may repeat. */
  headers?: ReadonlyArray<readonly [string, string]>
  json?: unknown
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>
}

export function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  let body: string | undefined
  const url = new URL(path, base)
  // With headers given as a list, Node adds no Host header of its own.
  const lines: string[] = ["host", url.host]
  for (const [name, value] of options.headers ?? []) lines.push(name, value)
  if (options.json !== undefined) {
    body = JSON.stringify(options.json)
    lines.push("content-type", "application/json")
  } else if (options.form !== undefined) {
    body = new URLSearchParams(options.form).toString()
    lines.push("content-type", "application/x-www-form-urlencoded")
  }
  // Without it Node would send an empty chunked body, which Fastify refuses (415) for want of a content type.
  if (method !== "GET" && method !== "HEAD") lines.push("content-length", String(body === undefined ? 0 : Buffer.byteLength(body)))
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: lines, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("error", reject)
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
    })
    req.on("error", reject)
    req.end(body)
  })
}

export function bearer(token: string): readonly [string, string] {
  return ["authorization", `Bearer ${token}`]
}

/** The cookies a reply sets: name -> { value, attributes (lower-cased names; flags map to "") }. */
export function setCookies(reply: Reply): Map<string, { value: string; attributes: Map<string, string> }> {
  const cookies = new Map<string, { value: string; attributes: Map<string, string> }>()
  for (const line of reply.headers["set-cookie"] ?? []) {
    const [pair = "", ...rest] = line.split(";").map((part) => part.trim())
    const equals = pair.indexOf("=")
    const attributes = new Map<string, string>()
    for (const attribute of rest) {
      const at = attribute.indexOf("=")
      if (at < 0) attributes.set(attribute.toLowerCase(), "")
      else attributes.set(attribute.slice(0, at).toLowerCase(), attribute.slice(at + 1))
    }
    cookies.set(pair.slice(0, equals), { value: pair.slice(equals + 1), attributes })
  }
  return cookies
}

/** A Cookie header line made of the values a reply set. */
export function cookieHeader(reply: Reply, ...names: string[]): readonly [string, string] {
  const cookies = setCookies(reply)
  return ["cookie", names.map((name) => `${name}=${cookies.get(name)?.value ?? ""}`).join("; ")]
}
