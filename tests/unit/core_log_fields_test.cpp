#include <gtest/gtest.h>

#include "core/log_fields.h"

namespace kabar {
namespace {

TEST(LogFields, FollowTheMessageEachBehindTheMark) {
  EXPECT_EQ(with_fields("refused", {{"door", "ws"}, {"reason", "expired"}}),
            "refused\x1f"
            "door=ws\x1f"
            "reason=expired");
}

TEST(LogFields, EmptyValuesAreLeftOut) {
  EXPECT_EQ(with_fields("reset", {{"sub", ""}, {"channel", "c"}}),
            "reset\x1f"
            "channel=c");
}

TEST(LogFields, TheMarkInsideAValueCannotStartAField) {
  EXPECT_EQ(with_fields("m", {{"channel",
                               "a\x1f"
                               "b=c"}}),
            "m\x1f"
            "channel=a b=c");
}

}  // namespace
}  // namespace kabar
