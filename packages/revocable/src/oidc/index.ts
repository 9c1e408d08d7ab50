/**
 * Sign in with Google or any OpenID Connect provider, without the revocable server: the Authorization Code flow
 * with PKCE (S256), state and nonce, done by `openid-client` (install it: it is an optional peer dependency,
 * needed by this subpath only), ending in `auth.issue` and, by default, the auth cookies of cookie mode. The
 * application maps the provider's identity (issuer + sub, never the email) to its own user in `onIdentity`.
 * Node only (the transaction cookie is sealed with node:crypto). docs/oidc.md, "Without the server".
 *
 * @example
 * import { oidcLogin, expressOidc } from "revocable/oidc"
 *
 * const google = expressOidc(oidcLogin({
 *   auth, issuer: "https://accounts.google.com",
 *   clientId: process.env.GOOGLE_CLIENT_ID, clientSecret: process.env.GOOGLE_CLIENT_SECRET,
 *   redirectUri: "https://app.example/auth/oidc/google/callback",
 *   cookieSecret: process.env.COOKIE_SECRET,                      // 32 bytes or more
 *   onIdentity: async ({ issuer, sub, email }) => ({ subject: await users.idFor(issuer, sub, email) }),
 * }), { errorRedirect: "/" })
 * app.get("/auth/oidc/google", google.start)                      // "Sign in with Google" links here
 * app.get("/auth/oidc/google/callback", google.callback)          // sets the auth cookies, redirects to "/"
 */
export { oidcLogin, type OidcCallback, type OidcIdentity, type OidcLogin, type OidcLoginOptions, type OidcRequest, type OidcSignIn, type OidcStart } from "./login.ts"
export { expressOidc, fastifyOidc, honoOidc, type ExpressHandler, type FastifyHandler, type FastifyReplyLike, type HonoHandler, type OidcRoutes } from "./mounts.ts"
export type { MountOptions, OidcAnswer } from "./answers.ts"
export { OidcError, type OidcFailure } from "./errors.ts"
