// The layout of a SharedMap's segment: the one definition that lib/map
// reads and writes; docs/format.md ("SharedMap") describes the same for C
// and Python readers. Change both together.
//
// After the 128-byte typed header (kind 11, dtype uint8), the segment holds:
//   control   int32 words: the heap's end and bump pointer, the current
//             index and its generation, the allocator's redo log, the
//             rebuild record
//   classes   the head of each size class's free list
//   stripes   STRIPES x 64 bytes: a lock, the record of the write in
//             progress, the entry count, the change counter
//   heap      blocks: entries, and the index (an open-addressing table of
//             slots pointing at entries)
// Blocks are addressed by "refs": byte offset / 8 from the segment's start.

/** int32 word indexes in the segment. The header is words 0-31; its lock word (16) is the allocator's lock. */
export const Control = {
  /** The allocator's lock (the typed header's lock word). */
  allocLock: 16,
  /** First ref past the heap: the file's usable size / 8. Grows. */
  heapEnd: 32,
  /** First ref never handed out yet. */
  bump: 33,
  /** Ref of the current index block. */
  index: 34,
  /** Changes whenever the index is replaced (rebuild, clear): a read that saw it change starts again. */
  indexGen: 35,
  /** Number of stripes (a power of two, fixed at create). */
  stripes: 36,
  /** Largest ref the heap may grow to (the file's most bytes / 8). */
  maxEnd: 37,
  /** Redo log of the allocator: pending (word, value) pairs, applied again by whoever takes its lock over. */
  logCount: 38,
  logPairs: 40, // LOG_PAIRS pairs, words 40-55
  /** The rebuild's lock (index rebuild, clear); its holder also holds every stripe's lock. */
  rebuildLock: 56,
  /** Rebuild record: 0 none, 1 new index being built, 2 published (freeing the old one). */
  rebuildPhase: 57,
  rebuildNew: 58,
  rebuildNewVersion: 59,
  rebuildOld: 60,
  rebuildOldVersion: 61,
  /** Cache mode: the most entries (0 no limit); past it a write evicts. */
  maxEntries: 64,
  /** Cache mode: the most units of entries (0 no limit). */
  maxUnits: 65,
  /** Cache mode: the eviction's clock hand, a slot of the index (moved with an atomic add by any evicting writer). */
  clockHand: 66,
  /** Free-list heads, one word per size class. */
  classes: 80,
  /** The first stripe's first word. */
  stripes0: 80 + 128,
} as const;

export const LOG_PAIRS = 8;
/** Pairs of a stripe's heap log (a pop writes 5). */
export const STRIPE_LOG_PAIRS = 7;
/** Size classes a stripe's heap keeps: up to 64 units (512 bytes) exactly, then to 160 units. */
export const STRIPE_CLASSES = 64;
export const SIZE_CLASSES = 128;
export const DEFAULT_STRIPES = 64;

/** int32 words of each stripe (384 bytes), from its first word. */
export const Stripe = {
  words: 96,
  lock: 0,
  /** The write in progress: 0 none, 1 written, not yet published; 2 published (freeing the old entry). */
  phase: 1,
  slot: 2,
  newRef: 3,
  newVersion: 4,
  oldRef: 5,
  oldVersion: 6,
  /** Entries of this stripe's keys. */
  count: 7,
  /** The count once the write in progress is done. */
  countAfter: 8,
  /** Moves on every change to one of this stripe's keys; waitChange sleeps on it. */
  changes: 9,
  /** 1 if someone may sleep on `changes` (set by the sleeper, cleared by the waker). */
  changeSleepers: 10,
  /** Units of this stripe's entries, and what they will be once the write in progress is done. */
  units: 11,
  unitsAfter: 14,
  /** The stripe's own heap (heap.ts): units in its lists, its redo log (count, then pairs), its class heads. */
  heapUnits: 15,
  heapLogCount: 16,
  heapLogPairs: 17,
  heapClasses: 32,
  /** float64 at word 12: how many entry versions this stripe handed out. */
  versionCounterF64: 12,
} as const;

/** The first word past the control block, the classes and `stripes` stripes: the heap starts here (rounded to 64 bytes). */
export function heapStartRef(stripes: number): number {
  const bytes = (Control.stripes0 + stripes * Stripe.words) * 4;
  return Math.ceil(bytes / 64) * 8;
}

/** Slot refs that are no entry. */
export const SlotRef = {
  /** Never used: ends a probe. */
  empty: 0,
  /** Claimed by a write not yet published (a probe goes past it). */
  reserved: 1,
  /** Its entry was deleted (a probe goes past it). */
  tombstone: 2,
} as const;

/** Every block starts with these (bytes from the block's start). */
export const Block = {
  /** u32, even while the block is in use, odd while free: changes at every alloc and free. */
  version: 0,
  /** u32: the block's size in 8-byte units. */
  units: 4,
  /** A free block: the next free block of its class (u32 ref). */
  nextFree: 8,
} as const;

/** An entry block (bytes from its start). */
export const Entry = {
  /** f64: the entry's version, unique in the map and rising for each key. */
  versionF64: 8,
  keyBytes: 16,
  valueBytes: 20,
  /** u8: the value's codec tag. */
  tag: 24,
  /** u8: cache mode's clock bit, set by readers (if not set already), cleared by the clock hand. */
  referenced: 25,
  /** f64: when the entry expires (ms since the epoch), 0 never. */
  expiresF64: 32,
  /** The key's UTF-8 bytes start here; the value's at the next multiple of 8 after them. */
  key: 40,
} as const;

/** An index block (bytes from its start): slots of two u32 words, the key's hash and its entry's ref. */
export const Index = {
  /** u32: slots, a power of two. */
  capacity: 8,
  /** u32: slots ever claimed (entries and tombstones): past 3/4 of the capacity the index is rebuilt. */
  used: 12,
  slots: 64,
} as const;

export const INITIAL_SLOTS = 1024;

/** Units of an entry block for a key and value of these byte lengths. */
export function entryUnits(keyBytes: number, valueBytes: number): number {
  return (Entry.key + align8(keyBytes) + align8(valueBytes)) / 8;
}

export function align8(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** Units of an index block of `capacity` slots. */
export function indexUnits(capacity: number): number {
  return (Index.slots + capacity * 8) / 8;
}

/**
 * The size class of a block of `units` (exact up to 32 units, then four
 * classes per power of two) and the units a block of that class has.
 */
export function sizeClass(units: number): { klass: number; units: number } {
  if (units <= 32) return { klass: units - 1, units };
  const power = 31 - Math.clz32(units - 1); // 2^power < units <= 2^(power + 1)
  const step = 2 ** (power - 2);
  const quarter = Math.ceil((units - 2 ** power) / step); // 1..4
  return { klass: 32 + (power - 5) * 4 + (quarter - 1), units: 2 ** power + quarter * step };
}
