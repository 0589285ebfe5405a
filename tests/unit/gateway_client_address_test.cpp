// http.trusted_proxies (gateway/http/client_address.h): which address a request counts for behind a
// reverse proxy. End to end behind a real nginx: tests/e2e/tls_proxy.test.mjs.
#include <gtest/gtest.h>

#include "gateway/http/client_address.h"

namespace kabar {
namespace {
using boost::asio::ip::make_address;

std::string client(const TrustedProxies& proxies, const char* peer, std::vector<std::string_view> forwarded) {
  return proxies.client_of(make_address(peer), forwarded).to_string();
}

TEST(TrustedProxiesTest, AddressesAndBlocks) {
  const TrustedProxies proxies({"127.0.0.1", "10.0.0.0/8", "fd00::/8", "[::1]"});
  EXPECT_TRUE(proxies.contains(make_address("127.0.0.1")));
  EXPECT_FALSE(proxies.contains(make_address("127.0.0.2")));
  EXPECT_TRUE(proxies.contains(make_address("10.200.3.4")));
  EXPECT_FALSE(proxies.contains(make_address("11.0.0.1")));
  EXPECT_TRUE(proxies.contains(make_address("fd12::5")));
  EXPECT_FALSE(proxies.contains(make_address("fe80::1")));
  EXPECT_TRUE(proxies.contains(make_address("::1")));
  EXPECT_TRUE(proxies.contains(make_address("::ffff:10.1.2.3")));  // a dual-stack socket's IPv4 peer
  EXPECT_TRUE(TrustedProxies({"0.0.0.0/0"}).contains(make_address("203.0.113.9")));
  EXPECT_TRUE(TrustedProxies().empty());
}

TEST(TrustedProxiesTest, RefusesWhatIsNotAnAddress) {
  EXPECT_THROW(TrustedProxies({"nginx"}), std::invalid_argument);
  EXPECT_THROW(TrustedProxies({"10.0.0.0/33"}), std::invalid_argument);
  EXPECT_THROW(TrustedProxies({"10.0.0.0/"}), std::invalid_argument);
  EXPECT_THROW(TrustedProxies({"10.0.0.1:80"}), std::invalid_argument);
  EXPECT_THROW(TrustedProxies({"fd00::/129"}), std::invalid_argument);
}

TEST(TrustedProxiesTest, RightMostUntrustedAddressIsTheClient) {
  const TrustedProxies proxies({"127.0.0.1", "10.0.0.0/8"});
  // From a trusted proxy: the address it appended.
  EXPECT_EQ(client(proxies, "127.0.0.1", {"203.0.113.7"}), "203.0.113.7");
  // A client that writes its own X-Forwarded-For cannot pick its address: the proxy appended the real one.
  EXPECT_EQ(client(proxies, "127.0.0.1", {"1.2.3.4, 203.0.113.7"}), "203.0.113.7");
  // Two proxies (a load balancer in 10/8, then nginx): skip the trusted hops.
  EXPECT_EQ(client(proxies, "127.0.0.1", {"198.51.100.1, 203.0.113.7, 10.0.0.9"}), "203.0.113.7");
  // Several header lines read as one list, in order.
  EXPECT_EQ(client(proxies, "127.0.0.1", {"198.51.100.1", "203.0.113.7, 10.0.0.9"}), "203.0.113.7");
  EXPECT_EQ(client(proxies, "127.0.0.1", {"[2001:db8::1]"}), "2001:db8::1");
  // Nothing forwarded, or only trusted hops: the last hop is all there is.
  EXPECT_EQ(client(proxies, "127.0.0.1", {}), "127.0.0.1");
  EXPECT_EQ(client(proxies, "127.0.0.1", {"10.0.0.9"}), "10.0.0.9");
  // A malformed entry ends the walk at the last good address.
  EXPECT_EQ(client(proxies, "127.0.0.1", {"1.2.3.4, unknown, 10.0.0.9"}), "10.0.0.9");
  EXPECT_EQ(client(proxies, "127.0.0.1", {"garbage"}), "127.0.0.1");
}

TEST(TrustedProxiesTest, IgnoredFromOtherPeers) {
  const TrustedProxies proxies({"127.0.0.1"});
  EXPECT_EQ(client(proxies, "192.0.2.10", {"203.0.113.7"}), "192.0.2.10");
  EXPECT_EQ(client(TrustedProxies(), "127.0.0.1", {"203.0.113.7"}), "127.0.0.1");
}

}  // namespace
}  // namespace kabar
