#include "wait/waiter_thread.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <deque>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/atomics.h"
#include "sys/futex.h"
#include "sys/sem.h"

namespace shmkit {

namespace {

constexpr int64_t kSliceNs = 20 * 1000000LL;
constexpr int64_t kMinPollNs = 50 * 1000LL;
constexpr int64_t kMaxPollNs = 2 * 1000000LL;

// A source: a word (addr, expected) or a semaphore (sem, kSemaphoreKey).
using Key = std::pair<uintptr_t, int64_t>;
constexpr int64_t kSemaphoreKey = INT64_MIN;

struct Source {
  int32_t* addr = nullptr;
  int32_t expected = 0;
  std::shared_ptr<SemHandle> sem;
  std::deque<uint64_t> waiters;  // oldest first: the next semaphore unit goes to the front
};

}  // namespace

struct WaiterThread::State {
  std::mutex mu;
  uv_async_t* report;
  bool stopped = false;
  bool running = false;
  std::map<Key, Source> sources;
  std::unordered_map<uint64_t, Key> where;
  std::vector<Completion> done;
  // Bumped and woken whenever `sources` changes or the thread must stop.
  int32_t control = 0;
  // The word the thread sleeps on alone, without `control` (woken to re-plan).
  int32_t* lone_word = nullptr;

  // All with `mu` held.

  // The set of sources changed: the thread must plan its sleep again. A new
  // source must also cut short a sleep on a lone word (a spurious wake for
  // that word's other waiters, which re-check).
  void Changed(bool added) {
    Add(&control, 1);
    WakeAddress(&control, INT32_MAX);
    if (added && lone_word) WakeAddress(lone_word, INT32_MAX);
  }

  void Finish(std::map<Key, Source>::iterator it, WaitEnd end, int error) {
    for (uint64_t id : it->second.waiters) {
      done.push_back(Completion{id, end, error, nullptr});
      where.erase(id);
    }
    sources.erase(it);
  }

  // Hands a semaphore unit to the oldest waiter; false once the source has
  // no waiter left (it is then erased).
  bool GiveUnit(std::map<Key, Source>::iterator it) {
    Source& source = it->second;
    uint64_t id = source.waiters.front();
    source.waiters.pop_front();
    where.erase(id);
    done.push_back(Completion{id, WaitEnd::kWoken, 0, source.sem});
    if (!source.waiters.empty()) return true;
    sources.erase(it);
    return false;
  }

  static bool Differs(const Source& source) { return Load(source.addr) != static_cast<uint32_t>(source.expected); }

  // One polling round over every source; true if anything ended.
  bool PollAll() {
    bool any = false;
    for (auto it = sources.begin(); it != sources.end();) {
      auto next = std::next(it);
      if (it->second.sem) {
        while (it->second.sem->TryTake()) {
          any = true;
          if (!GiveUnit(it)) break;
        }
      } else if (Differs(it->second)) {
        Finish(it, WaitEnd::kWoken, 0);
        any = true;
      }
      it = next;
    }
    return any;
  }

  void Report() {
    if (!done.empty() && !stopped) uv_async_send(report);
  }
};

namespace {

using State = WaiterThread::State;

// futex_waitv over every word source plus `control`. False if it cannot be
// used here (then the caller falls back to polling).
bool WaitOnAllWords(State& s, std::unique_lock<std::mutex>& lock, int32_t control) {
  WaitWord words[kMaxWaitWords];
  Key keys[kMaxWaitWords];
  size_t n = 0;
  words[n++] = {&s.control, control};
  for (auto& [key, source] : s.sources) {
    keys[n] = key;
    words[n++] = {source.addr, source.expected};
  }
  lock.unlock();
  int woken = WaitOnAny(words, n);
  lock.lock();
  if (woken == -ENOSYS) return false;
  if (woken > 0) {
    auto it = s.sources.find(keys[woken]);
    if (it != s.sources.end()) s.Finish(it, WaitEnd::kWoken, 0);
  }
  if (woken == -EFAULT) {
    // A word's memory is gone (cannot happen for shmkit's own mappings, which
    // end their waits before unmapping): fail the words the kernel refuses.
    for (size_t i = 1; i < n; i++) {
      auto it = s.sources.find(keys[i]);
      int error = 0;
      if (it != s.sources.end() &&
          WaitOnAddress(words[i].addr, words[i].expected, 0, &error) == WaitResult::kInterrupted && error) {
        s.Finish(it, WaitEnd::kWoken, error);
      }
    }
    return true;
  }
  s.PollAll();
  return true;
}

void SleepOnLoneSource(State& s, std::unique_lock<std::mutex>& lock) {
  auto it = s.sources.begin();
  Key key = it->first;
  Source& source = it->second;
  if (source.sem) {
    std::shared_ptr<SemHandle> sem = source.sem;
    lock.unlock();
    int err = sem->TakeWithin(kSliceNs);
    lock.lock();
    if (err == 0) {
      auto now = s.sources.find(key);
      if (now != s.sources.end())
        s.GiveUnit(now);
      else
        sem->Give();  // its waiters ended meanwhile: the unit goes back
    } else if (err != ETIMEDOUT && err != EINTR) {
      auto now = s.sources.find(key);
      if (now != s.sources.end()) s.Finish(now, WaitEnd::kWoken, err);
    }
    return;
  }
  int32_t* addr = source.addr;
  int32_t expected = source.expected;
  s.lone_word = addr;
  lock.unlock();
  int error = 0;
  WaitResult result = WaitOnAddress(addr, expected, kSliceNs, &error);
  lock.lock();
  s.lone_word = nullptr;
  auto now = s.sources.find(key);
  if (now == s.sources.end()) return;
  if (result == WaitResult::kWoken || result == WaitResult::kNotEqual || State::Differs(now->second)) {
    s.Finish(now, WaitEnd::kWoken, 0);
  }
}

void Run(std::shared_ptr<State> state) {
  State& s = *state;
  std::unique_lock<std::mutex> lock(s.mu);
  int64_t backoff = kMinPollNs;
  bool waitv = true;
  while (!s.stopped) {
    int32_t control = s.control;
    bool words_only = std::none_of(s.sources.begin(), s.sources.end(), [](auto& e) { return bool(e.second.sem); });
    if (s.sources.empty()) {
      lock.unlock();
      int error;
      WaitOnAddress(&s.control, control, -1, &error);
      lock.lock();
    } else if (waitv && words_only && s.sources.size() < kMaxWaitWords) {
      waitv = WaitOnAllWords(s, lock, control);
    } else if (s.sources.size() == 1) {
      SleepOnLoneSource(s, lock);
    } else {
      backoff = s.PollAll() ? kMinPollNs : std::min(backoff * 2, kMaxPollNs);
      s.Report();
      lock.unlock();
      int error;
      WaitOnAddress(&s.control, control, backoff, &error);
      lock.lock();
    }
    s.Report();
  }
}

}  // namespace

WaiterThread::WaiterThread(uv_async_t* report) : state_(std::make_shared<State>()) { state_->report = report; }

WaiterThread::~WaiterThread() {
  std::lock_guard<std::mutex> guard(state_->mu);
  state_->stopped = true;
  state_->Changed(false);
}

int WaiterThread::ArmWord(uint64_t id, int32_t* addr, int32_t expected) { return Arm(id, addr, expected, nullptr); }

int WaiterThread::ArmSemaphore(uint64_t id, std::shared_ptr<SemHandle> sem) {
  return Arm(id, nullptr, 0, std::move(sem));
}

int WaiterThread::Arm(uint64_t id, int32_t* addr, int32_t expected, std::shared_ptr<SemHandle> sem) {
  State& s = *state_;
  std::lock_guard<std::mutex> guard(s.mu);
  if (!s.running) {
    try {
      std::thread(Run, state_).detach();
    } catch (const std::system_error&) {
      return EAGAIN;  // at a thread limit: a typed error for this wait, never an abort
    }
    s.running = true;
  }
  Key key = sem ? Key{reinterpret_cast<uintptr_t>(sem.get()), kSemaphoreKey}
                : Key{reinterpret_cast<uintptr_t>(addr), expected};
  Source& source = s.sources[key];
  bool added = source.waiters.empty();
  if (added) {
    source.addr = addr;
    source.expected = expected;
    source.sem = std::move(sem);
  }
  source.waiters.push_back(id);
  s.where[id] = key;
  if (added) s.Changed(true);  // a waiter joining a source needs no new plan
  return 0;
}

void WaiterThread::Disarm(uint64_t id) {
  State& s = *state_;
  std::lock_guard<std::mutex> guard(s.mu);
  auto where = s.where.find(id);
  if (where == s.where.end()) return;
  auto it = s.sources.find(where->second);
  s.where.erase(where);
  auto& waiters = it->second.waiters;
  waiters.erase(std::find(waiters.begin(), waiters.end(), id));
  if (waiters.empty()) {
    s.sources.erase(it);
    s.Changed(false);
  }
}

void WaiterThread::Drain(std::vector<Completion>* out) {
  std::lock_guard<std::mutex> guard(state_->mu);
  for (auto& c : state_->done) out->push_back(std::move(c));
  state_->done.clear();
}

}  // namespace shmkit
