// String keys as the map stores them: their UTF-8 bytes, hashed with
// 32-bit FNV-1a (docs/format.md), walked straight from the JS string so that
// a lookup encodes nothing.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a of the key's UTF-8 bytes (a lone surrogate counts as U+FFFD, as UTF-8 encoding makes it). */
export function hashKey(key: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, FNV_PRIME);
      continue;
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), FNV_PRIME);
      hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = key.charCodeAt(i + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        hash = Math.imul(hash ^ (0xf0 | (code >> 18)), FNV_PRIME);
        hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), FNV_PRIME);
        hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
        hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
        continue;
      }
      code = 0xfffd;
    }
    hash = Math.imul(hash ^ (0xe0 | (code >> 12)), FNV_PRIME);
    hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
  }
  return hash >>> 0;
}

/** True if bytes[at, at + length) are the key's UTF-8 bytes. ASCII keys compare character by byte. */
export function keyEquals(key: string, bytes: Uint8Array, at: number, length: number): boolean {
  if (length === key.length) {
    let i = 0;
    for (; i < length; i++) {
      const code = key.charCodeAt(i);
      if (code >= 0x80) break;
      if (bytes[at + i] !== code) return false;
    }
    if (i === length) return true;
  }
  if (length < key.length) return false; // UTF-8 is never shorter than the UTF-16 units it encodes
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, length).equals(Buffer.from(key, 'utf8'));
}
