#include <gtest/gtest.h>

#include <string>

#include "core/channel.h"

namespace kabar {
namespace {

TEST(ChannelName, AcceptsPusherCharacters) {
  EXPECT_TRUE(is_valid_channel_name("dokumen.42"));
  EXPECT_TRUE(is_valid_channel_name("private-cabang.7.admin"));
  EXPECT_TRUE(is_valid_channel_name("a"));
  EXPECT_TRUE(is_valid_channel_name("AZaz09_-=@,.;"));
}

TEST(ChannelName, LengthIsOneTo164) {
  EXPECT_FALSE(is_valid_channel_name(""));
  EXPECT_TRUE(is_valid_channel_name(std::string(164, 'x')));
  EXPECT_FALSE(is_valid_channel_name(std::string(165, 'x')));
}

TEST(ChannelName, RejectsOtherCharacters) {
  for (const char* name : {"dokumen/42", "a b", "a+b", "a#b", "a:b", "ümlaut", "a*", "a\nb", "{id}", "a!"}) {
    EXPECT_FALSE(is_valid_channel_name(name)) << name;
  }
  EXPECT_FALSE(is_valid_channel_name(std::string("a\0b", 3)));
}

TEST(ChannelKind, ByPrefix) {
  EXPECT_EQ(channel_kind("dokumen.1"), ChannelKind::Public);
  EXPECT_EQ(channel_kind("cache-x"), ChannelKind::Public);
  EXPECT_EQ(channel_kind("private-cabang.1"), ChannelKind::Private);
  EXPECT_EQ(channel_kind("private-cache-x"), ChannelKind::Private);
  EXPECT_EQ(channel_kind("private-encrypted-x"), ChannelKind::PrivateEncrypted);
  EXPECT_EQ(channel_kind("private-encrypted-cache-x"), ChannelKind::PrivateEncrypted);
  EXPECT_EQ(channel_kind("presence-room"), ChannelKind::Presence);
  EXPECT_EQ(channel_kind("presence-cache-room"), ChannelKind::Presence);
  // A prefix only counts with its dash.
  EXPECT_EQ(channel_kind("private.x"), ChannelKind::Public);
  EXPECT_EQ(channel_kind("presence"), ChannelKind::Public);
}

TEST(ChannelKind, CacheChannels) {
  for (const char* name :
       {"cache-omset", "private-cache-omset", "private-encrypted-cache-x", "presence-cache-x"}) {
    EXPECT_TRUE(is_cache_channel(name)) << name;
  }
  for (const char* name : {"omset", "cache", "private-cabang.1", "my-cache-x", "presence-x", "cachex"}) {
    EXPECT_FALSE(is_cache_channel(name)) << name;
  }
}

}  // namespace
}  // namespace kabar
