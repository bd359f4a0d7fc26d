// Async waits of this process on one shared word sleep together: one kernel
// wait and one slice timer for all of them, and a wake-up resumes only the
// sleepers that can proceed (a freed lock: the first in line; a Condition's
// notify(n): n of them; an Event that is set: all). Each pending wait used
// to be a kernel wait and a slice timer of its own: every release let
// sleepers race for what one of them could have, and thousands of slices
// each looked at the holder (docs/design.md, "Waiting at scale").
//
// A wait holds a Seat: its place in the word's line, kept from its first
// sleep until it ends (a Condition's seat also spans re-taking its lock),
// so that a sleeper that tried and must sleep again keeps its turn. A
// sleeper is resumed when
//   - the word moved from the value it saw and its word admits more
//     (SharedWord.admit, counting the seats resumed and not back yet);
//   - the group's slice ends: the first sleeper looks around (a lock's
//     dead holder, a barrier's dead party), if no one else is doing so;
//   - its own deadline passes, or its handle is closed.
import { fromNative } from '../core/errors.js';
import { type AsyncWaitResult, native } from '../core/native.js';
import type { MappedSegment } from '../core/segment.js';

/** The waits of one word in this process, whichever handle they come through. */
export interface SharedWord {
  /** The word's identity in this process (see sharedWordKey). */
  readonly key: string;
  /** The mapping the waiter's view of the word lives in: its close ends the waiter's sleep. */
  readonly segment: MappedSegment;
  /** How many sleepers may proceed now (a free lock: 1; a Condition: its grants; an Event that is set: Infinity). */
  admit(): number;
  /**
   * True if a waker wakes one sleeper (a lock's release): a kernel wait
   * ended while a wake may have been meant for it passes one on.
   */
  readonly wakesOne?: boolean;
  /** How often the first sleeper looks around (a lock: its holder's liveness); omitted: never. */
  readonly sliceMs?: number;
}

/** What the group asks of a sleeper's plan when it arms the kernel wait (see WaitPlan). */
export interface SleeperPlan {
  watch(): { readonly words: Int32Array; readonly index: number; readonly expected: number } | symbol;
  announce?(watched: { readonly words: Int32Array; readonly index: number; readonly expected: number }, bell: number): number | symbol;
}

/** What a sleep of a seat ends with. */
export type SeatOutcome = AsyncWaitResult;

/** The key of `words[index]`: its object's identity and byte offset, the same through every handle. */
export function sharedWordKey(segment: MappedSegment, words: Int32Array, index: number): string {
  return `${segment.identity}@${words.byteOffset + index * 4}`;
}

/** A sync sleeper's waiting flag value: no doorbell (see waiting.ts). */
const NO_BELL = 1;

type SeatState = 'idle' | 'sleeping' | 'resumed';

/** One wait's place in the line of a shared word. */
export class Seat {
  /** @internal */ group: SleepGroup | undefined;
  /** @internal */ state: SeatState = 'idle';
  /** @internal */ shared: SharedWord | undefined;
  /** @internal */ plan: SleeperPlan | undefined;
  /** @internal */ words: Int32Array | undefined;
  /** @internal */ index = 0;
  /** @internal The value this sleeper saw: it proceeds only once the word moved from it. */
  expected = 0;
  /** @internal */ timer: ReturnType<typeof setTimeout> | undefined;
  /** @internal */ wake: ((outcome: SeatOutcome) => void) | undefined;
  /** @internal The seats before and after this one in its group's line. */
  prev: Seat | undefined;
  /** @internal */ next: Seat | undefined;
  /** @internal */ fail: ((err: unknown) => void) | undefined;

  /**
   * Gives up the place in line (the wait ended). `gaveUp`: it ended without
   * what it waited for (a timeout, an abort, a close), so a wake it was
   * given goes to the next sleeper. Idempotent.
   */
  leave(gaveUp = false): void {
    this.group?.leave(this, gaveUp);
  }
}

const groups = new Map<string, SleepGroup>();

/**
 * Releases in a row that may go to a sleeper of this process without a
 * kernel wake: a wake goes to the kernel's longest sleeper, most often in
 * another process that then has to be scheduled, so handing off here is
 * cheaper; the bound keeps other processes' sleepers from waiting behind a
 * busy one.
 */
const LOCAL_HANDOFFS = 32;

/** True if async waits of this process sleep on `key` now: a new wait there would only spin behind them. */
export function hasSleepers(key: string): boolean {
  return groups.get(key)?.sleeping === true;
}

/**
 * For a releaser that must wake one sleeper of `key` (a lock it freed with
 * WAITERS set): resumes the first sleeper of this process instead, unless
 * one is already on its way or the last LOCAL_HANDOFFS releases went here.
 * False: wake one in the kernel.
 */
export function handOff(key: string): boolean {
  return groups.get(key)?.handOff() ?? false;
}

/**
 * Sleeps `seat` on `shared` until the group resumes it, or `deadlineMs`
 * passes ('timed-out'). Returns the outcome's Promise and how to cancel it
 * (an abort: the seat stops sleeping, the caller then leaves).
 */
export function sleepShared(
  seat: Seat,
  shared: SharedWord,
  plan: SleeperPlan,
  word: { readonly words: Int32Array; readonly index: number; readonly expected: number },
  deadlineMs: number,
): [Promise<SeatOutcome>, () => void] {
  let group = groups.get(shared.key);
  if (group === undefined) {
    group = new SleepGroup(shared.key);
    groups.set(shared.key, group);
  }
  if (seat.group !== group) {
    seat.leave();
    group.join(seat, shared);
  }
  const promise = new Promise<SeatOutcome>((resolve, reject) => {
    seat.wake = resolve;
    seat.fail = reject;
  });
  group.sleep(seat, plan, word, deadlineMs);
  return [promise, () => group.stop(seat)];
}

class SleepGroup {
  readonly #key: string;
  /** The line, first to last (a list: seats leave from its front, where a Set keeps holes that every walk from the front steps over). */
  #first: Seat | undefined;
  #last: Seat | undefined;
  #size = 0;
  #sleeping = 0;
  #resumed = 0;
  /** The last admission stopped at its count with sleepers left: a resumed seat's return may let the next go. */
  #starved = false;
  /** Releases handed to this process's sleepers in a row (handOff). */
  #handedOff = 0;
  #armed: { id: number; words: Int32Array; index: number; segment: MappedSegment; wakesOne: boolean } | undefined;
  #slice: ReturnType<typeof setTimeout> | undefined;
  /** The mappings its seats live in, each with how many seats and the removal of its close listener. */
  readonly #segments = new Map<MappedSegment, { seats: number; remove: () => void }>();

  constructor(key: string) {
    this.#key = key;
  }

  join(seat: Seat, shared: SharedWord): void {
    seat.group = this;
    seat.shared = shared;
    seat.state = 'idle';
    seat.prev = this.#last;
    seat.next = undefined;
    if (this.#last) this.#last.next = seat;
    else this.#first = seat;
    this.#last = seat;
    this.#size++;
    const entry = this.#segments.get(shared.segment);
    if (entry) entry.seats++;
    else this.#segments.set(shared.segment, { seats: 1, remove: shared.segment.onClose(() => this.#closing(shared.segment)) });
  }

  sleep(seat: Seat, plan: SleeperPlan, word: { readonly words: Int32Array; readonly index: number; readonly expected: number }, deadlineMs: number): void {
    const returned = seat.state === 'resumed';
    this.#settle(seat);
    seat.plan = plan;
    seat.words = word.words;
    seat.index = word.index;
    seat.expected = word.expected;
    seat.state = 'sleeping';
    this.#sleeping++;
    if (deadlineMs !== Infinity) {
      seat.timer = setTimeout(() => this.#resume(seat, 'timed-out'), Math.max(0, deadlineMs));
      seat.timer.unref();
    }
    if ((returned && this.#starved) || this.#ensureArmed()) {
      this.#evaluate(true);
      return;
    }
    // Only this seat can have become eligible since the last admission.
    if (this.#moved(seat) && (seat.shared as SharedWord).admit() - this.#resumed > 0) this.#resume(seat, 'ok');
    this.#startSlice(seat.shared as SharedWord);
  }

  get sleeping(): boolean {
    return this.#sleeping > 0;
  }

  handOff(): boolean {
    const first = this.#resumed === 0 && this.#handedOff < LOCAL_HANDOFFS ? this.#firstSleeping() : undefined;
    if (first === undefined) {
      this.#handedOff = 0;
      return false;
    }
    this.#handedOff++;
    this.#resume(first, 'ok');
    return true;
  }

  /** A sleep cancelled (its wait was aborted): the seat stays in line until it leaves. */
  stop(seat: Seat): void {
    if (seat.state !== 'sleeping') return;
    this.#settle(seat);
    seat.wake = undefined;
    seat.fail = undefined;
    if (this.#sleeping === 0) this.#evaluate(false);
  }

  leave(seat: Seat, gaveUp: boolean): void {
    if (seat.group !== this) return;
    const returned = seat.state === 'resumed';
    const shared = seat.shared as SharedWord;
    this.#settle(seat);
    if (seat.prev) seat.prev.next = seat.next;
    else this.#first = seat.next;
    if (seat.next) seat.next.prev = seat.prev;
    else this.#last = seat.prev;
    seat.prev = seat.next = undefined;
    this.#size--;
    seat.group = undefined;
    seat.wake = undefined;
    seat.fail = undefined;
    const entry = this.#segments.get(shared.segment);
    if (entry && --entry.seats === 0) {
      entry.remove();
      this.#segments.delete(shared.segment);
    }
    // A sleeper woken for a word that wakes one, gone without taking it: the
    // wake goes on, to a sleeper here (the scan) or elsewhere (the kernel).
    const passOn = returned && gaveUp && shared.wakesOne === true;
    this.#evaluate((returned && this.#starved) || passOn);
    if (passOn && this.#sleeping === 0 && !shared.segment.closed) native.notify(seat.words as Int32Array, seat.index, 1);
    if (this.#size === 0 && groups.get(this.#key) === this) groups.delete(this.#key);
  }

  /** Takes `seat` out of the counts of what it was (sleeping, or resumed and not back yet). */
  #settle(seat: Seat): void {
    if (seat.state === 'sleeping') this.#sleeping--;
    else if (seat.state === 'resumed') this.#resumed--;
    seat.state = 'idle';
    clearTimeout(seat.timer);
    seat.timer = undefined;
  }

  #resume(seat: Seat, outcome: SeatOutcome): void {
    if (seat.state !== 'sleeping') return;
    this.#settle(seat);
    seat.state = 'resumed';
    this.#resumed++;
    const wake = seat.wake;
    seat.wake = undefined;
    seat.fail = undefined;
    wake?.(outcome);
  }

  /** True if the word moved from what `seat` saw when it went to sleep. */
  #moved(seat: Seat): boolean {
    return Atomics.load(seat.words as Int32Array, seat.index) !== seat.expected;
  }

  /**
   * Keeps a kernel wait armed while anyone sleeps; with `scan`, resumes the
   * sleepers whose word moved, first in line first, as many as the word
   * admits beyond those resumed already.
   */
  #evaluate(scan: boolean): void {
    for (;;) {
      if (this.#sleeping === 0) {
        this.#disarm();
        this.#stopSlice();
        return;
      }
      if (this.#ensureArmed()) scan = true;
      const first = this.#firstSleeping();
      if (first === undefined) return;
      if (scan) this.#admit(first.shared as SharedWord);
      // Someone must come back here: the kernel wait, or a resumed seat. The
      // word can be taken again between the arm (it was free) and the admission.
      if (this.#armed !== undefined || this.#resumed > 0 || this.#sleeping === 0) break;
    }
    const first = this.#firstSleeping();
    if (first !== undefined) this.#startSlice(first.shared as SharedWord);
  }

  #admit(shared: SharedWord): void {
    let admitted = shared.admit() - this.#resumed;
    this.#starved = admitted <= 0;
    if (this.#starved) return;
    for (let seat = this.#first; seat !== undefined; seat = seat.next) {
      if (seat.state !== 'sleeping' || !this.#moved(seat)) continue;
      if (admitted <= 0) {
        this.#starved = true;
        return;
      }
      this.#resume(seat, 'ok');
      admitted--;
    }
  }

  #firstSleeping(): Seat | undefined {
    let seat = this.#first;
    while (seat !== undefined && seat.state !== 'sleeping') seat = seat.next;
    return seat;
  }

  /** Arms the kernel wait if none is; true if it could not because the word lets someone proceed now (then admit). */
  #ensureArmed(): boolean {
    return this.#armed === undefined && !this.#arm();
  }

  /**
   * One kernel wait for the group, through the first sleeper's view of the
   * word, announced as that sleeper's plan announces (a lock's WAITERS bit).
   * False if the word lets someone proceed now (the plan's watch or announce
   * says so): the admission resumes them, and they come back if they must
   * sleep.
   */
  #arm(): boolean {
    const first = this.#firstSleeping() as Seat;
    const plan = first.plan as SleeperPlan;
    const watched = plan.watch();
    if (typeof watched === 'symbol') return false;
    const announced = plan.announce ? plan.announce(watched, NO_BELL) : Atomics.load(watched.words, watched.index);
    if (typeof announced === 'symbol') return false;
    let pending: [Promise<SeatOutcome>, number];
    try {
      pending = native.waitAsync(watched.words, watched.index, announced, Infinity, false);
    } catch (err) {
      this.#failAll(fromNative(err));
      return true;
    }
    const [promise, id] = pending;
    const shared = first.shared as SharedWord;
    this.#armed = { id, words: watched.words, index: watched.index, segment: shared.segment, wakesOne: shared.wakesOne === true };
    promise.then(
      () => {
        if (this.#armed?.id !== id) return; // disarmed meanwhile
        this.#armed = undefined;
        this.#evaluate(true);
      },
      (err) => {
        if (this.#armed?.id !== id) return;
        this.#armed = undefined;
        this.#failAll(fromNative(err));
      },
    );
    return true;
  }

  /** Ends the kernel wait; a wake it may have taken for a sleeper elsewhere is passed on. */
  #disarm(): void {
    const armed = this.#armed;
    if (armed === undefined) return;
    this.#armed = undefined;
    native.cancelWait(armed.id);
    if (armed.wakesOne && !armed.segment.closed) native.notify(armed.words, armed.index, 1);
  }

  #failAll(err: unknown): void {
    for (let seat = this.#first; seat !== undefined; seat = seat.next) {
      if (seat.state !== 'sleeping') continue;
      const fail = seat.fail;
      this.#settle(seat);
      seat.state = 'resumed';
      this.#resumed++;
      seat.wake = undefined;
      seat.fail = undefined;
      fail?.(err);
    }
  }

  /** A mapping some seats live in is closing: their sleeps end ('closed'); a kernel wait through it moves to another seat. */
  #closing(segment: MappedSegment): void {
    for (let seat = this.#first; seat !== undefined; seat = seat.next) {
      if (seat.state === 'sleeping' && (seat.shared as SharedWord).segment === segment) this.#resume(seat, 'closed');
    }
    if (this.#armed?.segment === segment) this.#disarm();
    this.#evaluate(false);
  }

  /** While anyone sleeps, at each slice's end the first sleeper looks around (unless a seat is awake already). */
  #startSlice(shared: SharedWord): void {
    if (this.#slice !== undefined || shared.sliceMs === undefined) return;
    this.#slice = setTimeout(() => {
      this.#slice = undefined;
      const first = this.#firstSleeping();
      if (first === undefined) return;
      if (this.#resumed === 0) this.#resume(first, 'timed-out');
      if (this.#sleeping > 0) this.#startSlice(first.shared as SharedWord);
    }, shared.sliceMs);
    this.#slice.unref();
  }

  #stopSlice(): void {
    clearTimeout(this.#slice);
    this.#slice = undefined;
  }
}
