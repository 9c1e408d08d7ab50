// One transaction on a connection, rolled back on any error.
import type { DatabaseSync } from "node:sqlite"

export function transaction<T>(db: DatabaseSync, begin: "BEGIN" | "BEGIN IMMEDIATE", work: () => T): T {
  db.exec(begin)
  let result: T
  try {
    result = work()
    db.exec("COMMIT")
  } catch (error) {
    rollback(db)
    throw error
  }
  return result
}

function rollback(db: DatabaseSync): void {
  try {
    db.exec("ROLLBACK")
  } catch {
    // SQLite already rolled back (it does on some errors): nothing left to undo.
  }
}
