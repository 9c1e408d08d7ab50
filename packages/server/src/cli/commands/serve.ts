// `revocable serve`: the auth server, on the configuration every other command reads too.
import { command } from "../args.ts"

export const serve = command({
  name: "serve",
  summary: "Run the auth server: port 8000 and SQLite in ./data unless configured otherwise.",
  options: {},
  keepsRunning: true,
  description: [
    "Settings come from REVOCABLE_* variables, or a JSON file (--config, REVOCABLE_CONFIG), checked at start:",
    "  PORT, REVOCABLE_PORT      8000",
    "  REVOCABLE_HOST            127.0.0.1",
    "  REVOCABLE_STORE           SQLite in REVOCABLE_DATA_DIR (./data); postgres://… or redis://… for several instances",
    "  REVOCABLE_ISSUER          http://localhost:PORT",
    "  REVOCABLE_REGISTRATION    open or closed",
    "  REVOCABLE_ADMIN_PASSWORD  creates the admin user (REVOCABLE_ADMIN_USER, default admin) on first start",
    "Signing keys (EdDSA) are generated on first start and kept in the store. SIGTERM drains in-flight requests.",
  ].join("\n"),
  examples: ["revocable serve", "REVOCABLE_STORE=postgres://db/auth PORT=8080 revocable serve"],
  async run({ values }, context) {
    // Loaded here, so that the other commands never load Fastify.
    const server = await import("../run-server.ts")
    await server.serve(values.config === undefined ? context.io.env : { ...context.io.env, REVOCABLE_CONFIG: values.config })
  },
})
