// The configured providers at run time: each one's discovered configuration (openid-client), found at start and,
// while the provider cannot be reached, looked for again on demand, one attempt at a time, so that the server
// starts without its providers and a sign-in answers 503 until the provider is back.
import * as client from "openid-client"
import type { FastifyBaseLogger } from "fastify"
import type { OidcProviderConfig } from "./settings.ts"
import { OidcError } from "./oidc-error.ts"

export interface Provider {
  settings: OidcProviderConfig
  /** The discovered configuration; throws oidc_provider_unavailable while discovery fails. */
  configuration(): Promise<client.Configuration>
}

/** How long a discovery (and every later request to the provider) may take, in seconds. */
const TIMEOUT_S = 10

export function providerRegistry(providers: OidcProviderConfig[], log: FastifyBaseLogger): Map<string, Provider> {
  return new Map(providers.map((settings) => [settings.name, provider(settings, log)]))
}

function provider(settings: OidcProviderConfig, log: FastifyBaseLogger): Provider {
  let found: client.Configuration | undefined
  let pending: Promise<client.Configuration> | undefined

  const discover = (): Promise<client.Configuration> => {
    pending ??= clientAuthentication(settings)
      .then((authentication) =>
        client.discovery(
          new URL(settings.issuer),
          settings.clientId,
          settings.clientSecret === null ? undefined : { client_secret: settings.clientSecret },
          authentication,
          // The config allows http only for a provider on loopback (development, tests).
          { timeout: TIMEOUT_S, ...(settings.issuer.startsWith("http:") ? { execute: [client.allowInsecureRequests] } : {}) },
        ),
      )
      .then(
        (configuration) => {
          found = configuration
          log.info({ provider: settings.name, issuer: settings.issuer }, "OpenID provider discovered")
          return configuration
        },
        (cause: unknown) => {
          pending = undefined
          log.warn(
            { provider: settings.name, issuer: settings.issuer, reason: describe(cause) },
            "OpenID provider discovery failed: sign-in with it answers 503 and discovery is retried on the next sign-in",
          )
          throw new OidcError("oidc_provider_unavailable", `The sign-in provider ${settings.name} cannot be reached; try again later.`, { cause })
        },
      )
    return pending
  }
  // At start, in the background: the server does not wait for its providers.
  discover().catch(() => undefined)

  return {
    settings,
    configuration: async () => found ?? discover(),
  }
}

/** How the client proves itself at the token endpoint: its secret, or an assertion signed with its private key. */
async function clientAuthentication(settings: OidcProviderConfig): Promise<client.ClientAuth> {
  const { clientSecret, clientKey } = settings
  if (clientKey !== null) {
    const der = clientKey.key.export({ format: "der", type: "pkcs8" })
    const key = await crypto.subtle.importKey("pkcs8", der, signingAlgorithm(clientKey.alg), false, ["sign"])
    return client.PrivateKeyJwt(clientKey.kid === null ? key : { key, kid: clientKey.kid })
  }
  // settings.ts gives every provider one of the two.
  const secret = clientSecret as string
  return settings.clientAuth === "post" ? client.ClientSecretPost(secret) : client.ClientSecretBasic(secret)
}

/** The Web Crypto algorithm under which openid-client signs with the JWS `alg` settings.ts chose for the key. */
function signingAlgorithm(alg: string): { name: string; hash?: string; namedCurve?: string } {
  const hash = `SHA-${alg.slice(2)}`
  if (alg.startsWith("RS")) return { name: "RSASSA-PKCS1-v1_5", hash }
  if (alg.startsWith("PS")) return { name: "RSA-PSS", hash }
  if (alg.startsWith("ES")) return { name: "ECDSA", namedCurve: `P-${alg === "ES512" ? 521 : alg.slice(2)}` }
  return { name: "Ed25519" }
}

/** A log line's reason: the error's message and its cause's, never a response body. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
  return `${error.message}${cause}`
}
