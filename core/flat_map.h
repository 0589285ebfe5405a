#pragma once
// FlatMap: a map kept as one vector of pairs, for the few keys a connection holds (its channels).
// Against std::unordered_map it spends one allocation for all entries instead of a node each plus a
// bucket array, which is what an idle connection's memory is made of (docs/benchmarks.md); lookups are
// a linear scan, which for tens of short keys is as fast as hashing. Order is insertion order, except
// that erase() moves the last entry into the hole. Iterators and references are invalidated by
// emplace() and erase(), as for a vector.
#include <algorithm>
#include <utility>
#include <vector>

namespace kabar {

template <class Key, class Value>
class FlatMap {
 public:
  using value_type = std::pair<Key, Value>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  template <class K>
  iterator find(const K& key) {
    return std::find_if(entries_.begin(), entries_.end(), [&](const value_type& entry) { return entry.first == key; });
  }
  template <class K>
  const_iterator find(const K& key) const {
    return std::find_if(entries_.begin(), entries_.end(), [&](const value_type& entry) { return entry.first == key; });
  }
  template <class K>
  std::size_t count(const K& key) const { return find(key) == end() ? 0 : 1; }

  // As std::map::emplace: inserts unless the key is there; returns where it is and whether it was added.
  std::pair<iterator, bool> emplace(Key key, Value value) {
    if (auto it = find(key); it != end()) return {it, false};
    entries_.emplace_back(std::move(key), std::move(value));
    return {std::prev(entries_.end()), true};
  }
  // The value of `key`, default-made if absent.
  Value& operator[](const Key& key) { return emplace(key, Value{}).first->second; }

  void erase(iterator it) {
    if (it != std::prev(entries_.end())) *it = std::move(entries_.back());
    entries_.pop_back();
    if (entries_.empty()) entries_.shrink_to_fit();
  }
  template <class K>
  std::size_t erase(const K& key) {
    auto it = find(key);
    if (it == end()) return 0;
    erase(it);
    return 1;
  }
  void clear() { std::vector<value_type>().swap(entries_); }

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }

 private:
  std::vector<value_type> entries_;
};

}  // namespace kabar
