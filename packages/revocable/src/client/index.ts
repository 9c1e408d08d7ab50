/**
 * revocable/client: the browser side. A `fetch` that attaches the access token and, when the server answers
 * 401 `token_expired`, refreshes once and retries; one refresh at a time for every call of a tab and for every
 * tab of the origin (Web Locks, new tokens handed over with BroadcastChannel), so that parallel refreshes never
 * present a refresh token twice, which the server would take for theft (`refresh_token_reused`) and answer by
 * revoking the session. A session the server ended (revoked, logged out elsewhere, suspended) is reported by a
 * "logged-out" event. ES module, no dependencies, no Node built-ins.
 *
 * @example
 * import { createClient, ClientError } from "revocable/client"
 *
 * const client = createClient({ baseUrl: "https://auth.example" })   // storage: "cookie" (default) or "local"
 * client.on("logged-out", ({ reason }) => showSignIn(reason))
 * if (!(await client.restore())) await client.login("alice", password)
 * const me = await client.call("/me")                                // JSON, or throws ClientError { code, status }
 * const answer = await client.fetch("/orders", { method: "POST", body })   // a Response, like fetch
 * await client.logoutEverywhere()
 */
export { createClient } from "./client.ts"
export { ClientError } from "./responses.ts"
export type { Client, ClientEvents } from "./client.ts"
export type { ClientOptions, StorageMode } from "./config.ts"
