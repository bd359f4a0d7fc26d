import type { InspectOptionsStylized } from 'node:util';
import { trace } from '../core/debug.js';
import { ErrorCodes, existsError, fromNative, missingError, ShmError } from '../core/errors.js';
import { INSPECT, type Inspect, inspectHandle } from '../core/inspect.js';
import { forgetAtExit, type Lifetime, MEMBER, type Member, openOrCreate, semaphoreIdentity, settle } from '../core/lifetime.js';
import { MAX_SEM_NAME_LENGTH, normalizeName, systemName } from '../core/names.js';
import { native } from '../core/native.js';
import { type LifetimeOptions, lifetimeArgs } from '../core/options.js';
import { type HandleDescription, TRANSFER } from '../core/transfer.js';
import { checkInteger, checkObject, INT32_MAX } from '../core/validate.js';
import { parseWaitOptions, RETRY, Spinner, TIMED_OUT, type WaitOptions, type WaitPlan, waitAsync, waitSync } from './waiting.js';

/** Largest semaphore value POSIX guarantees everywhere shmkit runs (SEM_VALUE_MAX on Linux and macOS is at least this). */
export const SEM_VALUE_MAX = 32767;
const LINUX_SEM_VALUE_MAX = INT32_MAX;
const maxValue = process.platform === 'linux' ? LINUX_SEM_VALUE_MAX : SEM_VALUE_MAX;

// A semaphore dropped without close() is sem_close()d when it is collected.
const dropped = new FinalizationRegistry<number>((id) => native.semClose(id));

/** Options of `Semaphore.create` and `Semaphore.openOrCreate`. */
export interface SemaphoreCreateOptions extends LifetimeOptions {
  /** Permission bits of the new semaphore (masked by the umask, as sem_open does). Default `0o600`. */
  mode?: number;
}

/**
 * A named POSIX semaphore (`sem_open`): the same name works from C
 * (`sem_open("/name", 0)`) and from Python's `posix_ipc.Semaphore("/name")`.
 * On Linux it is the file `/dev/shm/sem.<name>`.
 *
 * **Not crash-safe**: a process that dies between `acquire` and `release`
 * does not give its unit back (that is POSIX). Use a {@link Lock} for mutual
 * exclusion that survives a killed holder. Nothing unlinks the name
 * implicitly.
 */
export class Semaphore implements Disposable {
  readonly #name: string;
  readonly #id: number;
  /** The semaphore's file where it is one (Linux), else '': what `unlinkOnExit` and a Scope remove. */
  readonly #identity: string;
  #closed = false;
  readonly #spinner = new Spinner();
  readonly #plan: WaitPlan<true>;

  /** @internal */
  protected constructor(name: string, id: number) {
    this.#name = name;
    this.#id = id;
    this.#identity = semaphoreIdentity(name);
    dropped.register(this, id, this);
    this.#plan = {
      attempt: () => (native.semTryWait(id) ? true : RETRY),
      watch: () => RETRY, // never asked: a semaphore sleeps in the native wait that takes the unit
      semaphore: { id, took: () => true },
    };
  }

  /** Creates a semaphore named `name` with `value` units (`EEXIST` if it exists). */
  static create(name: string, value = 1, options?: SemaphoreCreateOptions): Semaphore {
    const args = createArgs(name, value, options);
    return settle(Semaphore.#create(args.name, args.units, args.mode), args.lifetime);
  }

  /** Opens an existing semaphore (`ENOENT` if none). */
  static open(name: string): Semaphore {
    const bare = normalizeName(name, MAX_SEM_NAME_LENGTH);
    return new Semaphore(bare, openId(bare));
  }

  /**
   * Opens the semaphore `name` if it exists, else creates it with `value`
   * units (`value` is used only then: a semaphore's value is not its
   * shape). Of several processes racing, one creates.
   */
  static openOrCreate(name: string, value = 1, options?: SemaphoreCreateOptions): Semaphore {
    const args = createArgs(name, value, options);
    const semaphore = openOrCreate(
      () => new Semaphore(args.name, openId(args.name)),
      () => Semaphore.#create(args.name, args.units, args.mode),
    );
    return settle(semaphore, args.lifetime);
  }

  static #create(bare: string, units: number, mode: number): Semaphore {
    let id: number;
    try {
      id = native.semOpen(systemName(bare), true, true, mode, units);
    } catch (err) {
      const error = fromNative(err, `creating semaphore ${bare}`);
      throw error.code === 'EEXIST' ? existsError(error, 'Semaphore', bare) : error;
    }
    trace('create', 'Semaphore', bare, `value ${units}`);
    return new Semaphore(bare, id);
  }

  /** Removes the name; handles that have it open keep working. */
  static unlink(name: string): void {
    const bare = normalizeName(name, MAX_SEM_NAME_LENGTH);
    const identity = semaphoreIdentity(bare);
    try {
      native.semUnlink(systemName(bare));
    } catch (err) {
      throw fromNative(err, `unlinking semaphore ${bare}`);
    }
    forgetAtExit({ namespace: 'semaphore', identity, name: bare });
    trace('unlink', 'Semaphore', bare);
  }

  /** @internal How this handle crosses to another process (lib/core/transfer.ts). */
  [TRANSFER](): HandleDescription {
    return { kind: 'Semaphore', name: this.name };
  }

  /** @internal What a Scope and `unlinkOnExit` need of this handle. */
  [MEMBER](): Member {
    const semaphore = this;
    return {
      name: this.#name,
      namespace: 'semaphore',
      identity: this.#identity,
      what: 'Semaphore',
      tokens: false,
      token: () => undefined,
      get closed() {
        return semaphore.closed;
      },
      close: () => this.close(),
    };
  }

  /** The name, without a leading slash. */
  get name(): string {
    return this.#name;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** What util.inspect prints (lib/core/inspect.ts). */
  [INSPECT](depth: number, options: InspectOptionsStylized, inspect: Inspect): string {
    return inspectHandle(this, () => (process.platform === 'darwin' ? {} : { value: this.value }), depth, options, inspect);
  }

  /**
   * Takes one unit without blocking the event loop (the wait runs in the
   * addon's wait engine, on its one waiter thread).
   * @returns true when taken, false on timeout.
   * @throws AbortError if `signal` is or becomes aborted (no unit is kept: one
   *   taken as the abort came goes back); ShmError ERR_SHM_CLOSED if this
   *   handle is closed meanwhile.
   */
  async acquire(options?: WaitOptions): Promise<boolean> {
    this.#checkOpen();
    const wait = parseWaitOptions(options);
    return (await waitAsync(this, this.#plan, wait, this.#spinner)) !== TIMED_OUT;
  }

  /** Takes one unit, blocking this thread up to `timeout` ms. @returns false on timeout. */
  acquireSync(options?: WaitOptions): boolean {
    this.#checkOpen();
    const wait = parseWaitOptions(options);
    return waitSync(this, this.#plan, wait, this.#spinner) !== TIMED_OUT;
  }

  /** Takes one unit if one is available now. */
  tryAcquire(): boolean {
    this.#checkOpen();
    return native.semTryWait(this.#id);
  }

  /**
   * Gives back `n` units (default 1) in one call, waking as many waiters.
   * POSIX posts one unit at a time, so a large `n` costs time in proportion.
   * @throws {ShmError} EOVERFLOW if the value would pass the platform's
   *   maximum: then no unit is released. On Linux that is checked before any
   *   unit is posted; a release racing another past the maximum (and any on
   *   macOS) posts until it fails and then takes its units back.
   */
  release(n = 1): void {
    this.#checkOpen();
    checkInteger(n, 'n', 1, maxValue);
    try {
      native.semPost(this.#id, n);
    } catch (err) {
      throw this.#releaseError(fromNative(err), n);
    }
  }

  /** The current value (`sem_getvalue`). @throws {ShmError} ERR_SHM_UNSUPPORTED on macOS, which lacks it. */
  get value(): number {
    this.#checkOpen();
    if (process.platform === 'darwin') throw new ShmError(ErrorCodes.UNSUPPORTED, 'macOS has no sem_getvalue');
    return native.semGetValue(this.#id);
  }

  /**
   * Closes this handle: its pending acquires end with `ERR_SHM_CLOSED` (a
   * unit taken for one of them goes back), then `sem_close`. Idempotent;
   * does not unlink.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    dropped.unregister(this);
    native.semClose(this.#id);
    trace('close', 'Semaphore', this.#name);
  }

  /** Removes the name. */
  unlink(): void {
    Semaphore.unlink(this.#name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The error a wait of a closed handle ends with. */
  closedError(): ShmError {
    return new ShmError(ErrorCodes.CLOSED, `semaphore ${JSON.stringify(this.#name)} is closed`);
  }

  #releaseError(err: ShmError, n: number): ShmError {
    if (err.code !== 'EOVERFLOW') return err;
    const message = `EOVERFLOW: releasing ${n} units would raise semaphore ${JSON.stringify(this.#name)} past its maximum value, ${maxValue}: none were released`;
    return new ShmError('EOVERFLOW', message, { errno: err.errno, syscall: err.syscall });
  }

  #checkOpen(): void {
    if (this.#closed) throw this.closedError();
  }
}

function createArgs(name: unknown, value: unknown, options: unknown): { name: string; units: number; mode: number; lifetime: Lifetime } {
  const bare = normalizeName(name, MAX_SEM_NAME_LENGTH);
  const opts = checkObject<SemaphoreCreateOptions>(options, 'options');
  const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
  return { name: bare, units: checkInteger(value, 'value', 0, maxValue), mode, lifetime: lifetimeArgs(opts) };
}

function openId(bare: string): number {
  let id: number;
  try {
    id = native.semOpen(systemName(bare), false, false, 0, 0);
  } catch (err) {
    const error = fromNative(err, `opening semaphore ${bare}`);
    throw error.code === 'ENOENT' ? missingError(error, 'Semaphore', bare) : error;
  }
  trace('open', 'Semaphore', bare);
  return id;
}
