/// <reference lib="dom" />
// Signing in with OpenID Connect providers: a button per configured provider on the sign-in page, the account's
// linked identities (link one more, unlink one), which provider made a session, signing out at the provider too,
// and the words for a federated sign-in that failed, which comes back to the console as #/account?error=<code>
// (only the code: a crafted link cannot put words here).
import { ClientError, type Client } from "revocable/client"
import type { Identities, Identity, Session } from "../server/schemas.ts"
import { h, when } from "./dom.ts"
import type { Report, Shell } from "./shell.ts"

export interface ProviderList {
  providers: Array<{ name: string; sign_in_url: string }>
}

const NAMES: Readonly<Record<string, string>> = { google: "Google", github: "GitHub", gitlab: "GitLab", okta: "Okta", keycloak: "Keycloak", auth0: "Auth0", entra: "Microsoft", microsoft: "Microsoft", apple: "Apple" }

const FAILURES: Readonly<Record<string, string>> = {
  oidc_provider_error: "The provider did not sign you in: the sign-in was cancelled or refused there.",
  oidc_provider_unavailable: "The sign-in provider cannot be reached right now; try again in a moment.",
  oidc_transaction_missing: "That sign-in expired or was started in another browser; start it again.",
  oidc_transaction_replayed: "That sign-in was already completed once; start it again.",
  oidc_state_mismatch: "That sign-in was not started in this browser; start it again.",
  oidc_callback_invalid: "The provider's answer could not be verified; start the sign-in again.",
  oidc_claims_missing: "The provider did not say enough about your account to sign you in.",
  oidc_registration_closed: "No account here is linked to that identity, and registration is closed: ask an administrator to create your account.",
  oidc_identity_taken: "That identity is already linked to another account.",
  oidc_link_expired: "Your session ended before the provider answered; sign in and try again.",
  oidc_unknown_provider: "That sign-in provider is not configured here.",
  oidc_return_url_refused: "The sign-in was asked to return to a page it may not go to.",
  forbidden: "This account cannot sign in: it is suspended, or it changed during the sign-in.",
}

export function providerLabel(name: string): string {
  return NAMES[name] ?? name.charAt(0).toUpperCase() + name.slice(1)
}

/** The failure a federated sign-in came back with, worded here. */
export function federatedFailure(code: string): ClientError {
  return new ClientError(code, 400, FAILURES[code] ?? "Signing in with the provider failed; try again.")
}

/** The configured providers; none when the server cannot say (the password form still works). */
export async function listProviders(client: Client): Promise<ProviderList["providers"]> {
  try {
    return (await client.call<ProviderList>("auth/oidc")).providers
  } catch {
    return []
  }
}

/** "Sign in with Google", one link per provider: the browser goes to the provider and comes back signed in. */
export function providerButtons(client: Client): HTMLElement {
  const list = h("div", { class: "actions providers", id: "providers" })
  void listProviders(client).then((providers) => {
    list.replaceChildren(
      ...providers.map((provider) =>
        // Relative to the console's page, as every call of the console is.
        h("a", { class: "button secondary", href: provider.sign_in_url.replace(/^\//, "") }, `Sign in with ${providerLabel(provider.name)}`),
      ),
    )
  })
  return list
}

/** "Signed in with Google" under a session made by a provider; nothing for a password sign-in. */
export function signedInWith(session: Session): HTMLElement | null {
  return session.provider === null ? null : h("p", { class: "hint", "data-provider": session.provider }, `Signed in with ${providerLabel(session.provider)}`)
}

/**
 * Signs this browser out: its session here first (the client tells the other tabs), then, for a session a provider
 * made, the provider's own: GET auth/oidc/logout redirects there (RP-initiated logout) and the provider sends the
 * browser back to the console.
 */
export async function signOut(client: Client): Promise<void> {
  let provider: string | null = null
  try {
    provider = (await client.call<Session[]>("auth/sessions")).find((session) => session.current === true)?.provider ?? null
  } catch {
    // Signing out here must not wait on the list: without it, only the provider's session stays up.
  }
  await client.logout()
  if (provider !== null) location.assign("auth/oidc/logout")
}

/** A user's identities as a table, for the admins' user page: provider, account, when linked. */
export function identitiesTable(identities: Identity[]): HTMLElement {
  return h(
    "table",
    { class: "identities" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Provider"), h("th", { scope: "col" }, "Account"), h("th", { scope: "col" }, "Linked"))),
    h(
      "tbody",
      {},
      ...identities.map((identity) =>
        h("tr", { "data-identity": identity.id }, h("td", {}, providerLabel(identity.provider)), h("td", { title: identity.issuer }, identity.email ?? identity.subject), h("td", {}, when(identity.linked_at))),
      ),
    ),
  )
}

/** The account's identities: each with an unlink button (refused by the server for the last way in), and a link button per provider. */
export function identitiesSection(shell: Shell, report: Report, linked: Identities, providers: ProviderList["providers"]): HTMLElement {
  const { client, act, render } = shell
  const rows = linked.identities.map((identity) => {
    const label = `${providerLabel(identity.provider)} (${identity.email ?? identity.subject})`
    const unlink = h("button", { type: "button", class: "danger secondary", "aria-label": `Unlink ${label}` }, "Unlink")
    unlink.addEventListener("click", () => {
      void act(unlink, () => client.call(`me/identities/${encodeURIComponent(identity.id)}`, { method: "DELETE" }), report).then((done) => {
        if (done) void render()
      })
    })
    return h(
      "tr",
      { "data-identity": identity.id },
      h("td", {}, providerLabel(identity.provider)),
      h("td", { title: identity.issuer }, identity.email ?? identity.subject),
      h("td", {}, when(identity.linked_at)),
      h("td", {}, unlink),
    )
  })
  const links = providers.map((provider) => {
    const button = h("button", { type: "button", class: "secondary" }, `Link a ${providerLabel(provider.name)} account`)
    button.addEventListener("click", () => {
      void act(
        button,
        async () => {
          const answer = await client.call<{ authorization_url: string }>(`auth/oidc/${encodeURIComponent(provider.name)}/link`, { body: { return_to: "/#/account" } })
          location.assign(answer.authorization_url)
        },
        report,
      )
    })
    return button
  })
  const count = linked.identities.length
  return h(
    "section",
    { "aria-labelledby": "identities-title" },
    h("h2", { id: "identities-title" }, "Sign-in providers"),
    count === 0
      ? h("p", {}, "No provider account is linked to this account.")
      : h(
          "table",
          { id: "identities" },
          h("caption", {}, `Provider accounts you sign in with: ${count}.${linked.passwordless ? " Without a password, the last one cannot be unlinked." : ""}`),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Provider"), h("th", { scope: "col" }, "Account"), h("th", { scope: "col" }, "Linked"), h("th", { scope: "col" }, h("span", { class: "hint" }, "Action")))),
          h("tbody", {}, ...rows),
        ),
    links.length === 0 ? null : h("div", { class: "actions" }, ...links),
  )
}
