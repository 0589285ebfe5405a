#include "gateway/demo/demo_service.h"

#include <boost/asio/post.hpp>
#include <charconv>

#include <spdlog/spdlog.h>

#include "authz/token.h"

namespace kabar {
using nlohmann::json;
namespace asio = boost::asio;

namespace {

DemoAnswer json_answer(int status, const json& body) {
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

DemoAnswer error(int status, const std::string& code, const std::string& message) {
  return json_answer(status, json{{"error", code}, {"message", message}});
}

const std::vector<std::string> kRoles = {"kasir", "admin", "super_admin", "staf"};

bool known_branch(int id) {
  for (const auto& branch : demo::branches()) {
    if (branch.id == id) return true;
  }
  return false;
}

}  // namespace

DemoService::DemoService(DemoOptions options) : options_(std::move(options)), documents_(demo::initial_documents()) {
  auto guard = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(io_.get_executor());
  if (options_.traffic) {
    asio::post(io_, [this] {
      // Each branch opens with a few sales, so a dashboard has figures of the day from the first look.
      for (const auto& branch : demo::branches()) {
        const int sales = std::uniform_int_distribution<int>(3, 6)(random_);
        for (int i = 0; i < sales; ++i) today(branch.id).sell(random_, demo::iso_now());
        try {
          publish("cabang/" + std::to_string(branch.id) + "/omset",
                  json{{"event", "omset.updated"}, {"data", today(branch.id).figures()}});
        } catch (const PublishError&) {
        }
      }
      schedule_sale();
      schedule_colleague();
    });
  }
  thread_ = std::thread([this, guard]() mutable {
    // Its own guard first: were the start-up guard released with nothing posted yet (no traffic), the
    // work count would reach zero, asio would stop the io_context and run() would return at once.
    auto keep = asio::make_work_guard(io_);
    guard.reset();  // the timers (or stop()) keep the loop alive from here
    io_.run();
  });
}

DemoService::~DemoService() { stop(); }

void DemoService::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    sale_timer_.cancel();
    colleague_timer_.cancel();
    io_.stop();
  });
  thread_.join();
  publisher_.reset();
}

void DemoService::handle(DemoRequest request, std::function<void(DemoAnswer)> done) {
  asio::post(io_, [this, request = std::move(request), done = std::move(done)] {
    DemoAnswer result;
    try {
      result = answer(request);
    } catch (const std::exception& failure) {
      result = error(500, "demo_failed", failure.what());
    }
    done(std::move(result));
  });
}

DemoAnswer DemoService::answer(const DemoRequest& request) {
  const std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/demo/login") {
    if (request.method != "POST") return error(405, "method_not_allowed", "POST a JSON body: {role, cabang, name}");
    return login(request.body);
  }
  if (path == "/demo/cabang" && get) {
    json list = json::array();
    for (const auto& branch : demo::branches()) list.push_back({{"id", branch.id}, {"nama", branch.nama}});
    return json_answer(200, list);
  }
  if (path == "/demo/users" && get) {
    json list = json::array();
    for (const auto& person : demo::staff())
      list.push_back({{"sub", person.sub}, {"name", person.name}, {"jabatan", person.jabatan}});
    return json_answer(200, list);
  }
  if (path == "/demo/dokumen" && get) return json_answer(200, documents_);
  constexpr std::string_view kDokumen = "/demo/dokumen/";
  if (path.starts_with(kDokumen)) {
    std::string_view rest = path.substr(kDokumen.size());
    const auto slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    const std::string_view action = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    std::size_t index = 0;
    json* found = document(id, &index);
    if (!found) return error(404, "not_found", "no document " + std::string(id));
    if (action.empty() && get) return json_answer(200, *found);
    if ((action == "approve" || action == "reject") && request.method == "POST")
      return decide(request, index, action == "approve");
    return error(405, "method_not_allowed", "GET /demo/dokumen/{id}, POST /demo/dokumen/{id}/approve or /reject");
  }
  return error(404, "not_found", "no such demo endpoint: " + std::string(path));
}

// POST /demo/login {role, cabang, name, sub?, ttl_s?}: a token for the built-in policy, signed with the
// demo's development key. Refused outside `kabar demo` (the HTTP door answers demo_disabled).
DemoAnswer DemoService::login(const std::string& body) {
  const json form = json::parse(body.empty() ? "{}" : body, nullptr, false);
  if (!form.is_object()) return error(400, "bad_json", "the body must be a JSON object: {role, cabang, name}");
  const std::string role = form.value("role", "");
  if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end())
    return error(400, "bad_request", "role must be kasir, admin, super_admin or staf");
  json cabang = json::array();
  if (role == "super_admin") {
    for (const auto& branch : demo::branches()) cabang.push_back(branch.id);
  } else if (role != "staf") {
    const json& asked = form.contains("cabang") ? form["cabang"] : json();
    for (const auto& value : asked.is_array() ? asked : json::array({asked})) {
      if (!value.is_number_integer() || !known_branch(value.get<int>()))
        return error(400, "bad_request", "cabang must list branch ids from GET /demo/cabang");
      cabang.push_back(value);
    }
    if (cabang.empty()) return error(400, "bad_request", "a " + role + " needs at least one cabang");
    if (role == "kasir" && cabang.size() != 1) return error(400, "bad_request", "a kasir works at one cabang");
  }
  std::string name = form.value("name", "");
  std::string sub = form.value("sub", "");
  if (role == "staf") {
    const auto& people = demo::staff();
    auto person = std::find_if(people.begin(), people.end(), [&](const auto& p) { return p.sub == sub; });
    if (person == people.end()) return error(400, "bad_request", "a staf login names a sub from GET /demo/users");
    name = person->name;
  }
  if (name.empty() || name.size() > 80) return error(400, "bad_request", "name: 1 to 80 characters");
  if (sub.empty()) sub = role + "-" + (cabang.empty() ? std::string("x") : cabang[0].dump()) + "-" + name;
  if (sub.size() > 120) return error(400, "bad_request", "sub: at most 120 characters");
  const int ttl = form.value("ttl_s", 3600);
  if (ttl < 5 || ttl > 86400) return error(400, "bad_request", "ttl_s: 5 to 86400 seconds");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  json claims = {{"sub", sub}, {"role", role}, {"name", name}, {"iat", now}, {"exp", now + ttl}};
  if (!cabang.empty()) claims["cabang"] = cabang;
  const std::string token = authz::sign_token(claims, authz::Algorithm::HS256, options_.jwt_secret);
  return json_answer(200, json{{"token", token}, {"expires_at", now + ttl}, {"sub", sub}, {"role", role},
                               {"cabang", cabang}, {"name", name}});
}

json* DemoService::document(std::string_view id, std::size_t* index) {
  int number = 0;
  if (std::from_chars(id.data(), id.data() + id.size(), number).ec != std::errc() ||
      std::to_string(number) != id)
    return nullptr;
  for (std::size_t i = 0; i < documents_.size(); ++i) {
    if (documents_[i]["id"] == number) {
      *index = i;
      return &documents_[i];
    }
  }
  return nullptr;
}

// Approve/reject as the document app's backend does: change the document, then broadcast
// dokumen.updated to everyone viewing it except the connection that clicked (Laravel's toOthers(),
// the X-Socket-ID header), and answer the new document to the one who clicked.
DemoAnswer DemoService::decide(const DemoRequest& request, std::size_t index, bool approve) {
  if (!request.who || !request.who->authenticated)
    return error(401, "token_required", "send the login's token as Authorization: Bearer");
  const json form = json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
  const std::string note = form.is_object() ? form.value("catatan", "") : "";
  if (note.size() > 1000) return error(400, "bad_request", "catatan: at most 1000 characters");
  std::string name = request.who->subject, jabatan = "Staf";
  for (const auto& person : demo::staff()) {
    if (person.sub == request.who->subject) name = person.name, jabatan = person.jabatan;
  }
  json changed = documents_[index];
  demo::decide(changed, approve, name, jabatan, note, demo::iso_now());
  json envelope = {{"event", "dokumen.updated"}, {"data", {{"dokumen", changed}, {"timestamp", demo::iso_now()}}}};
  if (!request.socket_id.empty()) envelope["socket_id"] = request.socket_id;
  try {
    publish("dokumen/" + changed["id"].dump() + "/updated", envelope);
  } catch (const PublishError& failure) {
    return error(503, "broker_unavailable", std::string("not saved: the broker did not take the event: ") + failure.what());
  }
  documents_[index] = std::move(changed);
  return json_answer(200, documents_[index]);
}

void DemoService::publish(const std::string& topic, const json& payload) {
  json envelope = payload;
  envelope["id"] = "demo-" + std::to_string(random_()) + "-" + std::to_string(++published_);
  try {
    if (!publisher_) publisher_ = std::make_unique<MqttPublisher>(options_.publisher);
    publisher_->publish(topic, envelope.dump());
  } catch (const PublishError& failure) {
    publisher_.reset();  // reconnect on the next publish
    spdlog::warn("demo: could not publish to {}: {}", topic, failure.what());
    throw;
  }
}

demo::BranchDay& DemoService::today(int branch) {
  const std::string date = demo::local_date();
  for (auto& day : days_) {
    if (day.branch() == branch) {
      if (day.date() != date) day = demo::BranchDay(branch, date);  // a new business day starts from zero
      return day;
    }
  }
  return days_.emplace_back(branch, date);
}

void DemoService::schedule_sale() {
  const auto base = options_.sale_interval.count();
  sale_timer_.expires_after(std::chrono::milliseconds(std::uniform_int_distribution<long>(base / 2, base * 3 / 2)(random_)));
  sale_timer_.async_wait([this](const boost::system::error_code& failure) {
    if (failure) return;
    make_sale();
    schedule_sale();
  });
}

void DemoService::make_sale() {
  const auto& all = demo::branches();
  const int branch = all[std::uniform_int_distribution<std::size_t>(0, all.size() - 1)(random_)].id;
  const std::string now = demo::iso_now();
  const std::string prefix = "cabang/" + std::to_string(branch);
  try {
    const json sale = today(branch).sell(random_, now);
    publish(prefix + "/transaksi", json{{"event", "transaksi.created"}, {"data", {{"transaksi", sale}}}});
    publish(prefix + "/omset", json{{"event", "omset.updated"}, {"data", today(branch).figures()}});
    if (std::uniform_int_distribution<int>(0, 3)(random_) == 0)
      publish(prefix + "/pesanan-siap", json{{"event", "pesanan.siap"}, {"data", demo::ready_order(random_, branch, ++orders_, now)}});
  } catch (const PublishError&) {
    // logged by publish(); the next sale tries again
  }
}

void DemoService::schedule_colleague() {
  colleague_timer_.expires_after(std::chrono::seconds(std::uniform_int_distribution<int>(15, 30)(random_)));
  colleague_timer_.async_wait([this](const boost::system::error_code& failure) {
    if (failure) return;
    colleague_decides();
    schedule_colleague();
  });
}

// A colleague approves or rejects a pending document; when none is pending, one is sent back for a new
// round (a new version uploaded), so the list keeps moving.
void DemoService::colleague_decides() {
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < documents_.size(); ++i) {
    if (documents_[i]["status"] == "pending") pending.push_back(i);
  }
  const std::string now = demo::iso_now();
  json changed;
  std::size_t index = 0;
  if (pending.empty()) {
    index = std::uniform_int_distribution<std::size_t>(0, documents_.size() - 1)(random_);
    changed = documents_[index];
    changed["status"] = "pending";
    changed["updated_at"] = now;
    changed["approvals"] = json::array();
    const int version = static_cast<int>(changed["versions"].size()) + 1;
    changed["versions"].push_back({{"versi", version},
                                   {"file", "dokumen-" + changed["id"].dump() + "-v" + std::to_string(version) + ".pdf"},
                                   {"uploaded_at", now}});
  } else {
    index = pending[std::uniform_int_distribution<std::size_t>(0, pending.size() - 1)(random_)];
    changed = documents_[index];
    const auto& people = demo::staff();
    const auto& by = people[std::uniform_int_distribution<std::size_t>(0, people.size() - 1)(random_)];
    const bool approve = std::uniform_int_distribution<int>(0, 3)(random_) != 0;
    demo::decide(changed, approve, by.name, by.jabatan, approve ? "Sudah sesuai." : "Mohon lengkapi lampiran.", now);
  }
  try {
    publish("dokumen/" + changed["id"].dump() + "/updated",
            json{{"event", "dokumen.updated"}, {"data", {{"dokumen", changed}, {"timestamp", now}}}});
    documents_[index] = std::move(changed);
  } catch (const PublishError&) {
  }
}

}  // namespace kabar
