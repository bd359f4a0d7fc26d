#!/usr/bin/env node
// shmkit: see and clean what is in /dev/shm.
//   shmkit ls [--json] [--all] [--prefix P]
//   shmkit inspect NAME [--json]
//   shmkit rm NAME...
//   shmkit gc [--dry-run | --force] [--older-than MINUTES] [--prefix P] [--json]
// Errors print `shmkit: CODE: message` and exit 1 (2 for a usage error).
// README "Command line" documents the --json fields; they are stable.
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dtypeFromCode } from '../dist/core/dtypes.js';
import { HEADER_SIZE, kindName, MAGIC, Offset } from '../dist/core/format.js';
import { ErrorCodes, Semaphore, SharedMemory, ShmError } from '../dist/index.js';
import { Block, Control, Entry, heapStartRef, Index, SlotRef, Stripe } from '../dist/map/layout.js';

const SHM = '/dev/shm';
const LIVENESS_BASE = 2 ** 40; // liveness locks sit at this byte offset + token (docs/design.md)
const RING_CONTROL_WORDS = { heldCount: 19, count: 32, capacity: 34 }; // docs/format.md, "Queue and Pipe"

const usage = `usage: shmkit ls [--json] [--all] [--prefix P]
       shmkit inspect NAME [--json]
       shmkit rm NAME...
       shmkit gc [--dry-run | --force] [--older-than MINUTES] [--prefix P] [--json]`;

/** The liveness tokens held right now, per file: one per open handle of a shmkit object (Linux /proc/locks). */
function liveTokens() {
  const byFile = new Map();
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    const m = /OFDLCK\s+\S+\s+WRITE\s+-?\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s+(\d+)\s/.exec(line);
    if (!m || Number(m[4]) < LIVENESS_BASE) continue;
    const key = `${Number.parseInt(m[1], 16)}:${Number.parseInt(m[2], 16)}:${m[3]}`;
    if (!byFile.has(key)) byFile.set(key, new Set());
    byFile.get(key).add(Number(m[4]) - LIVENESS_BASE);
  }
  return (stat) => byFile.get(`${(stat.dev >> 8) & 0xfff}:${(stat.dev & 0xff) | ((stat.dev >> 12) & 0xfff00)}:${stat.ino}`) ?? new Set();
}

/** The first `length` bytes of /dev/shm/NAME, read (never mapped: a foreign file cannot fault us). */
function head(path, length) {
  const fd = openSync(path, 'r');
  try {
    const bytes = Buffer.alloc(length);
    return bytes.subarray(0, readSync(fd, bytes, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

/** What one /dev/shm entry is. */
function describe(file, tokens) {
  const path = `${SHM}/${file}`;
  const stat = statSync(path);
  const base = { size: stat.size, modified: stat.mtime.toISOString() };
  if (file.startsWith('sem.')) return { name: file.slice(4), kind: 'semaphore', ...base };
  const bytes = head(path, Math.min(stat.size, HEADER_SIZE + 256));
  if (bytes.length < HEADER_SIZE || bytes.readUInt32LE(Offset.magic) !== MAGIC) return { name: file, kind: 'raw', ...base };
  const kind = kindName(bytes[Offset.kind]).replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  const dtype = dtypeFromCode(bytes[Offset.dtype]);
  return {
    name: file,
    kind,
    ...base,
    version: bytes.readUInt16LE(Offset.version),
    ready: bytes.readInt32LE(Offset.state) === 1,
    dtype: dtype?.name ?? null,
    length: Number(bytes.readBigUInt64LE(Offset.count)),
    handles: tokens(stat).size,
    _bytes: bytes,
    _alive: tokens(stat),
  };
}

function listing(all, prefix) {
  const tokens = liveTokens();
  return readdirSync(SHM)
    .map((file) => describe(file, tokens))
    .filter((o) => (all || !['raw', 'semaphore'].includes(o.kind)) && o.name.startsWith(prefix ?? ''))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const publicFields = ({ _bytes, _alive, ...rest }) => rest;

/** Kind-specific state read from the header and first control words. */
function details(o) {
  if (o.kind === 'shared-map' || o.kind === 'shared-list') return mapDetails(o);
  const b = o._bytes;
  const lockWord = b.readInt32LE(Offset.lockWord);
  const holder = lockWord & 0x3fffffff;
  const lock = holder === 0 ? { held: false } : { held: true, holderAlive: o._alive.has(holder) };
  const word = (byte, index) => (byte + index * 4 + 4 <= b.length ? b.readInt32LE(byte + index * 4) : null);
  switch (o.kind) {
    case 'queue':
      return {
        messages: word(HEADER_SIZE, RING_CONTROL_WORDS.count),
        viewsHeld: word(HEADER_SIZE, RING_CONTROL_WORDS.heldCount),
        capacity: word(HEADER_SIZE, RING_CONTROL_WORDS.capacity),
      };
    case 'pipe': {
      const ends = [0, 1].map((end) => {
        const token = word(HEADER_SIZE, end);
        return token !== 0 && word(HEADER_SIZE, 2 + end) === 0 && o._alive.has(token);
      });
      return { endsOpen: ends };
    }
    case 'lock':
    case 'rlock':
    case 'value':
    case 'array':
    case 'condition':
    case 'barrier':
      return lock;
    default:
      return {};
  }
}

/** Files up to this size are read whole for a map's free and live bytes (a larger one only has its control block read). */
const MAP_WALK_BYTES = 64 * 2 ** 20;

/** A SharedMap's entries, room and locks, read from its file (docs/format.md, "SharedMap"). */
function mapDetails(o) {
  const path = `${SHM}/${o.name}`;
  const whole = o.size <= MAP_WALK_BYTES;
  const b = head(path, whole ? o.size : Control.stripes0 * 4 + 1024 * Stripe.words * 4);
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
  for (const [what, w] of [['allocator', Control.allocLock], ['rebuild', Control.rebuildLock]]) {
    const state = lockState(w);
    if (state) locks.push(`${what} ${state}`);
  }
  const heapBytes = (word(Control.bump) - heapStartRef(stripes)) * 8;
  const room = whole ? mapRoom(b, word, heapBytes) : {};
  return { entries, fileBytes: word(Control.heapEnd) * 8, heapBytes, ...room, locksHeld: locks.length ? locks : 'none' };
}

/** Free and live bytes of a map read whole, and how much of the room handed out is neither (fragmentation). */
function mapRoom(b, word, heapBytes) {
  const units = (ref) => (ref * 8 + 8 <= b.length ? b.readInt32LE(ref * 8 + Block.units) : 0);
  let freeBytes = 0;
  for (let c = 0; c < 128; c++) {
    for (let ref = word(Control.classes + c), n = 0; ref !== 0 && ref * 8 + 16 <= b.length && n < b.length / 8; n++) {
      freeBytes += units(ref) * 8;
      ref = b.readInt32LE(ref * 8 + Block.nextFree);
    }
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

function print(rows, json) {
  if (json) return console.log(JSON.stringify(rows, null, 2));
  const table = [['NAME', 'KIND', 'SIZE', 'DTYPE', 'LENGTH', 'HANDLES'], ...rows.map((o) => [o.name, o.kind, human(o.size), o.dtype ?? '', String(o.length ?? ''), String(o.handles ?? '')])];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
}

function find(name) {
  const o = listing(true).find((entry) => entry.name === name && entry.kind !== 'semaphore');
  if (!o) throw new ShmError('ENOENT', `no segment named ${JSON.stringify(name)} in ${SHM}`);
  return o;
}

const commands = {
  ls(values) {
    print(listing(values.all, values.prefix).map(publicFields), values.json);
  },
  inspect(values, names) {
    if (names.length !== 1) throw usageError('inspect takes one NAME');
    const o = find(names[0]);
    const result = { ...publicFields(o), ...(o.kind === 'raw' ? {} : details(o)) };
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else for (const [key, value] of Object.entries(result)) console.log(`${key}: ${Array.isArray(value) ? value.join(', ') : value}`);
  },
  rm(_values, names) {
    if (names.length === 0) throw usageError('rm takes at least one NAME');
    for (const name of names) {
      try {
        SharedMemory.unlink(name);
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
        Semaphore.unlink(name); // ENOENT here is the answer
      }
      console.log(`removed ${name}`);
    }
  },
  gc(values) {
    if (values.force && values['dry-run']) throw usageError('--dry-run and --force contradict each other');
    const minutes = Number(values['older-than'] ?? 60);
    if (!(minutes >= 0)) throw usageError('--older-than takes a number of minutes');
    const cutoff = Date.now() - minutes * 60_000;
    const dead = listing(false, values.prefix).filter((o) => o.handles === 0 && Date.parse(o.modified) <= cutoff);
    for (const o of dead) if (values.force) SharedMemory.unlink(o.name);
    const rows = dead.map((o) => ({ ...publicFields(o), removed: Boolean(values.force) }));
    if (values.json) console.log(JSON.stringify(rows, null, 2));
    else {
      for (const o of rows) console.log(`${o.removed ? 'removed' : 'would remove'} ${o.name} (${o.kind}, no live handle, modified ${o.modified})`);
      if (!values.force && rows.length) console.log('(dry run: --force removes them)');
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
  console.error(`shmkit: ${code}: ${err.message}`);
  process.exitCode = err.usage || String(code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
}
