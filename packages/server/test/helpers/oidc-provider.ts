// A real OpenID Provider on loopback for the federated sign-in tests: panva's oidc-provider (certified), in the
// test process, with one confidential client for revocable and its dev interactions (a login form that takes any
// account id). Accounts and their claims are whatever the test puts in `accounts`. The test holds the signing
// key, so that it can also sign logout tokens that are wrong in exactly one way.
import { generateKeyPairSync } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import Provider from "oidc-provider"

export interface ProviderClient {
  client_id: string
  /** Absent for a private_key_jwt client, which registers its public `jwks` instead. */
  client_secret?: string
  redirect_uris: string[]
  backchannel_logout_uri?: string
  backchannel_logout_session_required?: boolean
  post_logout_redirect_uris?: string[]
  token_endpoint_auth_method?: "client_secret_basic" | "client_secret_post" | "private_key_jwt"
  jwks?: { keys: JsonWebKey[] }
}

/** A private signing JWK of the provider. */
export type ProviderKey = JsonWebKey & { kid: string }

/** A new ES256 signing key named `kid`. */
export function providerKey(kid: string): ProviderKey {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" })
  return { ...privateKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" }
}

export interface TestProvider {
  issuer: string
  provider: Provider
  /** The claims of each account by its id (the `sub`); an account not listed signs in with `sub` alone. */
  accounts: Map<string, Record<string, unknown>>
  /** The private JWK the provider signs ID and logout tokens with: the first of its keys. */
  signingKey: ProviderKey
  close(): Promise<void>
}

/**
 * Starts the provider on `port` (0: any free one) with the given clients, publishing `keys` (default: one new key)
 * and signing with the first.
 */
export async function startProvider(clients: ProviderClient[], options: { port?: number; keys?: ProviderKey[] } = {}): Promise<TestProvider> {
  const keys = options.keys ?? [providerKey("test-key-1")]
  const signingKey = keys[0] as ProviderKey
  const accounts = new Map<string, Record<string, unknown>>()
  const http: Server = createServer()
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, "127.0.0.1", resolve))
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: clients.map((client) => ({ grant_types: ["authorization_code"], response_types: ["code"], id_token_signed_response_alg: "ES256", ...client })),
    jwks: { keys },
    cookies: { keys: ["a cookie key for the test provider only"] },
    claims: { openid: ["sub", "hd"], email: ["email", "email_verified"], profile: ["name", "preferred_username"] },
    features: { backchannelLogout: { enabled: true }, devInteractions: { enabled: true } },
    // Its outgoing requests (back-channel logout) refuse loopback addresses, as SSRF protection; revocable is one here.
    fetch: (url, init) => fetch(url, { ...init, dispatcher: undefined } as RequestInit),
    // The scopes' claims in the ID token itself, as Google, Okta and Keycloak put them.
    conformIdTokenClaims: false,
    // Consent is granted at once, so a login is one form: what the tests drive is revocable, not the consent page.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! })
      grant.addOIDCScope("openid email profile")
      await grant.save()
      return grant
    },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, ...accounts.get(id) }),
    }),
    ttl: { Session: 3600, Interaction: 600, Grant: 3600, AuthorizationCode: 60, IdToken: 600, AccessToken: 600 },
  })
  // The dev interactions and the provider's own warnings are noise in a test run.
  provider.on("server_error", (_ctx, error) => console.error("test provider:", error))
  http.on("request", provider.callback())
  return {
    issuer,
    provider,
    accounts,
    signingKey,
    async close() {
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

/**
 * A browser as far as redirects and cookies go: fetch with manual redirects and a cookie jar per origin (the
 * provider and revocable both run on 127.0.0.1, on different ports).
 */
export class Agent {
  readonly jar = new Map<string, Map<string, { value: string; path: string }>>()

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url)
    const cookies = [...(this.jar.get(target.origin) ?? new Map()).entries()]
      .filter(([, cookie]) => target.pathname === cookie.path || target.pathname.startsWith(cookie.path.endsWith("/") ? cookie.path : `${cookie.path}/`))
      .map(([name, cookie]) => `${name}=${cookie.value}`)
    const headers: Record<string, string> = { ...init.headers }
    if (cookies.length > 0) headers.cookie = cookies.join("; ")
    let body: string | undefined
    if (init.form !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded"
      body = new URLSearchParams(init.form).toString()
    }
    const response = await fetch(target, { method: init.method ?? (body === undefined ? "GET" : "POST"), headers, redirect: "manual", ...(body === undefined ? {} : { body }) })
    for (const line of response.headers.getSetCookie()) this.store(target, line)
    return response
  }

  /** The cookie `name` set for `origin`, if any. */
  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(new URL(origin).origin)?.get(name)?.value
  }

  private store(target: URL, line: string): void {
    const [pair = "", ...attributes] = line.split(";").map((part) => part.trim())
    const equals = pair.indexOf("=")
    const name = pair.slice(0, equals)
    const value = pair.slice(equals + 1)
    const path = attributes.find((attribute) => attribute.toLowerCase().startsWith("path="))?.slice(5) ?? "/"
    const maxAge = attributes.find((attribute) => attribute.toLowerCase().startsWith("max-age="))
    const expires = attributes.find((attribute) => attribute.toLowerCase().startsWith("expires="))
    const cookies = this.jar.get(target.origin) ?? new Map<string, { value: string; path: string }>()
    this.jar.set(target.origin, cookies)
    const gone = (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) || (expires !== undefined && Date.parse(expires.slice(8)) <= Date.now())
    if (gone) cookies.delete(name)
    else cookies.set(name, { value, path })
  }
}

/**
 * Follows redirects from `startUrl` through the provider's login form (signing in as `account`), and stops at the
 * redirect to revocable's callback, which it returns unrequested. `abort` cancels at the provider instead.
 */
export async function reachCallback(agent: Agent, startUrl: string, account: string, options: { abort?: boolean } = {}): Promise<string> {
  let url = startUrl
  for (let hops = 0; hops < 20; hops++) {
    const response = await agent.request(url)
    if (response.status >= 300 && response.status < 400) {
      const next = new URL(response.headers.get("location") as string, url).href
      await response.body?.cancel()
      if (/^\/auth\/oidc\/[^/]+\/callback$/.test(new URL(next).pathname)) return next
      url = next
      continue
    }
    const page = await response.text()
    if (response.status !== 200 || !/\/interaction\/[^/]+$/.test(new URL(url).pathname)) throw new Error(`unexpected answer ${response.status} at ${url}: ${page.slice(0, 200)}`)
    if (options.abort === true) {
      url = `${url}/abort`
      continue
    }
    const submitted = await agent.request(url, { form: { prompt: "login", login: account, password: "any" } })
    await submitted.body?.cancel()
    url = new URL(submitted.headers.get("location") as string, url).href
  }
  throw new Error("too many redirects")
}

export const CLIENT_ID = "revocable-test"
export const CLIENT_SECRET = "a client secret for revocable at the test provider"

/**
 * A provider and a revocable server that signs in with it as `test` (and with whatever `env` adds): the server's
 * issuer is its own loopback URL, so that the callback and back-channel URIs registered at the provider reach it.
 */
export async function federation(
  env: Record<string, string> = {},
  options: { providerPort?: number; names?: string[]; keys?: ProviderKey[]; client?: (base: string) => Partial<ProviderClient> } = {},
) {
  const { freePort, testServer } = await import("./server.ts")
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const names = options.names ?? ["test"]
  const provider = await startProvider(
    [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: names.map((name) => `${base}/auth/oidc/${name}/callback`),
        backchannel_logout_uri: `${base}/auth/oidc/test/backchannel-logout`,
        backchannel_logout_session_required: true,
        ...options.client?.(base),
      },
    ],
    { ...(options.providerPort === undefined ? {} : { port: options.providerPort }), ...(options.keys === undefined ? {} : { keys: options.keys }) },
  )
  const providerEnv = Object.fromEntries(
    names.flatMap((name) => {
      const prefix = `REVOCABLE_OIDC_${name.toUpperCase()}_`
      return [[`${prefix}ISSUER`, provider.issuer], [`${prefix}CLIENT_ID`, CLIENT_ID], [`${prefix}CLIENT_SECRET`, CLIENT_SECRET]]
    }),
  )
  const server = await testServer({ REVOCABLE_PORT: String(port), REVOCABLE_ISSUER: base, ...providerEnv, ...env })
  return {
    provider,
    server,
    base,
    async close() {
      await server.close()
      await provider.close()
    },
  }
}
