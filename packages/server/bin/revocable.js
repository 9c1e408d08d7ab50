#!/usr/bin/env node
// The `revocable` command (also `npm start` and `npm run revocable` in the repository). Plain JavaScript that any
// Node.js can run, so that it checks the version before loading the CLI: on an older Node its modules fail to
// load (type stripping, node:sqlite, argon2id in node:crypto) with messages that do not say why.
const REQUIRED = "24.7"

const [major, minor] = process.versions.node.split(".").map(Number)
const [needMajor, needMinor] = REQUIRED.split(".").map(Number)
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  process.stderr.write(
    `revocable needs Node.js ${REQUIRED} or later; this is ${process.version} (${process.execPath}).\n` +
      "Install a current one from https://nodejs.org/ or with a version manager (nvm install 24, fnm install 24).\n" +
      "In a clone of the repository, npm install brings it (node_modules/.bin/node), and npm start and npm run use it.\n",
  )
  process.exit(1)
}

// Node announces type stripping (of our sources, and of the console's scripts served from them) as experimental on
// stderr, once: whoever collects stdout and stderr together would find it in the middle of the JSON log.
const emitWarning = process.emitWarning
process.emitWarning = function (warning, ...rest) {
  const type = typeof rest[0] === "string" ? rest[0] : rest[0] && rest[0].type
  const message = typeof warning === "string" ? warning : warning && warning.message
  if (type === "ExperimentalWarning" && /^(Type Stripping|stripTypeScriptTypes) /.test(String(message))) return
  return emitWarning.call(process, warning, ...rest)
}

// The sources under the repository's `revocable-source` condition, the compiled dist/ once installed.
import("#cli")
