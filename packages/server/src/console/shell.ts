/// <reference lib="dom" />
// What the console's entry (app.ts) gives every view: the client, the state the views share, and the means to draw.
import type { Client, ClientError } from "revocable/client"
import type { Me } from "../server/schemas.ts"

export interface Report {
  fail(error: unknown): void
}

export interface Shell {
  client: Client
  /** The signed-in user, as /me last answered; null until asked. */
  me: Me | null
  /** Said once by the next view that reports: why the session ended, or what an action did. */
  notice: string
  /** Said once as an alert by the next view that reports: a federated sign-in that failed. */
  failure: ClientError | null
  /** Replaces the view, unless a newer render took over; focus goes to `focus` (default the heading). */
  mount(ticket: number, nodes: Node[], focus?: HTMLElement): void
  /** Runs an action from a button or form: disabled meanwhile; resolves whether it worked. */
  act(control: HTMLElement, action: () => Promise<unknown>, report?: Report): Promise<boolean>
  /** Draws the view of the current URL again. */
  render(): Promise<void>
}
