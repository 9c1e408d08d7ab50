// The providers in the server's configuration: variables and the config file, the google preset, and every
// mistake stopping the start with a message that names the setting.
import assert from "node:assert/strict"
import { generateKeyPairSync } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, test } from "node:test"
import { ConfigError, loadConfig } from "../../src/server/config.ts"

const GOOGLE = { REVOCABLE_OIDC_GOOGLE_CLIENT_ID: "123.apps.googleusercontent.com", REVOCABLE_OIDC_GOOGLE_CLIENT_SECRET: "GOCSPX-secret" }

function refused(env: Record<string, string>, variable: string, message?: RegExp): void {
  assert.throws(() => loadConfig(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError)
    assert.equal(error.variable, variable)
    if (message !== undefined) assert.match(error.message, message)
    return true
  })
}

describe("OpenID providers in the configuration", () => {
  test("none by default", () => {
    assert.deepEqual(loadConfig({}).oidc, { providers: [], returnUrls: [] })
  })

  test("the google preset: its issuer and scopes from the client id and secret alone; hd for a Workspace domain", () => {
    const [google] = loadConfig({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_HOSTED_DOMAIN: "Example.com" }).oidc.providers
    assert.deepEqual(google, {
      name: "google",
      issuer: "https://accounts.google.com",
      clientId: "123.apps.googleusercontent.com",
      clientSecret: "GOCSPX-secret",
      clientAuth: "basic",
      clientKey: null,
      scopes: ["openid", "email", "profile"],
      hostedDomain: "example.com",
      linkVerifiedEmail: false,
      postLogoutRedirectUri: null,
    })
  })

  test("several providers at once, from variables and the config file, variables first", () => {
    const dir = mkdtempSync(join(tmpdir(), "revocable-oidc-"))
    const file = join(dir, "config.json")
    writeFileSync(file, JSON.stringify({
      oidc: {
        returnUrls: ["https://app.example/done"],
        providers: { okta: { issuer: "https://example.okta.com", clientId: "okta-id", clientSecret: "okta-secret", scopes: ["openid", "email"], linkVerifiedEmail: true } },
      },
    }))
    const config = loadConfig({ ...GOOGLE, REVOCABLE_CONFIG: file, REVOCABLE_OIDC_OKTA_CLIENT_AUTH: "post" })
    assert.deepEqual(config.oidc.providers.map((provider) => provider.name), ["google", "okta"])
    const okta = config.oidc.providers[1]
    assert.equal(okta?.issuer, "https://example.okta.com")
    assert.equal(okta?.clientAuth, "post")
    assert.deepEqual(okta?.scopes, ["openid", "email"])
    assert.equal(okta?.linkVerifiedEmail, true)
    assert.deepEqual(config.oidc.returnUrls, ["https://app.example/done"])
  })

  test("each mistake is refused at start, naming the setting", () => {
    refused({ REVOCABLE_OIDC_OKTA_CLIENT_ID: "id", REVOCABLE_OIDC_OKTA_CLIENT_SECRET: "s" }, "REVOCABLE_OIDC_OKTA_ISSUER", /needs REVOCABLE_OIDC_OKTA_ISSUER/)
    refused({ REVOCABLE_OIDC_GOOGLE_CLIENT_ID: "id" }, "REVOCABLE_OIDC_GOOGLE_CLIENT_SECRET")
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_ISSUER: "http://accounts.example.com" }, "REVOCABLE_OIDC_GOOGLE_ISSUER", /https/)
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_SCOPES: "email profile" }, "REVOCABLE_OIDC_GOOGLE_SCOPES", /openid/)
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_LINK_VERIFIED_EMAIL: "maybe" }, "REVOCABLE_OIDC_GOOGLE_LINK_VERIFIED_EMAIL")
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_CLIENT_AUTH: "jwt" }, "REVOCABLE_OIDC_GOOGLE_CLIENT_AUTH")
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_HOSTED_DOMAIN: "not a domain" }, "REVOCABLE_OIDC_GOOGLE_HOSTED_DOMAIN")
    refused({ REVOCABLE_OIDC_OKTA_ISSUER: "https://example.okta.com", REVOCABLE_OIDC_OKTA_CLIENT_ID: "id", REVOCABLE_OIDC_OKTA_CLIENT_SECRET: "s", REVOCABLE_OIDC_OKTA_HOSTED_DOMAIN: "example.com" }, "REVOCABLE_OIDC_OKTA_HOSTED_DOMAIN", /Google/)
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_CLIENTID: "typo" }, "REVOCABLE_OIDC_GOOGLE_CLIENTID", /not a setting/)
    refused({ REVOCABLE_OIDC_HANDOFF_ISSUER: "https://a.example", REVOCABLE_OIDC_HANDOFF_CLIENT_ID: "i", REVOCABLE_OIDC_HANDOFF_CLIENT_SECRET: "s" }, "REVOCABLE_OIDC_HANDOFF_ISSUER", /cannot name/)
    refused({ REVOCABLE_OIDC_RETURN_URLS: "not a url" }, "REVOCABLE_OIDC_RETURN_URLS")
  })

  test("private_key_jwt: a PEM or JWK private key file instead of the secret, checked at start", () => {
    const dir = mkdtempSync(join(tmpdir(), "revocable-oidc-key-"))
    const file = (name: string, content: string) => {
      writeFileSync(join(dir, name), content)
      return join(dir, name)
    }
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
    const pem = file("rsa.pem", rsa.privateKey.export({ format: "pem", type: "pkcs8" }) as string)
    const jwk = file("ec.json", JSON.stringify({ ...generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({ format: "jwk" }), kid: "k1" }))
    const okta = { REVOCABLE_OIDC_OKTA_ISSUER: "https://example.okta.com", REVOCABLE_OIDC_OKTA_CLIENT_ID: "id" }

    const [fromPem] = loadConfig({ ...okta, REVOCABLE_OIDC_OKTA_PRIVATE_KEY_FILE: pem }).oidc.providers
    assert.equal(fromPem?.clientAuth, "private_key_jwt")
    assert.equal(fromPem?.clientSecret, null)
    assert.deepEqual([fromPem?.clientKey?.alg, fromPem?.clientKey?.kid, fromPem?.clientKey?.key.type], ["RS256", null, "private"])
    const [fromJwk] = loadConfig({ ...okta, REVOCABLE_OIDC_OKTA_PRIVATE_KEY_FILE: jwk, REVOCABLE_OIDC_OKTA_CLIENT_AUTH: "private_key_jwt" }).oidc.providers
    assert.deepEqual([fromJwk?.clientKey?.alg, fromJwk?.clientKey?.kid], ["ES384", "k1"])

    const variable = "REVOCABLE_OIDC_OKTA_PRIVATE_KEY_FILE"
    refused({ ...okta, [variable]: join(dir, "absent.pem") }, variable, /cannot be read \(ENOENT\)/)
    const publicPem = rsa.publicKey.export({ format: "pem", type: "spki" }) as string
    refused({ ...okta, [variable]: file("public.pem", publicPem) }, variable, /holds no private key/)
    refused({ ...okta, [variable]: file("junk.json", "{\"kty\":\"EC\"}") }, variable, /holds no private key/)
    refused({ ...okta, [variable]: file("short.pem", generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }) as string) }, variable, /2048/)
    refused({ ...okta, [variable]: file("k1.pem", generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string) }, variable, /curve/)
    refused({ ...okta, [variable]: file("x25519.pem", generateKeyPairSync("x25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string) }, variable, /type/)
    refused({ ...okta, [variable]: pem, REVOCABLE_OIDC_OKTA_CLIENT_SECRET: "s" }, variable, /both/)
    refused({ ...okta, [variable]: pem, REVOCABLE_OIDC_OKTA_CLIENT_AUTH: "basic" }, "REVOCABLE_OIDC_OKTA_CLIENT_AUTH", /private_key_jwt/)
    refused({ ...okta, REVOCABLE_OIDC_OKTA_CLIENT_SECRET: "s", REVOCABLE_OIDC_OKTA_CLIENT_AUTH: "private_key_jwt" }, "REVOCABLE_OIDC_OKTA_CLIENT_AUTH", /PRIVATE_KEY_FILE/)
    refused(okta, "REVOCABLE_OIDC_OKTA_CLIENT_SECRET", /CLIENT_SECRET .*or REVOCABLE_OIDC_OKTA_PRIVATE_KEY_FILE/)
    // The message never quotes the file: it holds a private key.
    assert.throws(() => loadConfig({ ...okta, [variable]: file("bad.pem", publicPem.replace("PUBLIC", "PRIVATE")) }), (error: unknown) => error instanceof ConfigError && !error.message.includes(publicPem.split("\n")[1] as string))
  })

  test("the post-logout redirect URI: an absolute https URL (http on loopback)", () => {
    const env = { ...GOOGLE, REVOCABLE_OIDC_GOOGLE_POST_LOGOUT_REDIRECT_URI: "https://auth.example.com/signed-out" }
    assert.equal(loadConfig(env).oidc.providers[0]?.postLogoutRedirectUri, "https://auth.example.com/signed-out")
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_POST_LOGOUT_REDIRECT_URI: "/signed-out" }, "REVOCABLE_OIDC_GOOGLE_POST_LOGOUT_REDIRECT_URI")
    refused({ ...GOOGLE, REVOCABLE_OIDC_GOOGLE_POST_LOGOUT_REDIRECT_URI: "http://auth.example.com/" }, "REVOCABLE_OIDC_GOOGLE_POST_LOGOUT_REDIRECT_URI", /https/)
  })

  test("http is allowed for a provider on loopback only", () => {
    const env = { REVOCABLE_OIDC_DEV_CLIENT_ID: "id", REVOCABLE_OIDC_DEV_CLIENT_SECRET: "s" }
    assert.equal(loadConfig({ ...env, REVOCABLE_OIDC_DEV_ISSUER: "http://127.0.0.1:9000" }).oidc.providers[0]?.issuer, "http://127.0.0.1:9000")
    refused({ ...env, REVOCABLE_OIDC_DEV_ISSUER: "http://10.0.0.5:9000" }, "REVOCABLE_OIDC_DEV_ISSUER")
  })
})
