#pragma once
// LazyFifo: a std::deque that exists only while it is used. A session's send queue and catch-up list
// are empty nearly all the time, and there are tens of thousands of sessions: libstdc++'s std::deque
// allocates ~600 bytes even when empty (docs/benchmarks.md, "Idle memory"). This holds one pointer
// until the first push, and release() gives the deque back once it is empty again (the session calls
// it at its heartbeat, so a busy session does not allocate per burst).
//
// A connection's first messages (the 101, the welcome, the answer to its subscribe) would otherwise
// leave a deque behind on every idle connection until its first heartbeat: release_if_young() frees
// an emptied deque that has seen few items, so only a busy session keeps one between writes.
//
// Elements never move while they are queued (a deque's push_back and pop_front leave the others in
// place): a write in flight holds buffers that point into them.
#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace kabar {

template <class T>
class LazyFifo {
 public:
  bool empty() const { return !items_ || items_->empty(); }
  std::size_t size() const { return items_ ? items_->size() : 0; }

  T& front() { return items_->front(); }
  const T& front() const { return items_->front(); }
  T& back() { return items_->back(); }

  void push_back(T item) {
    if (!items_) {
      items_ = std::make_unique<std::deque<T>>();
      pushes_ = 0;
    }
    items_->push_back(std::move(item));
    if (pushes_ < kYoung) ++pushes_;
  }
  void pop_front() { items_->pop_front(); }
  void pop_back() { items_->pop_back(); }
  void clear() {
    if (items_) items_->clear();
  }
  // Frees the deque when nothing is queued.
  void release() {
    if (empty()) items_.reset();
  }
  // Frees the deque when nothing is queued and it has held fewer than kYoung items; returns whether
  // it did.
  bool release_if_young() {
    if (!items_ || !items_->empty() || pushes_ >= kYoung) return false;
    items_.reset();
    return true;
  }

  using iterator = typename std::deque<T>::iterator;
  using const_iterator = typename std::deque<T>::const_iterator;
  iterator begin() { return items_ ? items_->begin() : iterator(); }
  iterator end() { return items_ ? items_->end() : iterator(); }
  const_iterator begin() const { return items_ ? items_->cbegin() : const_iterator(); }
  const_iterator end() const { return items_ ? items_->cend() : const_iterator(); }

 private:
  static constexpr unsigned kYoung = 16;
  std::unique_ptr<std::deque<T>> items_;
  unsigned pushes_ = 0;  // items pushed since the deque was made, up to kYoung
};

}  // namespace kabar
