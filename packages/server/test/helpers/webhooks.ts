// Webhook receivers for tests: a node:http server on loopback that records each request and answers as the test
// says; the Standard Webhooks check written out independently of the server's; and admin API helpers.
import assert from "node:assert/strict"
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http"
import { call, signIn } from "./server.ts"

export const ADMIN_PASSWORD = "the admin's long passphrase"
/** Short retries, so that a test waits for the receiver, not for minutes. */
export const FAST_RETRIES = Array.from({ length: 100 }, () => "50ms").join(",")
/** A server with an admin, loopback receivers allowed, and fast retries. */
export const WEBHOOK_ENV = {
  REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD,
  REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000",
  REVOCABLE_LOGIN_LIMIT_IP: "1000",
  REVOCABLE_WEBHOOKS_ALLOW_HTTP: "true",
  REVOCABLE_WEBHOOKS_ALLOW_PRIVATE: "true",
  REVOCABLE_WEBHOOKS_RETRY: FAST_RETRIES,
}

export interface Received {
  headers: IncomingHttpHeaders
  body: string
  /** Answers the request; until then it is held. */
  answer(status: number): void
}

export interface Receiver {
  url: string
  port: number
  /** Every request so far, in order of arrival. */
  requests: Received[]
  /** The next request not yet taken by next(), when it arrives. */
  next(): Promise<Received>
  close(): Promise<void>
}

/**
 * A webhook receiver on loopback. `reply` says how to answer each request (a status), or "hold" to leave it to
 * the test; on `port` when given (a receiver coming back where it was).
 */
export async function receiver(reply: (request: Received, index: number) => number | "hold" = () => 200, port = 0): Promise<Receiver> {
  const requests: Received[] = []
  const waiting: ((request: Received) => void)[] = []
  let taken = 0
  const open = new Set<ServerResponse>()
  const server: Server = createServer((incoming, response) => {
    let body = ""
    incoming.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
    incoming.on("end", () => {
      open.add(response)
      const request: Received = {
        headers: incoming.headers,
        body,
        answer(status) {
          open.delete(response)
          response.writeHead(status, { "content-type": "text/plain" }).end("ok")
        },
      }
      requests.push(request)
      const status = reply(request, requests.length - 1)
      if (status !== "hold") request.answer(status)
      const waiter = waiting.shift()
      if (waiter !== undefined) {
        taken++
        waiter(request)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  const bound = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${bound}/hook`,
    port: bound,
    requests,
    next() {
      const ready = requests[taken]
      if (ready !== undefined) {
        taken++
        return Promise.resolve(ready)
      }
      return new Promise((resolve) => waiting.push(resolve))
    },
    async close() {
      for (const response of open) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The Standard Webhooks check, written out: HMAC-SHA256 of "id.timestamp.body" under the secret's bytes. */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const id = headers["webhook-id"] as string
  const timestamp = headers["webhook-timestamp"] as string
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64")
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest()
  return String(headers["webhook-signature"])
    .split(" ")
    .some((entry) => {
      const [version, signature] = entry.split(",")
      const given = Buffer.from(signature ?? "", "base64")
      return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected)
    })
}

/** Polls the condition until it holds: for state the server writes after the receiver's answer. */
export async function until<T>(read: () => Promise<T>, holds: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read()
    if (holds(value)) return value
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export async function adminOf(url: string): Promise<string> {
  return (await signIn(url, "admin", ADMIN_PASSWORD, false)).access_token
}

export async function addEndpoint(url: string, admin: string, target: string, events: string[]): Promise<{ id: string; secret: string }> {
  const created = await call(url, "POST", "/admin/webhooks", { token: admin, json: { url: target, events } })
  assert.equal(created.status, 201, created.text)
  return created.body
}

export async function deliveries(url: string, admin: string, endpoint: string): Promise<any[]> {
  const listed = await call(url, "GET", `/admin/webhooks/${endpoint}/deliveries?limit=1000`, { token: admin })
  assert.equal(listed.status, 200, listed.text)
  return listed.body.items
}

export async function revokeSession(url: string, admin: string, sessionId: string, reason = "test"): Promise<void> {
  const revoked = await call(url, "POST", "/admin/revocations", { token: admin, json: { kind: "session", id: sessionId, reason } })
  assert.equal(revoked.status, 201, revoked.text)
}
