// Who did it, when it was not a person: names a username cannot take (usernames hold no ':'), like the CLI's
// `cli:<user>`. No account can then pass for the server in the audit log or in revocations, and deleting an
// account (which rewrites the events its username acted in) never touches these.

/** The server itself: a refresh reuse it detected, a sign-in that raced an account change. */
export const SYSTEM_ACTOR = "system:revocable"

/** An OAuth client revoking a token of its own (RFC 7009); one that did not authenticate as "anonymous". */
export function clientActor(clientId: string | null): string {
  return `client:${clientId ?? "anonymous"}`
}

/** An OpenID Provider, by the name it is configured under (back-channel logout). */
export function providerActor(name: string): string {
  return `oidc:${name}`
}
