// A main() for the fuzz targets when libFuzzer is not there (GCC builds): runs every seed of the corpus
// directories given, then `--runs=N` inputs mutated from them with a fixed-seed generator (byte flips,
// inserts, deletes, splices, interesting bytes), so ctest exercises the targets in every build. It finds
// far less than libFuzzer; use a clang build for real fuzzing (docs/authorization.md, "Fuzzing").
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::string> read_corpus(const std::filesystem::path& path) {
  std::vector<std::string> inputs;
  auto read = [&inputs](const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    inputs.push_back(text.str());
  };
  if (std::filesystem::is_directory(path)) {
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file()) read(entry.path());
    }
  } else {
    read(path);
  }
  return inputs;
}

std::string mutate(std::string input, const std::vector<std::string>& corpus, std::mt19937_64& random) {
  static const char kInteresting[] = {'\0', '.', '"', '{', '}',  '[',    ']', ',', ':',
                                      '/',  '+', '#', '*', '\\', '\xff', '-', '_', '='};
  const int steps = 1 + static_cast<int>(random() % 4);
  for (int i = 0; i < steps; ++i) {
    const std::size_t at = input.empty() ? 0 : random() % input.size();
    switch (random() % 6) {
      case 0:
        if (!input.empty()) input[at] = static_cast<char>(input[at] ^ (1u << (random() % 8)));
        break;
      case 1:
        input.insert(at, 1, kInteresting[random() % sizeof(kInteresting)]);
        break;
      case 2:
        if (!input.empty()) input.erase(at, 1 + random() % 8);
        break;
      case 3: {
        const std::string& other = corpus[random() % corpus.size()];
        if (!other.empty()) input.insert(at, other.substr(random() % other.size(), 1 + random() % 32));
        break;
      }
      case 4:
        if (!input.empty()) input.insert(at, input.substr(at, 1 + random() % 16));
        break;
      default:
        if (!input.empty()) input[0] = static_cast<char>(random());
        break;
    }
  }
  return input.size() > 16384 ? input.substr(0, 16384) : input;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 10000;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--runs=", 7) == 0) {
      runs = std::strtol(argv[i] + 7, nullptr, 10);
    } else {
      for (auto& input : read_corpus(argv[i])) corpus.push_back(std::move(input));
    }
  }
  if (corpus.empty()) corpus.emplace_back();
  for (const auto& input : corpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
  std::mt19937_64 random(20240601);
  for (long i = 0; i < runs; ++i) {
    const std::string input = mutate(corpus[random() % corpus.size()], corpus, random);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
  std::printf("replayed %zu seeds and %ld mutated inputs without a crash\n", corpus.size(), runs);
  return 0;
}
