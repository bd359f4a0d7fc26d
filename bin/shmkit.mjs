#!/usr/bin/env node
// shmkit: see and clean what is in /dev/shm.
//   shmkit ls [--json] [--all] [--prefix P]
//   shmkit inspect NAME [--json]
//   shmkit rm NAME...
//   shmkit gc [--dry-run | --force] [--older-than MINUTES] [--prefix P] [--json]
// Errors print `shmkit: CODE: message` and exit 1 (2 for a usage error).
// README "Command line" documents the --json fields; they are stable.
//
// /dev/shm is writable by every local user (mode 1777), so anything may be
// in it: FIFOs, sockets, directories, symlinks, other users' files, names
// that are not UTF-8, files that begin with our magic and are not ours. So
// every entry is lstat'ed first and only regular files are opened, with
// O_NONBLOCK|O_NOFOLLOW, and checked to be the file lstat saw; an entry that
// cannot be read is reported as such; nothing is ever mapped (a foreign file
// cannot fault us); names are read as bytes.
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  unlinkSync,
} from 'node:fs';
import { parseArgs } from 'node:util';
import { dtypeFromCode } from '../dist/core/dtypes.js';
import { HEADER_SIZE, headerProblem, kindName, MAGIC, Offset } from '../dist/core/format.js';
import { native } from '../dist/core/native.js';
import { ErrorCodes, Semaphore, SharedMemory, ShmError } from '../dist/index.js';
import { Block, Control, Entry, heapStartRef, Index, SIZE_CLASSES, SlotRef, STRIPE_CLASSES, Stripe } from '../dist/map/layout.js';

const SHM = '/dev/shm';
const SHM_DIR = Buffer.from(`${SHM}/`);
const LIVENESS_BASE = 2 ** 40; // liveness locks sit at this byte offset + token (docs/design.md)
const RING_CONTROL_WORDS = { heldCount: 19, count: 32, capacity: 34 }; // docs/format.md, "Queue and Pipe"
const DEFAULT_AGE_MINUTES = 60;
/** Opened never to block (a FIFO swapped in after lstat), follow a symlink, or take a terminal. */
const SAFE_OPEN = fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW | fsConstants.O_NOCTTY;
/** Kinds that are not shmkit objects: listed with --all only, never removed by gc. */
const NOT_SHMKIT = new Set(['raw', 'semaphore', 'unknown']);

const usage = `usage: shmkit ls [--json] [--all] [--prefix P]
       shmkit inspect NAME [--json]
       shmkit rm NAME...
       shmkit gc [--dry-run | --force] [--older-than MINUTES] [--prefix P] [--json]

gc lists (--dry-run, the default) or removes (--force) shmkit objects that no
live handle holds and that no one has opened or closed for MINUTES minutes
(default ${DEFAULT_AGE_MINUTES}). An ordinary user's gc looks at that user's own objects only.`;

/** The liveness tokens held right now, per file: one per open handle of a shmkit object (Linux /proc/locks). */
function liveTokens() {
  const byFile = new Map();
  let text;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return () => null; // no /proc: handles unknown
  }
  for (const line of text.split('\n')) {
    // One byte (start == end): a token's lock. gc's lock over every token's byte is not a handle.
    const m = /OFDLCK\s+\S+\s+WRITE\s+-?\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (!m || m[4] !== m[5] || Number(m[4]) < LIVENESS_BASE) continue;
    const key = `${Number.parseInt(m[1], 16)}:${Number.parseInt(m[2], 16)}:${m[3]}`;
    if (!byFile.has(key)) byFile.set(key, new Set());
    byFile.get(key).add(Number(m[4]) - LIVENESS_BASE);
  }
  return (stat) => byFile.get(`${(stat.dev >> 8) & 0xfff}:${(stat.dev & 0xff) | ((stat.dev >> 12) & 0xfff00)}:${stat.ino}`) ?? new Set();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A directory entry's name as text: itself if it is UTF-8, else its bytes with every one outside printable ASCII (and \) as \xNN. */
function displayName(file) {
  try {
    return utf8.decode(file);
  } catch {
    return Array.from(file, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  }
}

const sameFile = (a, b) => a.dev === b.dev && a.ino === b.ino;

/** What an entry that is not a regular file is, for messages. */
function typeOf(stat) {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * The first `length` bytes of the regular file at `path` that lstat saw as
 * `stat`, or null if the name now leads to something else. Throws the open's
 * error (EACCES: another user's object).
 */
function head(path, stat, length) {
  const fd = openSync(path, fsConstants.O_RDONLY | SAFE_OPEN);
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || !sameFile(now, stat)) return null;
    const bytes = Buffer.alloc(Math.min(length, now.size));
    let got = 0;
    for (let n = 1; got < bytes.length && n > 0; got += n) n = readSync(fd, bytes, got, bytes.length - got, got);
    return bytes.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * What one /dev/shm entry is (`file`: its name's bytes): a row, `{ skip }`
 * for an entry that is not a regular file (never opened), or null if it is
 * gone. Fields starting with _ are for this program, not printed.
 */
function describe(file, tokens) {
  const name = displayName(file);
  const path = Buffer.concat([SHM_DIR, file]);
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return null; // removed since the directory was read
  }
  if (!stat.isFile()) return { name, skip: typeOf(stat) };
  const base = { size: stat.size, modified: stat.mtime.toISOString(), _path: path, _stat: stat };
  if (name.startsWith('sem.')) return { name: name.slice(4), kind: 'semaphore', ...base };
  let bytes;
  try {
    bytes = head(path, stat, HEADER_SIZE + 256);
  } catch (err) {
    const handles = tokens(stat)?.size ?? null;
    return { name, kind: 'unknown', ...base, readable: false, error: err.code, handles, _owner: stat.uid, _mode: stat.mode };
  }
  if (bytes === null) return null; // replaced since lstat: not what the listing saw
  const problem = headerProblem(bytes, stat.size);
  if (problem !== undefined) {
    return { name, kind: 'raw', ...base, readable: true, _problem: bytes.length >= 4 && bytes.readUInt32LE(0) === MAGIC ? problem : undefined };
  }
  const kind = kindName(bytes[Offset.kind]).replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  const alive = tokens(stat);
  const o = {
    name,
    kind,
    ...base,
    readable: true,
    version: bytes.readUInt16LE(Offset.version),
    ready: bytes.readInt32LE(Offset.state) === 1,
    dtype: dtypeFromCode(bytes[Offset.dtype])?.name ?? null,
    length: Number(bytes.readBigUInt64LE(Offset.count)),
    handles: alive?.size ?? null,
    _bytes: bytes,
    _alive: alive ?? new Set(),
  };
  return o;
}

/** The entries of /dev/shm, as rows, sorted by name; non-shmkit ones only with `all`. */
function listing(all, prefix = '') {
  const tokens = liveTokens();
  const rows = [];
  for (const file of readdirSync(SHM, { encoding: 'buffer' })) {
    const name = displayName(file);
    if (!(name.startsWith('sem.') ? name.slice(4) : name).startsWith(prefix)) continue; // not even opened
    const o = describe(file, tokens);
    if (!o || o.skip || (!all && NOT_SHMKIT.has(o.kind))) continue;
    rows.push(o);
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

const publicFields = (o) => Object.fromEntries(Object.entries(o).filter(([key]) => !key.startsWith('_')));

/**
 * Kind-specific state read from the header and first control words: the
 * fields `inspect` adds, and `state`, a short summary that `ls` shows. A
 * map's free and live bytes are read only when `walk` (inspect).
 */
function details(o, walk) {
  if (NOT_SHMKIT.has(o.kind)) return { state: o.readable === false ? `unreadable (${o.error})` : '' };
  if (o.kind === 'shared-map' || o.kind === 'shared-list') {
    const map = mapDetails(o, walk);
    const what = o.kind === 'shared-list' ? ['item', 'items'] : ['entry', 'entries'];
    return { ...map, state: map.corrupt ? `corrupt (${map.corrupt})` : counted(map.entries, ...what) };
  }
  const b = o._bytes;
  const holder = b.readInt32LE(Offset.lockWord) & 0x3fffffff;
  const lock = holder === 0 ? { held: false } : { held: true, holderAlive: o._alive.has(holder) };
  const lockState = holder === 0 ? 'free' : lock.holderAlive ? 'held' : 'held by a dead holder';
  const word = (byte, index) => (byte + index * 4 + 4 <= b.length ? b.readInt32LE(byte + index * 4) : null);
  const data = (index) => word(HEADER_SIZE, index);
  switch (o.kind) {
    case 'queue': {
      const messages = word(HEADER_SIZE, RING_CONTROL_WORDS.count);
      const viewsHeld = word(HEADER_SIZE, RING_CONTROL_WORDS.heldCount);
      const capacity = word(HEADER_SIZE, RING_CONTROL_WORDS.capacity);
      return { messages, viewsHeld, capacity, state: `${counted(messages, 'message', 'messages')}${viewsHeld ? `, ${viewsHeld} held as views` : ''}` };
    }
    case 'pipe': {
      const endsOpen = [0, 1].map((end) => {
        const token = data(end);
        return token !== 0 && data(2 + end) === 0 && o._alive.has(token);
      });
      const state = endsOpen[0] && endsOpen[1] ? 'both ends open' : endsOpen[0] ? 'creator end open' : endsOpen[1] ? 'other end open' : 'no end open';
      return { endsOpen, state };
    }
    case 'lock':
    case 'rlock':
      return { ...lock, state: lockState };
    case 'value':
    case 'array':
      return { ...lock, state: holder === 0 ? '' : `lock ${lockState}` };
    case 'event': {
      const set = data(0) === 1;
      return { set, state: set ? 'set' : 'clear' };
    }
    case 'condition': {
      const waiters = data(1);
      return { ...lock, waiters, state: `${waiters} waiting` };
    }
    case 'barrier': {
      const [waiting, , broken, parties] = [data(0), data(1), data(2) === 1, data(3)];
      return { ...lock, parties, waiting, broken, state: broken ? 'broken' : `${waiting}/${parties} waiting` };
    }
    case 'bounded-semaphore': {
      const [value, bound] = [data(0), data(1)];
      return { value, bound, state: `${value}/${bound} free` };
    }
    default:
      return { state: '' };
  }
}

const counted = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** Files up to this size are read whole for a map's free and live bytes (a larger one only has its control block read). */
const MAP_WALK_BYTES = 64 * 2 ** 20;

/** A SharedMap's entries, room and locks, read from its file (docs/format.md, "SharedMap"). */
function mapDetails(o, walk) {
  const whole = walk && o.size <= MAP_WALK_BYTES;
  const b = head(o._path, o._stat, whole ? o.size : Control.stripes0 * 4 + 1024 * Stripe.words * 4);
  if (b === null) return { corrupt: 'replaced while read' };
  const word = (w) => (w * 4 + 4 <= b.length ? b.readInt32LE(w * 4) : 0);
  const stripes = word(Control.stripes);
  if (!(stripes > 0 && stripes <= 1024 && (stripes & (stripes - 1)) === 0)) return { corrupt: `stripes ${stripes}` };
  const lockState = (w) => {
    const holder = word(w) & 0x3fffffff;
    return holder === 0 ? null : o._alive.has(holder) ? 'held' : 'held by a dead holder';
  };
  let entries = 0;
  const locks = [];
  for (let s = 0; s < stripes; s++) {
    const base = Control.stripes0 + s * Stripe.words;
    entries += word(base + Stripe.count);
    const state = lockState(base + Stripe.lock);
    if (state) locks.push(`stripe ${s} ${state}`);
  }
  for (const [what, w] of [
    ['allocator', Control.allocLock],
    ['rebuild', Control.rebuildLock],
  ]) {
    const state = lockState(w);
    if (state) locks.push(`${what} ${state}`);
  }
  if (!walk) return { entries };
  const heapBytes = (word(Control.bump) - heapStartRef(stripes)) * 8;
  const room = whole ? mapRoom(b, word, heapBytes, stripes) : {};
  return { entries, fileBytes: word(Control.heapEnd) * 8, heapBytes, ...room, locksHeld: locks.length ? locks : 'none' };
}

/** Free and live bytes of a map read whole, and how much of the room handed out is neither (fragmentation). */
function mapRoom(b, word, heapBytes, stripes) {
  const units = (ref) => (ref * 8 + 8 <= b.length ? b.readInt32LE(ref * 8 + Block.units) : 0);
  let freeBytes = 0;
  const walkList = (head) => {
    for (let ref = word(head), n = 0; ref !== 0 && ref * 8 + 16 <= b.length && n < b.length / 8; n++) {
      freeBytes += units(ref) * 8;
      ref = b.readInt32LE(ref * 8 + Block.nextFree);
    }
  };
  for (let c = 0; c < SIZE_CLASSES; c++) walkList(Control.classes + c);
  for (let s = 0; s < stripes; s++) {
    for (let c = 0; c < STRIPE_CLASSES; c++) walkList(Control.stripes0 + s * Stripe.words + Stripe.heapClasses + c);
  }
  const index = word(Control.index);
  const capacity = index * 8 + 16 <= b.length ? b.readInt32LE(index * 8 + Index.capacity) : 0;
  let liveBytes = units(index) * 8;
  for (let slot = 0; slot < capacity && index * 8 + Index.slots + slot * 8 + 8 <= b.length; slot++) {
    const ref = b.readInt32LE(index * 8 + Index.slots + slot * 8 + 4);
    if (ref > SlotRef.tombstone && ref * 8 + Entry.key <= b.length) liveBytes += units(ref) * 8;
  }
  return { freeBytes, liveBytes, unaccountedBytes: heapBytes - freeBytes - liveBytes };
}

function human(bytes) {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)}M` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)}K` : String(bytes);
}

/** A name as the table shows it: quoted if it holds a space or a control character. */
const shown = (name) => (/[\s\p{Cc}]/u.test(name) ? JSON.stringify(name) : name);

function print(rows, json) {
  if (json) return console.log(JSON.stringify(rows, null, 2));
  const elements = (o) => o.kind === 'value' || o.kind === 'array';
  const table = [
    ['NAME', 'KIND', 'SIZE', 'DTYPE', 'LENGTH', 'STATE', 'HANDLES'],
    ...rows.map((o) => [
      shown(o.name),
      o.kind,
      human(o.size),
      elements(o) ? (o.dtype ?? '') : '',
      elements(o) ? String(o.length) : '',
      o.state ?? '',
      String(o.handles ?? ''),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
}

/** The entry named `name` (a segment, else a semaphore), read for inspect. */
function find(name) {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  const tokens = liveTokens();
  const missing = () => new ShmError('ENOENT', `no segment or semaphore named ${JSON.stringify(name)} in ${SHM}`);
  if (bare === '' || bare.includes('/') || bare === '.' || bare === '..') throw missing();
  const o = describe(Buffer.from(bare), tokens) ?? describe(Buffer.from(`sem.${bare}`), tokens);
  if (!o) throw missing();
  if (o.skip) throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(name)} in ${SHM} is ${o.skip}, not a shared-memory segment`);
  if (o.readable === false) {
    const mode = (o._mode & 0o777).toString(8).padStart(4, '0');
    throw new ShmError(o.error ?? ErrorCodes.NATIVE, `cannot read ${JSON.stringify(name)}: ${o.error} (owner uid ${o._owner}, mode ${mode})`);
  }
  return o;
}

/** One shell-facing line of a ShmError's message: without the code it also starts with. */
function messageOf(err) {
  const message = String(err.message ?? err);
  return err.code && message.startsWith(`${err.code}: `) ? message.slice(err.code.length + 2) : message;
}

/**
 * Removes the shmkit object `o` if no handle holds it and it is still unused
 * since `cutoff()` (ms since the epoch): under a write lock over every token's byte of its file
 * (docs/design.md, "Removing unused objects"). While gc holds that lock no
 * handle holds a token and none can take one; an opener that took its token
 * after gc let go finds the name gone or another file's, and opens again.
 * Returns `{ removed: true }`, or `{ removed: false, skipped }` saying why,
 * with `failed` set for an error (not a race).
 */
function collect(o, cutoff) {
  const skipped = (why, failed = undefined) => ({ removed: false, skipped: why, ...(failed ? { _failed: failed } : {}) });
  let fd;
  try {
    fd = openSync(o._path, fsConstants.O_RDWR | SAFE_OPEN);
  } catch (err) {
    return err.code === 'ENOENT' ? skipped('removed meanwhile') : skipped(`${err.code}: cannot open it for writing`, err);
  }
  try {
    if (!sameFile(fstatSync(fd), o._stat)) return skipped('replaced since it was listed');
    if (!native.livenessExclude(fd)) return skipped('opened meanwhile: a live handle holds it');
    // Until closeSync(fd) no handle of this file can take a token.
    const bytes = Buffer.alloc(HEADER_SIZE);
    const stat = fstatSync(fd);
    const problem = headerProblem(bytes.subarray(0, readSync(fd, bytes, 0, HEADER_SIZE, 0)), stat.size);
    if (problem !== undefined) return skipped(`not a shmkit object any more (${problem})`);
    if (stat.mtimeMs > cutoff()) return skipped('opened or closed since it was listed');
    const named = lstatSync(o._path, { throwIfNoEntry: false });
    if (!named || !sameFile(named, stat)) return skipped('removed or replaced meanwhile');
    unlinkSync(o._path);
    return { removed: true };
  } catch (err) {
    return skipped(`${err.code}: ${messageOf(err)}`, err);
  } finally {
    closeSync(fd);
  }
}

const commands = {
  ls(values) {
    print(
      listing(values.all, values.prefix).map((o) => ({ ...publicFields(o), state: details(o, false).state })),
      values.json,
    );
  },
  inspect(values, names) {
    if (names.length !== 1) throw usageError('inspect takes one NAME');
    const o = find(names[0]);
    const result = { ...publicFields(o), ...details(o, true) };
    if (o._problem !== undefined) result.invalidHeader = o._problem;
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else for (const [key, value] of Object.entries(result)) console.log(`${key}: ${Array.isArray(value) ? value.join(', ') : value}`);
  },
  rm(_values, names) {
    if (names.length === 0) throw usageError('rm takes at least one NAME');
    for (const name of names) {
      try {
        SharedMemory.unlink(name);
      } catch (err) {
        if (err.code !== 'ENOENT') throw new ShmError(err.code, `cannot remove ${JSON.stringify(name)}: ${messageOf(err)}`);
        try {
          Semaphore.unlink(name);
        } catch (semErr) {
          if (semErr.code === 'ENOENT') throw new ShmError('ENOENT', `no segment or semaphore named ${JSON.stringify(name)} in ${SHM}`);
          throw new ShmError(semErr.code, `cannot remove semaphore ${JSON.stringify(name)}: ${messageOf(semErr)}`);
        }
      }
      console.log(`removed ${name}`);
    }
  },
  gc(values) {
    if (values.force && values['dry-run']) throw usageError('--dry-run and --force contradict each other');
    const age = values['older-than'] ?? String(DEFAULT_AGE_MINUTES);
    const minutes = /^\d+(\.\d+)?$/.test(age) ? Number(age) : Number.NaN;
    if (!(minutes >= 0)) throw usageError('--older-than takes a number of minutes');
    // Asked at each check: --older-than 0 means "no handle holds it now".
    const cutoff = () => Date.now() - minutes * 60_000;
    // Another user's objects: sticky /dev/shm lets only their owner (or root) remove them.
    const uid = process.getuid();
    const unused = listing(false, values.prefix).filter((o) => o.handles === 0 && o._stat.mtimeMs <= cutoff());
    const candidates = unused.filter((o) => uid === 0 || o._stat.uid === uid);
    const othersLeft = unused.length - candidates.length;
    const rows = candidates.map((o) => ({ ...publicFields(o), ...(values.force ? collect(o, cutoff) : { removed: false }) }));
    if (values.force) native.sweepDoorbells(); // doorbell files of killed processes (native/wait/doorbell.h)
    if (values.json) console.log(JSON.stringify(rows.map(publicFields), null, 2));
    else {
      for (const o of rows) {
        const what = `${shown(o.name)} (${o.kind}, no live handle, last opened or closed ${o.modified})`;
        console.log(o.removed ? `removed ${what}` : o.skipped ? `kept ${what}: ${o.skipped}` : `would remove ${what}`);
      }
      if (rows.length === 0) {
        const under = values.prefix ? ` named ${values.prefix}*` : '';
        console.log(`nothing to remove: no shmkit object${under} is both without a live handle and unused for ${minutes} minutes`);
      } else if (!values.force) console.log('(dry run: --force removes them)');
      if (othersLeft > 0) console.log(`(${counted(othersLeft, 'unused object', 'unused objects')} of other users left alone: only their owner or root may remove them)`);
    }
    const failed = rows.filter((o) => o._failed);
    if (failed.length > 0) {
      throw new ShmError(failed[0]._failed.code ?? ErrorCodes.NATIVE, `could not remove ${failed.map((o) => JSON.stringify(o.name)).join(', ')} (${failed[0].skipped})`);
    }
  },
};

function usageError(message) {
  const err = new ShmError(ErrorCodes.INVALID_ARG, `${message}\n${usage}`);
  err.usage = true;
  return err;
}

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      force: { type: 'boolean' },
      'dry-run': { type: 'boolean' }, // the default; said out loud
      prefix: { type: 'string' },
      'older-than': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...names] = positionals;
  if (values.help || command === undefined) {
    console.log(usage);
  } else if (!(command in commands)) {
    throw usageError(`unknown command ${JSON.stringify(command)}`);
  } else {
    if (process.platform !== 'linux') throw new ShmError(ErrorCodes.UNSUPPORTED, `listing ${SHM} needs Linux`);
    commands[command](values, names);
  }
} catch (err) {
  const code = err.code ?? ErrorCodes.INVALID_ARG;
  console.error(`shmkit: ${code}: ${messageOf(err)}`);
  process.exitCode = err.usage || String(code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
}
