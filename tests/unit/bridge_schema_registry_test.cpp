#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bridge/routes.h"
#include "bridge/schema_registry.h"

namespace kabar {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("kabar-schemas-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(SchemaRegistry, LoadsTheEmbeddedSchemas) {
  SchemaRegistry registry;
  for (const char* name :
       {"envelope", "config", "dokumen.updated", "omset.updated", "transaksi.created", "pesanan.siap"}) {
    EXPECT_TRUE(registry.has(name)) << name;
    EXPECT_THAT(registry.names(), Contains(name));
  }
  EXPECT_FALSE(registry.has("nope"));
}

TEST(SchemaRegistry, EveryBuiltinRouteSchemaExists) {
  SchemaRegistry registry;
  for (const Route& route : RouteTable::builtin()) {
    if (!route.schema.empty()) {
      EXPECT_TRUE(registry.has(route.schema)) << route.schema;
    }
  }
}

TEST(SchemaRegistry, ValidReturnsNullopt) {
  SchemaRegistry registry;
  EXPECT_FALSE(registry.validate("envelope", json::parse(R"({"id":"a1","event":"e","data":{}})")));
}

TEST(SchemaRegistry, ReasonIsOneLineWithPointer) {
  SchemaRegistry registry;
  const auto reason = registry.validate("envelope", json::parse(R"({"id":"bad id","data":1})"));
  ASSERT_TRUE(reason);
  EXPECT_THAT(*reason, HasSubstr("/id: "));
  EXPECT_THAT(*reason, HasSubstr("pattern"));
  EXPECT_EQ(reason->find('\n'), std::string::npos);
  const auto root = registry.validate("envelope", json::parse(R"({"event":"e"})"));
  ASSERT_TRUE(root);
  EXPECT_THAT(*root, HasSubstr("(root): "));
  EXPECT_THAT(*root, HasSubstr("data"));
}

TEST(SchemaRegistry, PointerEscapesSlashAndTilde) {
  TempDir dir;
  dir.write("keys.schema.json", R"({"properties":{"a/b":{"properties":{"c~d":{"type":"string"}}}}})");
  SchemaRegistry registry(dir.path());
  const auto reason = registry.validate("keys", json::parse(R"({"a/b":{"c~d":1}})"));
  ASSERT_TRUE(reason);
  EXPECT_THAT(*reason, HasSubstr("/a~1b/c~0d: "));
}

TEST(SchemaRegistry, UnknownNameThrows) {
  SchemaRegistry registry;
  EXPECT_THROW(registry.validate("nope", json::object()), SchemaError);
}

TEST(SchemaRegistry, ExtraDirectoryAddsAndReplaces) {
  TempDir dir;
  dir.write("stok.updated.schema.json", R"({"type":"object","required":["sku"]})");
  dir.write("dokumen.updated.schema.json", R"({"type":"string"})");
  dir.write("ignored.json", "not even json");
  SchemaRegistry registry(dir.path());
  EXPECT_TRUE(registry.has("stok.updated"));
  EXPECT_FALSE(registry.has("ignored"));
  EXPECT_TRUE(registry.validate("stok.updated", json::object()));
  EXPECT_FALSE(registry.validate("stok.updated", json{{"sku", "A1"}}));
  EXPECT_FALSE(registry.validate("dokumen.updated", json("replaced")));
}

TEST(SchemaRegistry, BadFilesAreNamed) {
  TempDir dir;
  dir.write("broken.schema.json", "{ nope");
  try {
    SchemaRegistry registry(dir.path());
    FAIL() << "expected SchemaError";
  } catch (const SchemaError& e) {
    EXPECT_THAT(e.what(), HasSubstr("broken.schema.json"));
    EXPECT_THAT(e.what(), HasSubstr("not valid JSON"));
  }
}

TEST(SchemaRegistry, SchemasThatDoNotCompileAreNamed) {
  TempDir dir;
  dir.write("weird.schema.json", R"({"type":"no-such-type"})");
  try {
    SchemaRegistry registry(dir.path());
    FAIL() << "expected SchemaError";
  } catch (const SchemaError& e) {
    EXPECT_THAT(e.what(), HasSubstr("weird.schema.json"));
  }
}

TEST(SchemaRegistry, MissingDirectoryIsAnError) {
  EXPECT_THROW(SchemaRegistry("/nonexistent/kabar/schemas"), SchemaError);
}

TEST(SchemaRegistry, BadPatternIsAReasonNotACrash) {
  TempDir dir;
  dir.write("rx.schema.json", R"({"properties":{"a":{"type":"string","pattern":"(unclosed"}}})");
  SchemaRegistry registry(dir.path());
  const auto reason = registry.validate("rx", json{{"a", "x"}});
  ASSERT_TRUE(reason);
  EXPECT_THAT(*reason, HasSubstr("could not be applied"));
}

TEST(SchemaRegistry, LongStringsAreRefusedForRegexSchemas) {
  TempDir dir;
  dir.write("rx.schema.json", R"({"properties":{"a":{"type":"string","pattern":"^[a-z]+$"}}})");
  dir.write("plain.schema.json", R"({"properties":{"a":{"type":"string","maxLength":1000000}}})");
  SchemaRegistry registry(dir.path());
  const json long_doc = {{"a", std::string(100000, 'a')}};
  const auto reason = registry.validate("rx", long_doc);
  ASSERT_TRUE(reason);
  EXPECT_THAT(*reason, HasSubstr("/a: string longer than 1024"));
  EXPECT_FALSE(registry.validate("plain", long_doc));
  EXPECT_FALSE(registry.validate("rx", json{{"a", std::string(1024, 'a')}}));
}

TEST(SchemaRegistry, ConcurrentValidation) {
  SchemaRegistry registry;
  const json good =
      json::parse(R"({"id":"a.1","event":"e","data":{},"socket_id":"1.2","time":"2024-01-01T00:00:00Z"})");
  const json bad = json::parse(R"({"id":"a 1","data":{}})");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (registry.validate("envelope", good) || !registry.validate("envelope", bad)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace kabar
