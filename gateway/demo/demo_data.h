#pragma once
// The sample world of `kabar demo` (docs/demo.md): the optical chain's branches and people, the document
// app's staff and documents, and how a sale changes a branch's figures of the day. Pure data and pure
// functions: the demo service owns the state, this file only says what it looks like.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kabar::demo {

struct Branch {
  int id;
  std::string nama;
};
const std::vector<Branch>& branches();

// The document app's people: sub, name, jabatan (position).
struct Staff {
  std::string sub;
  std::string name;
  std::string jabatan;
};
const std::vector<Staff>& staff();

// The documents at start, as the document app's backend serialises them (schemas/events/dokumen.updated).
std::vector<nlohmann::json> initial_documents();

// Approves or rejects `document` in the name of `who` (a staff name and jabatan) with `note`: appends
// the approval, sets status and updated_at. `now` is ISO 8601.
void decide(nlohmann::json& document, bool approve, const std::string& who, const std::string& jabatan,
            const std::string& note, const std::string& now);

// A branch's takings today, as omset.updated carries them.
class BranchDay {
 public:
  BranchDay(int branch, std::string date) : branch_(branch), date_(std::move(date)) {}
  // Records a sale and returns it as the transaksi object of transaksi.created / transaksi_terbaru.
  nlohmann::json sell(std::mt19937& random, const std::string& now);
  nlohmann::json figures() const;  // the data of omset.updated
  const std::string& date() const { return date_; }
  int branch() const { return branch_; }

 private:
  int branch_;
  std::string date_;
  std::int64_t bpjs_ = 0, umum_ = 0;
  int count_ = 0;
  std::vector<nlohmann::json> latest_;  // newest first, at most 10
};

// An order ready for pickup at `branch` (the data of pesanan.siap).
nlohmann::json ready_order(std::mt19937& random, int branch, int number, const std::string& now);

std::string iso_now();     // 2026-12-06T10:15:00Z
std::string local_date();  // 2026-12-06

}  // namespace kabar::demo
