// FlatMap (core/flat_map.h): the map of a connection's few channels.
#include "core/flat_map.h"

#include <gtest/gtest.h>

#include <string>

namespace kabar {
namespace {

TEST(FlatMap, EmplaceFindsAnExistingKeyInsteadOfAddingIt) {
  FlatMap<std::string, int> map;
  auto [first, added] = map.emplace("a", 1);
  EXPECT_TRUE(added);
  auto [again, added_again] = map.emplace("a", 2);
  EXPECT_FALSE(added_again);
  EXPECT_EQ(again->second, 1);
  EXPECT_EQ(map.size(), 1u);
}

TEST(FlatMap, FindAndCountSeeOnlyWhatIsThere) {
  FlatMap<std::string, int> map;
  map.emplace("private-x", 1);
  map.emplace("presence-y", 2);
  EXPECT_EQ(map.find(std::string("presence-y"))->second, 2);
  EXPECT_EQ(map.find(std::string("nope")), map.end());
  EXPECT_EQ(map.count(std::string("private-x")), 1u);
  EXPECT_EQ(map.count(std::string("x")), 0u);
}

TEST(FlatMap, EraseKeepsTheOtherEntries) {
  FlatMap<std::string, int> map;
  for (int i = 0; i < 5; ++i) map.emplace("c" + std::to_string(i), i);
  EXPECT_EQ(map.erase(std::string("c1")), 1u);
  EXPECT_EQ(map.erase(std::string("c1")), 0u);
  map.erase(map.find(std::string("c4")));  // the last one
  ASSERT_EQ(map.size(), 3u);
  for (int i : {0, 2, 3}) EXPECT_EQ(map.find("c" + std::to_string(i))->second, i) << i;
}

TEST(FlatMap, IndexingMakesADefaultValue) {
  FlatMap<std::string, int> map;
  map["a"] += 3;
  map["a"] += 4;
  EXPECT_EQ(map.find(std::string("a"))->second, 7);
}

TEST(FlatMap, AnEmptiedMapHoldsNoMemory) {
  FlatMap<std::string, int> map;
  map.emplace("a", 1);
  map.erase(std::string("a"));
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.begin(), map.end());
}

}  // namespace
}  // namespace kabar
