// `revocable keys list|rotate|retire|rewrap`: the signing keys revocable manages in the store.
import { command, type Group } from "../args.ts"
import { rewrapKeys } from "../../server/keystore.ts"
import { CliError, json, table, time } from "./context.ts"

const list = command({
  name: "keys list",
  summary: "List the signing keys, the current one first.",
  options: { json: { type: "boolean", help: "print the keys as JSON (never the private parts)" } },
  async run({ values }, context) {
    const { store } = await context.runtime()
    const keys = (await store.listKeys()).sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1))
    const current = keys.find((key) => key.retiredAt === null)?.kid
    const rows = keys.map(({ kid, alg, createdAt, retiredAt }) => ({
      kid,
      alg,
      createdAt,
      retiredAt,
      status: retiredAt !== null ? "retired" : kid === current ? "current" : "verifies",
    }))
    if (values.json) return context.out(json(rows))
    if (rows.length === 0) return context.out("no keys in the store")
    context.out(table(["KID", "ALG", "STATUS", "CREATED", "RETIRED"], rows.map((key) => [key.kid, key.alg, key.status, time(key.createdAt), time(key.retiredAt)])))
  },
})

const rotate = command({
  name: "keys rotate",
  summary: "Make a new key current; tokens signed by the older keys stay valid until they expire.",
  options: { json: { type: "boolean", help: "print {kid} as JSON" } },
  async run({ values }, context) {
    const { auth } = await context.runtime()
    let kid: string
    try {
      ;({ kid } = await auth.rotateKey())
    } catch (error) {
      // Keys given in the configuration are not the store's to replace.
      if (error instanceof TypeError) throw new CliError(error.message)
      throw error
    }
    context.out(values.json ? json({ kid }) : `new current key ${kid}`)
  },
})

const retire = command({
  name: "keys retire",
  summary: "Retire a key: every token it signed is refused from now on, on every instance.",
  args: ["KID"],
  options: {
    reason: { type: "string", value: "TEXT", help: "why, kept with the revocation" },
    json: { type: "boolean", help: "print the revocation as JSON" },
  },
  description: "Retiring the current key makes a new one current. Users signed in with the retired key must log in again.",
  examples: ["revocable keys retire 3mJf0cQ2 --reason \"key leaked\""],
  async run({ values, positionals }, context) {
    const kid = positionals[0] ?? ""
    const { auth, store } = await context.runtime()
    if (!(await store.listKeys()).some((key) => key.kid === kid)) throw new CliError(`no key has kid ${JSON.stringify(kid)}`)
    const revocation = await auth.retireKey(kid, { actor: context.actor, ...(values.reason === undefined ? {} : { reason: values.reason }) })
    context.out(values.json ? json(revocation) : `retired key ${kid}: every token it signed is refused`)
  },
})

const rewrap = command({
  name: "keys rewrap",
  summary: "Re-wrap every stored key under the newest key-encryption key.",
  options: { json: { type: "boolean", help: "print {kek, rewrapped} as JSON" } },
  description: [
    "To rotate the key-encryption key: give every instance the new one first in REVOCABLE_KEY_ENCRYPTION_KEY, the",
    "old one after it (NEW,OLD); run this; then drop the old one. No token is affected.",
  ].join("\n"),
  examples: ['REVOCABLE_KEY_ENCRYPTION_KEY="$NEW,$OLD" revocable keys rewrap'],
  async run({ values }, context) {
    const { store } = await context.runtime()
    const result = await rewrapKeys(store)
    if (values.json) return context.out(json(result))
    const count = result.rewrapped.length
    context.out(`re-wrapped ${count} key${count === 1 ? "" : "s"} under the key-encryption key ${result.kek}`)
  },
})

export const keys: Group = {
  name: "keys",
  summary: "Manage the signing keys kept in the store.",
  description:
    "The server generates an EdDSA key on first start and keeps it in the store, shared by every instance, wrapped under the key-encryption key.",
  commands: [list, rotate, retire, rewrap],
}
