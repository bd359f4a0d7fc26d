// Atomic operations on the 32-bit words of shared memory, which other
// processes, and JS Atomics in this one, read and write: the one definition
// the addon's files use. Sequentially consistent, as JS Atomics are, unless
// the name says otherwise: a waiter stores its flag then loads the word
// while a waker stores the word then loads the flag, and one of them must
// see the other's store. Values are unsigned: the words hold positions and
// tokens that wrap, which C++ compares and subtracts without overflow only
// as uint32_t.
#pragma once
#include <cstdint>

namespace shmkit {

inline uint32_t Load(const int32_t* word) { return static_cast<uint32_t>(__atomic_load_n(word, __ATOMIC_SEQ_CST)); }

inline void Store(int32_t* word, uint32_t value) {
  __atomic_store_n(word, static_cast<int32_t>(value), __ATOMIC_SEQ_CST);
}

// Keeps the stores before it ahead of it, and no more: no wait for the
// cache line that a spinning reader holds (a ring's frame headers).
inline void StoreRelease(int32_t* word, uint32_t value) {
  __atomic_store_n(word, static_cast<int32_t>(value), __ATOMIC_RELEASE);
}

// Stores `desired` if the word holds `expected`; false (nothing stored) if it does not.
inline bool CompareExchange(int32_t* word, uint32_t expected, uint32_t desired) {
  auto value = static_cast<int32_t>(expected);
  return __atomic_compare_exchange_n(word, &value, static_cast<int32_t>(desired), false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

// CompareExchange that, when it fails, leaves in *expected what the word held.
inline bool CompareExchangeSeen(int32_t* word, uint32_t* expected, uint32_t desired) {
  auto value = static_cast<int32_t>(*expected);
  bool stored = __atomic_compare_exchange_n(word, &value, static_cast<int32_t>(desired), false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST);
  *expected = static_cast<uint32_t>(value);
  return stored;
}

// Stores `value`; what the word held before.
inline uint32_t Exchange(int32_t* word, uint32_t value) {
  return static_cast<uint32_t>(__atomic_exchange_n(word, static_cast<int32_t>(value), __ATOMIC_SEQ_CST));
}

// Adds `delta` (wrapping); the word's new value.
inline uint32_t Add(int32_t* word, int32_t delta) {
  return static_cast<uint32_t>(__atomic_add_fetch(word, delta, __ATOMIC_SEQ_CST));
}

}  // namespace shmkit
