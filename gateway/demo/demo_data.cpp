#include "gateway/demo/demo_data.h"

#include <array>
#include <chrono>
#include <ctime>

namespace kabar::demo {
using nlohmann::json;

namespace {
constexpr std::array kCustomers = {"Bu Ratna",   "Pak Hendra", "Dewi Lestari", "Agus Salim",  "Siti Aminah",
                                   "Yohanes K.", "Rina M.",    "Bambang S.",   "Putri Ayu",   "Made Wirawan",
                                   "Lina Tan",   "Fajar N."};
constexpr std::array kCashiers = {"Sari", "Wulan", "Rudi", "Tono", "Indah"};

std::string pick(std::mt19937& random, const auto& list) {
  return list[std::uniform_int_distribution<std::size_t>(0, list.size() - 1)(random)];
}
}  // namespace

const std::vector<Branch>& branches() {
  static const std::vector<Branch> all = {
      {1, "Optik Melati Pusat"}, {2, "Optik Melati Kemang"}, {3, "Optik Melati Depok"},
      {4, "Optik Melati Bekasi"}, {7, "Optik Melati Bogor"},
  };
  return all;
}

const std::vector<Staff>& staff() {
  static const std::vector<Staff> all = {
      {"u1", "Andi Pratama", "Manajer Keuangan"}, {"u2", "Budi Santoso", "Kepala Divisi"},
      {"u3", "Citra Lestari", "Staf Legal"},      {"u4", "Dewi Anggraini", "Direktur"},
  };
  return all;
}

std::vector<json> initial_documents() {
  struct Seed {
    const char* judul;
    const char* aplikasi;
    int pemohon;
  };
  static constexpr std::array<Seed, 8> kSeeds{{
      {"Pengajuan Anggaran Pemasaran Q1", "E-Budget", 0},
      {"Kontrak Sewa Gedung Cabang Bogor", "E-Legal", 2},
      {"Pembelian Lensa Progresif (200 pcs)", "E-Procurement", 1},
      {"Perjalanan Dinas ke Surabaya", "E-Travel", 0},
      {"Revisi SOP Pemeriksaan Mata", "E-Dokumen", 2},
      {"Penggantian Mesin Edging Cabang Depok", "E-Procurement", 1},
      {"Kerja Sama BPJS Kesehatan 2027", "E-Legal", 3},
      {"Rekrutmen Refraksionis Baru", "E-HR", 1},
  }};
  std::vector<json> documents;
  int id = 1;
  for (const Seed& seed : kSeeds) {
    const Staff& by = staff()[static_cast<std::size_t>(seed.pemohon)];
    const std::string created = "2026-12-0" + std::to_string(1 + id % 5) + "T0" + std::to_string(id % 9) + ":30:00Z";
    documents.push_back(json{
        {"id", id},
        {"nomor", "DOK/2026/12/" + std::string(id < 10 ? "00" : "0") + std::to_string(id)},
        {"judul", seed.judul},
        {"status", "pending"},
        {"user", {{"id", by.sub}, {"name", by.name}}},
        {"company", {{"id", 1}, {"nama", "PT Optik Melati Sejahtera"}}},
        {"aplikasi", {{"nama", seed.aplikasi}}},
        {"masterflow",
         {{"nama", "Persetujuan dua tingkat"},
          {"steps", json::array({{{"urutan", 1}, {"jabatan", {{"nama", "Kepala Divisi"}}}},
                                 {{"urutan", 2}, {"jabatan", {{"nama", "Direktur"}}}}})}}},
        {"versions", json::array({{{"versi", 1}, {"file", "dokumen-" + std::to_string(id) + ".pdf"},
                                   {"uploaded_at", created}}})},
        {"approvals", json::array()},
        {"created_at", created},
        {"updated_at", created},
    });
    ++id;
  }
  return documents;
}

void decide(json& document, bool approve, const std::string& who, const std::string& jabatan,
            const std::string& note, const std::string& now) {
  document["status"] = approve ? "approved" : "rejected";
  document["updated_at"] = now;
  document["approvals"].push_back(json{{"user", {{"name", who}, {"jabatan", {{"nama", jabatan}}}}},
                                       {"status", approve ? "approved" : "rejected"},
                                       {"catatan", note},
                                       {"waktu", now}});
}

json BranchDay::sell(std::mt19937& random, const std::string& now) {
  ++count_;
  const bool bpjs = std::uniform_int_distribution<int>(0, 99)(random) < 35;
  // Frames and lenses: from 150,000 to 2,500,000 rupiah, in thousands.
  const std::int64_t total = 1000LL * std::uniform_int_distribution<int>(150, 2500)(random);
  (bpjs ? bpjs_ : umum_) += total;
  char nomor[40];
  std::snprintf(nomor, sizeof(nomor), "INV/%d/%s/%04d", branch_, date_.substr(5, 2).c_str(), count_);
  json sale = {{"id", branch_ * 100000 + count_}, {"nomor", nomor},         {"jenis", bpjs ? "bpjs" : "umum"},
               {"total", total},                 {"pelanggan", pick(random, kCustomers)},
               {"kasir", pick(random, kCashiers)}, {"waktu", now}};
  latest_.insert(latest_.begin(), sale);
  if (latest_.size() > 10) latest_.pop_back();
  return sale;
}

json BranchDay::figures() const {
  return json{{"cabang_id", branch_},       {"tanggal", date_},       {"omset_total", bpjs_ + umum_},
              {"omset_bpjs", bpjs_},         {"omset_umum", umum_},    {"jumlah_transaksi", count_},
              {"transaksi_terbaru", latest_}};
}

json ready_order(std::mt19937& random, int branch, int number, const std::string& now) {
  char nomor[40];
  std::snprintf(nomor, sizeof(nomor), "ORD/%d/%04d", branch, number);
  return json{{"pesanan",
               {{"id", branch * 100000 + number},
                {"nomor", nomor},
                {"cabang_id", branch},
                {"pelanggan", pick(random, kCustomers)},
                {"telepon", "08" + std::to_string(std::uniform_int_distribution<long>(1000000000, 1999999999)(random))},
                {"status", "siap"},
                {"siap_pada", now}}},
              {"pesan", "Kacamata pesanan " + std::string(nomor) + " siap diambil"}};
}

std::string iso_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

std::string local_date() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[16];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d", &local);
  return buffer;
}

}  // namespace kabar::demo
