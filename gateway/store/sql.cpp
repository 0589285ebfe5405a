#include "gateway/store/sql.h"

namespace kabar::store_sql {

std::string read_after_query(std::size_t channel_count) {
  const std::string after = "?" + std::to_string(channel_count + 1);
  std::string sql;
  for (std::size_t i = 1; i <= channel_count; ++i) {
    if (i > 1) sql += " UNION ALL ";
    sql += "SELECT ";
    sql += kEventColumns;
    sql += " FROM events WHERE channel = ?" + std::to_string(i) + " AND seq > " + after;
  }
  sql += " ORDER BY seq LIMIT ?" + std::to_string(channel_count + 2);
  return sql;
}

}  // namespace kabar::store_sql
