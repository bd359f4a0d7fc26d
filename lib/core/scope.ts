// Scope: Python's SharedMemoryManager for every kind. The names of the
// objects made through a scope (or handed to it) are removed when it is
// closed, when the process exits, or on SIGINT/SIGTERM/SIGHUP; by default
// only those no other handle holds (docs/design.md, "Lifetime of names").
import { trace } from './debug.js';
import { ErrorCodes, invalidArg, ShmError } from './errors.js';
import { atExit, type HasMember, MEMBER, type Member, type Outcome, removeName } from './lifetime.js';
import { tokensHeld } from './segment.js';
import { checkBoolean, checkObject } from './validate.js';

/** Options of `new Scope()`, and of `close()` for that one close. */
export interface ScopeOptions {
  /**
   * Remove every name, even of objects that handles in other processes
   * still hold (they keep working; new openers get ENOENT). Default false:
   * only names that no handle but this scope's holds.
   */
  force?: boolean;
  /** Close the handles this scope holds when it closes (default true). With false they stay open and usable, only their names go. */
  closeHandles?: boolean;
}

/** What `close()` did. */
export interface ScopeCloseReport {
  /** Names this close removed. */
  removed: string[];
  /** Names it left, and why (another handle holds the object; a kind or platform that cannot tell; an error). */
  kept: Array<{ name: string; reason: string }>;
}

/** One object of the scope: its name and the handles the scope holds of it. */
interface Entry {
  readonly name: string;
  readonly namespace: Member['namespace'];
  readonly identity: string;
  readonly what: string;
  readonly tokens: boolean;
  readonly handles: Set<Member>;
}

/**
 * Removes the names of the objects made through it (`{ scope }` in any
 * `create` or `openOrCreate`) or handed to it (`add`) when it is closed
 * (`close()`, `using`, `await using`), when the process exits, or on
 * SIGINT, SIGTERM or SIGHUP. By default a name is removed only if no handle
 * holds the object but this process's own (a handle in another process keeps
 * it, and the next scope that closes with it, or `shmkit gc`, removes it
 * later); `force` removes them all.
 *
 * ```js
 * using scope = new Scope();
 * const jobs = Queue.create('jobs', { scope });
 * const hits = Value.create('hits', 'int32', 0, { scope });
 * // ... at the end of the block: both closed, and both names removed unless another process has them open
 * ```
 */
export class Scope implements Disposable, AsyncDisposable {
  readonly #entries = new Map<string, Entry>();
  readonly #force: boolean;
  readonly #closeHandles: boolean;
  #closed = false;
  readonly #cancelExit: () => void;

  constructor(options?: ScopeOptions) {
    const opts = checkObject<ScopeOptions>(options, 'options');
    this.#force = checkBoolean(opts.force, 'options.force', false);
    this.#closeHandles = checkBoolean(opts.closeHandles, 'options.closeHandles', true);
    this.#cancelExit = atExit(() => this.#atExit());
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The names this scope will remove. */
  get names(): string[] {
    return [...this.#entries.values()].map((entry) => entry.name);
  }

  /**
   * Hands a shmkit handle (made by `create`, `open` or `openOrCreate`, of
   * any kind) to the scope: it closes the handle when it closes, and removes
   * its name. Returns the handle.
   * @throws {ShmError} ERR_SHM_CLOSED if the scope is closed; ERR_SHM_INVALID_ARG for something that is not a shmkit handle
   */
  add<T extends object>(handle: T): T {
    this.checkOpen();
    const member = memberOf(handle);
    const key = `${member.namespace}:${member.identity === '' ? `name ${member.name}` : member.identity}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { name: member.name, namespace: member.namespace, identity: member.identity, what: member.what, tokens: member.tokens, handles: new Set() };
      this.#entries.set(key, entry);
    }
    entry.handles.add(member);
    return handle;
  }

  /**
   * Closes the scope: closes its handles (unless `closeHandles: false`),
   * then removes the names of its objects that no other handle holds (all
   * of them with `force`). Idempotent: a second call does nothing.
   */
  close(options?: ScopeOptions): ScopeCloseReport {
    const opts = checkObject<ScopeOptions>(options, 'options');
    const force = checkBoolean(opts.force, 'options.force', this.#force);
    const closeHandles = checkBoolean(opts.closeHandles, 'options.closeHandles', this.#closeHandles);
    const report: ScopeCloseReport = { removed: [], kept: [] };
    if (this.#closed) return report;
    this.#closed = true;
    this.#cancelExit();
    let failure: unknown;
    if (closeHandles) {
      for (const entry of this.#entries.values()) {
        for (const handle of entry.handles) {
          try {
            handle.close();
          } catch (err) {
            failure ??= err;
          }
        }
      }
    }
    for (const entry of this.#entries.values()) {
      // Handles left open on purpose are this program's: they do not keep the name.
      const except = closeHandles ? [] : [...entry.handles].map((handle) => handle.token()).filter((token) => token !== undefined);
      this.#note(report, entry, removeName(entry, force, except), 'close');
    }
    this.#entries.clear();
    if (failure !== undefined) throw failure;
    return report;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** @internal Throws if the scope is closed (before a create that would join it). */
  checkOpen(): void {
    if (this.#closed) throw new ShmError(ErrorCodes.CLOSED, 'this Scope is closed');
  }

  /**
   * The process is ending (exit, or a signal): the handles stay open (the
   * program's other exit hooks may still use them), and every handle of this
   * process counts as ending with it, so only other processes' keep a name.
   */
  #atExit(): void {
    const report: ScopeCloseReport = { removed: [], kept: [] };
    for (const [key, entry] of this.#entries) {
      const except = entry.namespace === 'segment' && entry.identity !== '' ? tokensHeld(entry.identity) : [];
      const outcome = removeName(entry, this.#force, except);
      this.#note(report, entry, outcome, 'exit');
      // A signal the program handles leaves the process running, the scope open: what was not removed is tried again later.
      if (outcome.status !== 'kept') this.#entries.delete(key);
    }
  }

  #note(report: ScopeCloseReport, entry: Entry, outcome: Outcome, when: string): void {
    if (outcome.status === 'removed') report.removed.push(entry.name);
    if (outcome.status === 'kept') report.kept.push({ name: entry.name, reason: outcome.reason });
    trace(`scope ${when}`, entry.what, entry.name, outcome.status === 'kept' ? `kept: ${outcome.reason}` : outcome.status);
  }
}

function memberOf(handle: unknown): Member {
  const describe = (handle as Partial<HasMember> | null)?.[MEMBER];
  if (typeof describe !== 'function') throw invalidArg('a Scope holds shmkit handles (SharedMemory, Value, Queue, Lock, ...) only');
  return describe.call(handle);
}
