#include "gateway/http/stream_metrics.h"

#include <spdlog/spdlog.h>

#include "core/log_fields.h"

namespace kabar {

void note_disconnect(StreamMetrics& metrics, std::string_view transport, Disconnect why, std::string_view sub) {
  metrics.count_disconnect(transport_of(transport), why);
  spdlog::debug(with_fields("disconnect", {{"transport", transport}, {"sub", sub}, {"reason", disconnect_label(why)}}));
}

}  // namespace kabar
