// A line of tasks, oldest first: the Pool's queue of tasks not yet sent
// (scheduler.ts) and each worker's tasks sent and not yet answered
// (worker-process.ts). Both take from the front far more often than
// anything else, so the line is an array and the index of its front: taking
// moves the index instead of shifting the array (Array.shift is O(n) on a
// long line), and the array is compacted once most of it lies behind.

/** How far the front may move before the array is compacted (and then only once most of it lies behind). */
const COMPACT_AFTER = 1024;

export class TaskLine<T> {
  #items: T[] = [];
  #head = 0;

  /** How many items are in line. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The item `i` places from the front (0: the front one), or undefined. */
  at(i: number): T | undefined {
    return i < 0 ? undefined : this.#items[this.#head + i];
  }

  /** Adds an item at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Takes the front item. */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head++] as T;
    this.#compactSometimes();
    return item;
  }

  /** Takes up to `n` items from the front, in order. */
  shiftMany(n: number): T[] {
    const taken = this.#items.slice(this.#head, this.#head + n);
    this.#head += taken.length;
    this.#compactSometimes();
    return taken;
  }

  /** Puts items back at the front, in their order. */
  unshiftAll(items: readonly T[]): void {
    if (items.length === 0) return;
    if (this.#head >= items.length) {
      this.#head -= items.length;
      for (let i = 0; i < items.length; i++) this.#items[this.#head + i] = items[i] as T;
    } else {
      this.#items = [...items, ...this.#items.slice(this.#head)];
      this.#head = 0;
    }
  }

  /** Removes `item` wherever it stands; false if it is not in line. */
  remove(item: T): boolean {
    const at = this.#items.indexOf(item, this.#head);
    if (at < 0) return false;
    this.#items.splice(at, 1);
    return true;
  }

  /** How many items at the back, counted from the back, pass `test` (up to the first that does not). */
  countFromBack(test: (item: T) => boolean): number {
    let count = 0;
    for (let i = this.#items.length - 1; i >= this.#head && test(this.#items[i] as T); i--) count++;
    return count;
  }

  /**
   * Takes up to `max` items from the back, while each passes `take`, and
   * returns them in order. `take` may act on the item it passes (revoke its
   * claim): it is asked of each in turn, from the back, until one fails or
   * `max` are taken.
   */
  popWhile(max: number, take: (item: T) => boolean): T[] {
    let from = this.#items.length;
    while (from > this.#head && this.#items.length - from < max && take(this.#items[from - 1] as T)) from--;
    return this.#items.splice(from);
  }

  /** Takes every item, in order: the line is left empty. */
  takeAll(): T[] {
    const items = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return items;
  }

  #compactSometimes(): void {
    if (this.#head > COMPACT_AFTER && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
