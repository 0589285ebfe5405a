#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bridge/message_parser.h"

namespace kabar {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::int64_t kNow = 1763798400000;

class MessageParser : public ::testing::Test {
 protected:
  ParseResult parse(std::string_view topic, std::string_view payload) {
    return parse_message(topic, payload, routes_, schemas_, limits_, kNow);
  }
  // Asserts a rejection and returns its reason.
  std::string rejected(std::string_view topic, std::string_view payload) {
    const ParseResult result = parse(topic, payload);
    EXPECT_FALSE(result.ok()) << payload;
    EXPECT_FALSE(result.reason.empty());
    return result.reason;
  }

  SchemaRegistry schemas_;
  RouteTable routes_{RouteTable::builtin()};
  ParseLimits limits_;
};

const std::string kDokumen = R"({"dokumen":{"id":42,"status":"approved"},"timestamp":"2024-01-01 12:00:00"})";

TEST_F(MessageParser, BarePayloadBecomesTheData) {
  const ParseResult result = parse("dokumen/42/updated", kDokumen);
  ASSERT_TRUE(result.ok()) << result.reason;
  const Envelope& e = *result.envelope;
  EXPECT_EQ(e.id, "");  // the bridge assigns one
  EXPECT_EQ(e.event, "dokumen.updated");
  EXPECT_EQ(e.channel, "dokumen.42");
  EXPECT_EQ(json::parse(e.data), json::parse(kDokumen));
  EXPECT_EQ(e.socket_id, "");
  EXPECT_EQ(e.time_ms, kNow);
  EXPECT_EQ(e.topic, "dokumen/42/updated");
}

TEST_F(MessageParser, DataIsCompactJson) {
  const ParseResult result = parse("kabar/c/x", R"( { "event" : "e" , "data" : { "a" : [ 1 , 2 ] } } )");
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.envelope->data, R"({"a":[1,2]})");
}

TEST_F(MessageParser, EnvelopeFieldsAreUsed) {
  const json envelope = {{"id", "01JD0Q2M3ZK4"},
                         {"event", "dokumen.updated"},
                         {"data", json::parse(kDokumen)},
                         {"socket_id", "123.456"},
                         {"time", 1700000000123}};
  const ParseResult result = parse("dokumen/42/updated", envelope.dump());
  ASSERT_TRUE(result.ok()) << result.reason;
  const Envelope& e = *result.envelope;
  EXPECT_EQ(e.id, "01JD0Q2M3ZK4");
  EXPECT_EQ(e.event, "dokumen.updated");
  EXPECT_EQ(e.socket_id, "123.456");
  EXPECT_EQ(e.time_ms, 1700000000123);
  EXPECT_EQ(json::parse(e.data), json::parse(kDokumen));
}

TEST_F(MessageParser, EnvelopeAppIsKeptAndAbsentMeansEveryApp) {
  const ParseResult tagged = parse("kabar/c/dokumen.1", R"({"event":"e","data":"{}","app":"shop-a.1"})");
  ASSERT_TRUE(tagged.ok()) << tagged.reason;
  EXPECT_EQ(tagged.envelope->app, "shop-a.1");
  const ParseResult untagged = parse("kabar/c/dokumen.1", R"({"event":"e","data":"{}"})");
  ASSERT_TRUE(untagged.ok()) << untagged.reason;
  EXPECT_EQ(untagged.envelope->app, "");
  // A bare payload names no app, even when it holds an "app" member: that is just data.
  const ParseResult bare = parse("dokumen/42/updated", kDokumen);
  ASSERT_TRUE(bare.ok()) << bare.reason;
  EXPECT_EQ(bare.envelope->app, "");
}

TEST_F(MessageParser, EnvelopeTimeAsRfc3339) {
  const ParseResult result =
      parse("kabar/c/x", R"({"event":"e","data":1,"time":"2024-01-01T12:00:00.250+07:00"})");
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.envelope->time_ms, 1704085200250);
}

TEST_F(MessageParser, ScalarsAndArraysAreBarePayloads) {
  for (const char* payload : {"42", "\"text\"", "[1,2]", "null", "true", "{}"}) {
    const ParseResult result = parse("kabar/c/x", payload);
    // kabar/c/ has no default event, so a bare payload there has no name.
    EXPECT_THAT(result.reason, HasSubstr("no event name")) << payload;
  }
  RouteTable routes({{"raw/{id}", "raw.{id}", "raw", ""}});
  for (const char* payload : {"42", "\"text\"", "[1,2]", "null", "true", "{}"}) {
    const ParseResult result = parse_message("raw/1", payload, routes, schemas_, limits_, kNow);
    ASSERT_TRUE(result.ok()) << payload << ": " << result.reason;
    EXPECT_EQ(result.envelope->data, payload);
  }
}

TEST_F(MessageParser, ObjectWithDataAndOtherKeysIsABarePayload) {
  RouteTable routes({{"raw/{id}", "raw.{id}", "raw", ""}});
  const std::string payload = R"({"data":1,"event":"x","extra":true})";
  const ParseResult result = parse_message("raw/1", payload, routes, schemas_, limits_, kNow);
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.envelope->event, "raw");  // "event" inside a bare payload is just data
  EXPECT_EQ(json::parse(result.envelope->data), json::parse(payload));
}

TEST_F(MessageParser, ObjectWithoutDataIsABarePayload) {
  RouteTable routes({{"raw/{id}", "raw.{id}", "raw", ""}});
  const ParseResult result =
      parse_message("raw/1", R"({"id":"x","event":"y"})", routes, schemas_, limits_, kNow);
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.envelope->id, "");
  EXPECT_EQ(result.envelope->event, "raw");
}

TEST_F(MessageParser, EnvelopeEventOverridesTheRoute) {
  const ParseResult result = parse("cabang/3/omset", R"({"event":"omset.reset","data":{"any":"thing"}})");
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.envelope->event, "omset.reset");  // omset.updated's schema does not apply to it
  EXPECT_EQ(result.envelope->channel, "private-cabang.3");
}

TEST_F(MessageParser, GenericRouteNeedsTheEnvelopeToNameTheEvent) {
  EXPECT_THAT(rejected("kabar/c/x", R"({"data":{"a":1}})"), HasSubstr("no event name"));
  const ParseResult result = parse("kabar/c/presence-room", R"({"event":"client-typing","data":{"a":1}})");
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.envelope->channel, "presence-room");
  EXPECT_EQ(result.envelope->event, "client-typing");
}

TEST_F(MessageParser, RouteSchemaAppliesToTheRoutesOwnEvent) {
  const std::string reason = rejected("cabang/3/omset", R"({"omset_total":"banyak"})");
  EXPECT_THAT(reason, StartsWith("data does not match schema 'omset.updated': "));
  const std::string named =
      rejected("cabang/3/omset", R"({"event":"omset.updated","data":{"omset_total":1}})");
  EXPECT_THAT(named, HasSubstr("schema 'omset.updated'"));
}

TEST_F(MessageParser, EventNamedSchemaAppliesOnOtherRoutes) {
  // Publishing dokumen.updated through the generic route is still checked against its schema.
  const std::string reason =
      rejected("kabar/c/dokumen.1", R"({"event":"dokumen.updated","data":{"nope":1}})");
  EXPECT_THAT(reason, HasSubstr("schema 'dokumen.updated'"));
  EXPECT_THAT(reason, HasSubstr("dokumen"));
  EXPECT_TRUE(parse("kabar/c/dokumen.1", R"({"event":"dokumen.updated","data":{"dokumen":{"id":1}}})").ok());
}

TEST_F(MessageParser, JsonEncodedStringDataIsValidatedByItsContentAndKeptAsString) {
  // What Laravel's Pusher broadcaster sends through the REST API: data is a JSON-encoded string.
  const ParseResult good = parse("kabar/c/dokumen.1",
                                 R"({"event":"dokumen.updated","data":"{\"dokumen\":{\"id\":1}}"})");
  ASSERT_TRUE(good.ok()) << good.reason;
  EXPECT_EQ(good.envelope->data, R"("{\"dokumen\":{\"id\":1}}")");
  EXPECT_THAT(rejected("kabar/c/dokumen.1", R"({"event":"dokumen.updated","data":"{\"nope\":1}"})"),
              HasSubstr("schema 'dokumen.updated'"));
}

TEST_F(MessageParser, ReservedSchemaNamesAreNotEventSchemas) {
  EXPECT_TRUE(parse("kabar/c/x", R"({"event":"envelope","data":5})").ok());
  EXPECT_TRUE(parse("kabar/c/x", R"({"event":"config","data":5})").ok());
}

TEST_F(MessageParser, SchemaFailureNamesThePointer) {
  const std::string reason = rejected("cabang/3/transaksi", R"({"transaksi":{"id":5,"total":true}})");
  EXPECT_THAT(reason, HasSubstr("/transaksi/total"));
  const std::string missing = rejected("cabang/3/pesanan-siap", R"({"pesanan":{}})");
  EXPECT_THAT(missing, HasSubstr("/pesanan"));
  EXPECT_THAT(missing, HasSubstr("id"));
}

TEST_F(MessageParser, UnknownTopic) {
  EXPECT_EQ(rejected("cabang/3/stok", "{}"), "no route for topic \"cabang/3/stok\"");
}

TEST_F(MessageParser, InvalidChannelFromTopic) {
  const std::string reason = rejected("kabar/c/bad channel!", R"({"event":"e","data":1})");
  EXPECT_THAT(reason, HasSubstr("not a valid channel name"));
  EXPECT_THAT(reason, HasSubstr("bad channel!"));
}

TEST_F(MessageParser, EmptyPayload) { EXPECT_EQ(rejected("dokumen/1/updated", ""), "payload is empty"); }

TEST_F(MessageParser, OversizedPayload) {
  limits_.max_payload_bytes = 100;
  const std::string payload = R"({"dokumen":{"id":1,"x":")" + std::string(100, 'a') + R"("}})";
  EXPECT_THAT(rejected("dokumen/1/updated", payload), HasSubstr("more than max_payload_bytes (100)"));
  limits_.max_payload_bytes = payload.size();
  EXPECT_TRUE(parse("dokumen/1/updated", payload).ok());
}

TEST_F(MessageParser, NotJson) {
  EXPECT_THAT(rejected("dokumen/1/updated", "hello"), StartsWith("payload is not JSON: parse error"));
  EXPECT_THAT(rejected("dokumen/1/updated", "{\"a\":1"), StartsWith("payload is not JSON"));
  EXPECT_THAT(rejected("dokumen/1/updated", "{} {}"), StartsWith("payload is not JSON"));
  EXPECT_THAT(rejected("dokumen/1/updated", "\"\xff\""), StartsWith("payload is not JSON"));
}

TEST_F(MessageParser, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(rejected("kabar/c/x", deep), HasSubstr("deeper than 64"));
  // Brackets inside strings do not count.
  const std::string in_string = R"({"event":"e","data":")" + std::string(1000, '[') + R"("})";
  EXPECT_TRUE(parse("kabar/c/x", in_string).ok());
}

TEST_F(MessageParser, EnvelopeFieldRules) {
  const std::string topic = "kabar/c/x";
  EXPECT_THAT(rejected(topic, R"({"id":"","event":"e","data":1})"), HasSubstr("/id"));
  EXPECT_THAT(rejected(topic, R"({"id":"has space","event":"e","data":1})"), HasSubstr("/id"));
  EXPECT_THAT(rejected(topic, R"({"id":7,"event":"e","data":1})"), HasSubstr("/id"));
  EXPECT_THAT(rejected(topic, R"({"id":")" + std::string(129, 'a') + R"(","event":"e","data":1})"),
              HasSubstr("/id"));
  EXPECT_TRUE(parse(topic, R"({"id":")" + std::string(128, 'a') + R"(","event":"e","data":1})").ok());
  EXPECT_TRUE(parse(topic, R"({"id":"a.b:c-d_E9","event":"e","data":1})").ok());
  EXPECT_THAT(rejected(topic, R"({"event":"","data":1})"), HasSubstr("/event"));
  EXPECT_THAT(rejected(topic, R"({"event":")" + std::string(201, 'e') + R"(","data":1})"),
              HasSubstr("/event"));
  EXPECT_THAT(rejected(topic, R"({"event":null,"data":1})"), HasSubstr("/event"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"socket_id":"abc"})"), HasSubstr("/socket_id"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"socket_id":"1.2.3"})"), HasSubstr("/socket_id"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"app":""})"), HasSubstr("/app"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"app":"a b"})"), HasSubstr("/app"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"app":7})"), HasSubstr("/app"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"app":")" + std::string(65, 'a') + R"("})"),
              HasSubstr("/app"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"time":-1})"), HasSubstr("/time"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"time":1.5})"), HasSubstr("/time"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"time":"yesterday"})"), HasSubstr("/time"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"time":"2024-02-30T00:00:00Z"})"), HasSubstr("/time"));
  EXPECT_THAT(rejected(topic, R"({"event":"e","data":1,"time":true})"), StartsWith("envelope: /time"));
}

TEST_F(MessageParser, LongEnvelopeStringsDoNotReachTheRegexEngine) {
  // std::regex recurses per character; a huge id must be refused without being matched.
  const std::string huge_id = std::string(200000, 'a');
  EXPECT_THAT(rejected("kabar/c/x", R"({"id":")" + huge_id + R"(","event":"e","data":1})"), HasSubstr("/id"));
  // Long strings inside data are fine: the envelope's patterns never see them.
  const std::string long_data = R"({"id":"x1","event":"e","data":")" + std::string(200000, 'a') + R"("})";
  EXPECT_TRUE(parse("kabar/c/x", long_data).ok());
}

TEST_F(MessageParser, BuiltinSchemasAcceptTheAppsPayloads) {
  EXPECT_TRUE(parse("dokumen/1/updated", R"({"dokumen":{"id":1,"user":{"name":"Sari"},"approvals":[{"id":3}],
      "versions":[],"masterflow":{"steps":[{"jabatan":{"nama":"Manager"}}]}},"timestamp":"2024-01-01T12:00:00.000000Z"})")
                  .ok());
  EXPECT_TRUE(parse("cabang/3/omset", R"({"cabang_id":3,"tanggal":"2024-01-01","omset_total":1500000,
      "omset_bpjs":"900000.00","omset_umum":600000,"jumlah_transaksi":12,
      "transaksi_terbaru":[{"id":77,"nomor":"TRX-0077","jenis":"bpjs","total":"350000.00","pelanggan":"Budi"}]})")
                  .ok());
  EXPECT_TRUE(parse("cabang/3/transaksi", R"({"transaksi":{"id":77,"total":350000,"jenis":"umum"}})").ok());
  EXPECT_TRUE(
      parse("cabang/3/pesanan-siap", R"({"pesanan":{"id":9,"nomor":"PSN-9","pelanggan":"Ani"}})").ok());
}

TEST_F(MessageParser, BuiltinSchemasRejectWrongShapes) {
  EXPECT_THAT(rejected("dokumen/1/updated", R"({"dokumen":{"status":"x"}})"), HasSubstr("id"));
  EXPECT_THAT(rejected("dokumen/1/updated", R"([1,2])"), HasSubstr("dokumen.updated"));
  EXPECT_THAT(
      rejected("cabang/3/omset", R"({"omset_total":1,"omset_bpjs":1,"omset_umum":-1,"jumlah_transaksi":1})"),
      HasSubstr("/omset_umum"));
  EXPECT_THAT(rejected("cabang/3/omset",
                       R"({"omset_total":1,"omset_bpjs":"1,5","omset_umum":1,"jumlah_transaksi":1})"),
              HasSubstr("/omset_bpjs"));
  EXPECT_THAT(
      rejected("cabang/3/omset", R"({"omset_total":1,"omset_bpjs":1,"omset_umum":1,"jumlah_transaksi":1.5})"),
      HasSubstr("/jumlah_transaksi"));
  EXPECT_THAT(rejected("cabang/3/transaksi", R"({"transaksi":{"total":1}})"), HasSubstr("id"));
  EXPECT_THAT(rejected("cabang/3/pesanan-siap", R"({"order":{"id":1}})"), HasSubstr("pesanan"));
}

TEST_F(MessageParser, MissingRouteSchemaIsReported) {
  RouteTable routes({{"x/{id}", "x.{id}", "x", "no.such.schema"}});
  const ParseResult result = parse_message("x/1", "{}", routes, schemas_, limits_, kNow);
  EXPECT_THAT(result.reason, HasSubstr("'no.such.schema'"));
}

TEST(Rfc3339, ParsesToUnixMilliseconds) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2024-01-01T12:00:00Z"), 1704110400000);
  EXPECT_EQ(parse_rfc3339_ms("2024-01-01t12:00:00z"), 1704110400000);
  EXPECT_EQ(parse_rfc3339_ms("2024-01-01T12:00:00.5Z"), 1704110400500);
  EXPECT_EQ(parse_rfc3339_ms("2024-01-01T12:00:00.123456Z"), 1704110400123);
  EXPECT_EQ(parse_rfc3339_ms("2024-01-01T19:00:00+07:00"), 1704110400000);
  EXPECT_EQ(parse_rfc3339_ms("2024-01-01T07:30:00-04:30"), 1704110400000);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1709164800000);
}

TEST(Rfc3339, RejectsMalformedOrImpossibleDates) {
  for (const char* text :
       {"", "2024-01-01", "2024-01-01 12:00:00Z", "2024-01-01T12:00:00", "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T12:60:00Z",
        "2024-01-01T12:00:00.Z", "2024-01-01T12:00:00+7:00", "2024-01-01T12:00:00+07:00x",
        "1969-12-31T23:59:59Z", "2024-01-01T12:00:00Zjunk"}) {
    EXPECT_FALSE(parse_rfc3339_ms(text)) << text;
  }
}

}  // namespace
}  // namespace kabar
