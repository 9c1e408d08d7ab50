// The SQLite data directory and its files, which hold password hashes, sessions and the key-encryption key:
// only the server's user may read them. What the server creates is 0700 (the directory) and 0600 (files)
// whatever the umask; what it finds wider is reported, not changed (the operator may have meant it).
import { randomBytes } from "node:crypto"
import { chmodSync, closeSync, existsSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { generateKeyEncryptionKey, parseKeyEncryptionKeys, type KeyEncryptionKey } from "./keywrap.ts"

/** Something found at start that the operator should fix; logged at level warn. */
export interface StartWarning {
  code: string
  message: string
}

// SQLite gives the files it creates beside the database (-wal, -shm, -journal) the database file's own mode.
const SQLITE_COMPANIONS = ["-wal", "-shm", "-journal"]

/** Creates the database's directory (0700) and an empty database file (0600) unless they exist; reports wider ones. */
export function prepareDataFiles(database: string): StartWarning[] {
  const warnings: StartWarning[] = []
  const directory = resolve(dirname(database))
  const firstCreated = mkdirSync(directory, { recursive: true, mode: 0o700 })
  if (firstCreated === undefined) {
    checkMode(directory, "directory", warnings)
  } else {
    // The mode given to mkdir passes through the umask: set it on each directory made.
    for (let made = directory; ; made = dirname(made)) {
      chmodSync(made, 0o700)
      if (made === resolve(firstCreated) || made === dirname(made)) break
    }
  }
  // An empty file is an empty SQLite database.
  if (!createPrivateFile(database, "")) checkMode(database, "file", warnings)
  for (const suffix of SQLITE_COMPANIONS) checkMode(database + suffix, "file", warnings)
  return warnings
}

/**
 * The key-encryption key kept in its own file beside the database (`<database>.kek`): read, or made on first start.
 * Two processes starting together agree on one: the file appears whole or not at all (link), and the loser reads it.
 */
export function keyEncryptionKeyFile(path: string, warnings: StartWarning[]): KeyEncryptionKey {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`
  if (!existsSync(path) && createPrivateFile(temporary, `${generateKeyEncryptionKey()}\n`)) {
    try {
      linkSync(temporary, path)
      syncDirectory(dirname(path))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    } finally {
      unlinkSync(temporary)
    }
  }
  checkMode(path, "file", warnings)
  let keys: KeyEncryptionKey[]
  try {
    keys = parseKeyEncryptionKeys(readFileSync(path, "utf8"))
  } catch (cause) {
    throw new Error(`The key-encryption key file ${path} ${(cause as Error).message}`, { cause })
  }
  if (keys.length !== 1) throw new Error(`The key-encryption key file ${path} must hold one key.`)
  return keys[0] as KeyEncryptionKey
}

/** Creates a file only the owner can read, with this content on disk; false when it exists already. */
function createPrivateFile(path: string, content: string): boolean {
  let descriptor: number
  try {
    descriptor = openSync(path, "wx", 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false
    throw error
  }
  try {
    fchmodSync(descriptor, 0o600)
    if (content !== "") {
      writeSync(descriptor, content)
      fsyncSync(descriptor)
    }
  } finally {
    closeSync(descriptor)
  }
  return true
}

function syncDirectory(directory: string): void {
  const descriptor = openSync(directory, "r")
  try {
    fsyncSync(descriptor)
  } finally {
    closeSync(descriptor)
  }
}

function checkMode(path: string, kind: "directory" | "file", warnings: StartWarning[]): void {
  let mode: number
  try {
    mode = statSync(path).mode & 0o777
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return
    throw error
  }
  if ((mode & 0o077) === 0) return
  const wanted = kind === "directory" ? "700" : "600"
  warnings.push({
    code: "REVOCABLE_FILE_MODE",
    message: `The data ${kind} ${path} is open to other users (mode ${mode.toString(8).padStart(4, "0")}): run chmod ${wanted} ${path}`,
  })
}
