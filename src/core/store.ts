/**
 * tandem's persistent state in one SQLite file: the LLM response cache, batch jobs, fine-tuning jobs,
 * runs and predictions. Default `.tandem/tandem.db` in the working directory; `--db FILE` or TANDEM_DB
 * point elsewhere. Each table is created by the module that owns it, through `migrate`.
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { UserError } from "./errors.js";

export type Store = Database.Database;

const open = new Map<string, Store>();

export function defaultStorePath(): string {
  return process.env.TANDEM_DB ?? resolve(".tandem", "tandem.db");
}

export function openStore(file = defaultStorePath()): Store {
  const key = file === ":memory:" ? file + Math.random() : resolve(file);
  const existing = open.get(key);
  if (existing) return existing;
  let db: Store;
  try {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    db = new Database(file);
  } catch (error) {
    throw new UserError(`cannot open the state database (${(error as Error).message})`, { file });
  }
  try {
    // Wait for other processes' write locks instead of failing (set first: switching to WAL takes one).
    db.pragma("busy_timeout = 15000");
    // WAL: readers do not block the writer, and every committed row survives a kill.
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    // SQLite reads a file's header on the first statement: a file that is not a database fails here, not later.
    db.prepare("SELECT count(*) FROM sqlite_master").get();
  } catch (error) {
    db.close();
    const code = (error as { code?: string }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") throw new UserError("not a tandem state database: SQLite cannot read it (give another --db, or move this file away)", { file });
    throw new UserError(`cannot open the state database (${(error as Error).message})`, { file });
  }
  open.set(key, db);
  return db;
}

/**
 * Runs each statement once per database (tracked by name). The check and the change happen under one
 * write lock (BEGIN IMMEDIATE), so processes opening a fresh database together apply it exactly once.
 */
export function migrate(db: Store, name: string, sql: string): void {
  db.exec("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
  if (db.prepare("SELECT 1 FROM migrations WHERE name = ?").get(name)) return;
  db.transaction(() => {
    if (db.prepare("SELECT 1 FROM migrations WHERE name = ?").get(name)) return;
    db.exec(sql);
    db.prepare("INSERT INTO migrations (name, applied_at) VALUES (?, ?)").run(name, new Date().toISOString());
  }).immediate();
}

export function closeStores(): void {
  for (const db of open.values()) db.close();
  open.clear();
}
