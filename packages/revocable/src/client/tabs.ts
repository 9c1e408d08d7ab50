/// <reference lib="dom" />
// What the tabs of one origin share: an exclusive lock around each refresh (Web Locks), so two tabs never send
// the same refresh token, and a channel (BroadcastChannel) that hands new tokens and sign-outs to the others.
// Without Web Locks (an insecure context, an old browser) refreshes are single-flight within the tab only.

export interface TabMessage {
  type: "signed-in" | "refreshed" | "signed-out"
  /** The session concerned; a sign-out only ends the tabs on that session. */
  sessionId: string | null
  /** The new tokens of "signed-in" and "refreshed". */
  tokens?: { accessToken: string; refreshToken?: string; csrfToken?: string }
  /** Why a "signed-out" happened: "logout", "logout-everywhere" or the server's error code. */
  reason?: string
}

export interface Tabs {
  /** Runs `task` while no other tab of this origin runs one under the same name. */
  exclusive<T>(task: () => Promise<T>): Promise<T>
  /** Tells the other tabs; never this one. */
  post(message: TabMessage): void
  close(): void
}

export function tabs(name: string, receive: (message: TabMessage) => void): Tabs {
  const locks = typeof navigator === "object" ? navigator.locks : undefined
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : null
  channel?.addEventListener("message", (event: MessageEvent<TabMessage>) => {
    const message = event.data
    if (typeof message === "object" && message !== null && typeof message.type === "string") receive(message)
  })
  return {
    // The lock is held until the task settles, and released if the tab goes away.
    exclusive: <T>(task: () => Promise<T>) => (locks === undefined ? task() : (locks.request(`${name} refresh`, { mode: "exclusive" }, task) as Promise<T>)),
    post: (message) => channel?.postMessage(message),
    close: () => channel?.close(),
  }
}
