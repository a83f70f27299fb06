// SPDX-License-Identifier: BSD-3-Clause
// Signatures: the rules-file parser (valid lines and each kind of invalid one), Hyperscan
// compilation errors, the block-mode scanner's limits, and the flow tracker feeding matches into
// events and verdicts. Pure logic: no EAL.

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "print_enums.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/analysis/reset_classifier.h"
#include "rstscope/analysis/signature_rules.h"
#include "rstscope/analysis/signature_scanner.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/metrics.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {
namespace {

using namespace tcp_flag;

constexpr const char* two_rules =
    "# comment\n"
    "\n"
    "http_503  resp 512 overload - /^HTTP\\/1\\.[01] 503 /  HTTP 503 Service Unavailable\n"
    "  lb_policy rst 256 policy_reset i /policy (action|deny)/ a policy rule reset the flow  \n";

TEST(SignatureRules, ParsesEveryField) {
    SignatureRuleSet set = parse_signature_rules(two_rules, "sigs.conf");
    ASSERT_TRUE(set.ok()) << set.error;
    ASSERT_EQ(set.rules.size(), 2u);
    const SignatureRule& a = set.rules[0];
    EXPECT_EQ(a.id, "http_503");
    EXPECT_EQ(a.where, SignatureWhere::resp);
    EXPECT_EQ(a.bytes, 512u);
    EXPECT_EQ(a.cause, ResetCause::overload);
    EXPECT_EQ(a.flags, 0);
    EXPECT_EQ(a.pattern, "^HTTP\\/1\\.[01] 503 ");
    EXPECT_EQ(a.description, "HTTP 503 Service Unavailable");
    EXPECT_EQ(a.line, 3u);
    const SignatureRule& b = set.rules[1];
    EXPECT_EQ(b.where, SignatureWhere::rst);
    EXPECT_EQ(b.cause, ResetCause::policy_reset);
    EXPECT_EQ(b.flags, signature_flag::caseless);
    EXPECT_EQ(b.pattern, "policy (action|deny)");
    EXPECT_EQ(b.description, "a policy rule reset the flow");
    EXPECT_EQ(b.line, 4u);
}

TEST(SignatureRules, ReportOnlyCauseAndEveryFlag) {
    SignatureRuleSet set = parse_signature_rules("x any 1 - ism /a/ d\n", "f");
    ASSERT_TRUE(set.ok()) << set.error;
    EXPECT_EQ(set.rules[0].cause, ResetCause::count);
    EXPECT_EQ(set.rules[0].flags,
              signature_flag::caseless | signature_flag::dotall | signature_flag::multiline);
    EXPECT_EQ(set.rules[0].where, SignatureWhere::any);
}

struct BadLine {
    const char* text;
    const char* error;
};

class SignatureRulesInvalid : public testing::TestWithParam<BadLine> {};

TEST_P(SignatureRulesInvalid, NamesFileLineAndProblem) {
    std::string text = std::string("ok resp 10 - - /a/ fine\n") + GetParam().text + "\n";
    SignatureRuleSet set = parse_signature_rules(text, "sigs.conf");
    EXPECT_FALSE(set.ok());
    EXPECT_TRUE(set.rules.empty());
    EXPECT_EQ(set.error, std::string("sigs.conf:2: ") + GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, SignatureRulesInvalid,
    testing::Values(
        BadLine{"Bad-Id resp 10 - - /a/ d",
                "id 'Bad-Id' must be 1 to 32 characters of a-z, 0-9 and _"},
        BadLine{"a_very_long_identifier_of_33_char resp 10 - - /a/ d",
                "id 'a_very_long_identifier_of_33_char' must be 1 to 32 characters of a-z, 0-9 "
                "and _"},
        BadLine{"x both 10 - - /a/ d", "direction 'both' must be orig, resp, rst or any"},
        BadLine{"x resp 0 - - /a/ d", "bytes '0' must be a number from 1 to 4096"},
        BadLine{"x resp 4097 - - /a/ d", "bytes '4097' must be a number from 1 to 4096"},
        BadLine{"x resp 1k - - /a/ d", "bytes '1k' must be a number from 1 to 4096"},
        BadLine{"x resp 10 busy - /a/ d",
                "cause 'busy' is not a reset cause (rstscope --list-vocabulary) nor -"},
        BadLine{"x resp 10 - q /a/ d", "flags 'q' must be - or distinct letters of i, s and m"},
        BadLine{"x resp 10 - ii /a/ d", "flags 'ii' must be - or distinct letters of i, s and m"},
        BadLine{"x resp 10 -", "flags missing"},
        BadLine{"x resp 10 - - a/ d", "pattern missing: expected /PATTERN/"},
        BadLine{"x resp 10 - - /a\\/ d", "pattern not closed by an unescaped /"},
        BadLine{"x resp 10 - - // d", "pattern empty"},
        BadLine{"x resp 10 - - /a/d", "a space must follow the pattern's closing /"},
        BadLine{"x resp 10 - - /a/", "description missing after the pattern"},
        BadLine{"ok resp 10 - - /b/ d", "id 'ok' used twice"},
        BadLine{"x resp 10 - - /a\x01/ d", "control character"}));

TEST(SignatureRules, TooManyRules) {
    std::string text;
    for (size_t i = 0; i <= signature_max_rules; ++i)
        text += "r" + std::to_string(i) + " resp 10 - - /a/ d\n";
    SignatureRuleSet set = parse_signature_rules(text, "f");
    EXPECT_EQ(set.error, "f:255: more than 254 rules");
}

TEST(SignatureRules, MissingFile) {
    SignatureRuleSet set = load_signature_rules("/nonexistent/sigs.conf");
    EXPECT_EQ(set.error, "/nonexistent/sigs.conf: cannot read the signatures file");
}

TEST(SignatureDatabase, BadPatternIsOneLineNamingFileLineAndHyperscansMessage) {
    std::string error;
    auto db = SignatureDatabase::compile(
        parse_signature_rules("ok resp 10 - - /a/ d\n\nbad resp 10 - - /a(b/ d\n", "s.conf"),
        error);
    EXPECT_EQ(db, nullptr);
    EXPECT_EQ(error.rfind("s.conf:3: pattern of bad: ", 0), 0u) << error;
    EXPECT_NE(error.find("parenthes"), std::string::npos) << error;  // Hyperscan's own words
    EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(SignatureDatabase, PatternMatchingEmptyIsRefused) {
    std::string error;
    auto db =
        SignatureDatabase::compile(parse_signature_rules("e resp 10 - - /a*/ d\n", "s"), error);
    EXPECT_EQ(db, nullptr);
    EXPECT_EQ(error.rfind("s:1: pattern of e: ", 0), 0u) << error;
}

TEST(SignatureDatabase, ShippedRulesCompile) {
    std::string error;
    auto db = SignatureDatabase::compile(
        load_signature_rules(std::string(RSTSCOPE_SOURCE_ROOT) + "/conf/signatures.conf"), error);
    ASSERT_NE(db, nullptr) << error;
    EXPECT_GE(db->rules().size(), 15u);
    EXPECT_EQ(db->bytes_for(SignatureWhere::orig), 0u);  // no default rule reads the client
    EXPECT_EQ(db->bytes_for(SignatureWhere::resp), 4096u);
    EXPECT_EQ(db->bytes_for(SignatureWhere::rst), 256u);
    // Past the responder's first segment: the unanchored rules of 512, 1024, 2048, 4096 bytes.
    EXPECT_EQ(db->windows(SignatureWhere::resp), 4u);
    EXPECT_GT(db->stream_state_bytes(), 0u);
}

std::unique_ptr<SignatureDatabase> compile(const char* text) {
    std::string error;
    auto db = SignatureDatabase::compile(parse_signature_rules(text, "t"), error);
    EXPECT_NE(db, nullptr) << error;
    return db;
}

uint8_t scan(SignatureScanner& s, std::string_view text, SignatureWhere where,
             uint64_t offset = 0) {
    return s.scan(reinterpret_cast<const uint8_t*>(text.data()), static_cast<uint32_t>(text.size()),
                  where, offset);
}

TEST(SignatureRules, AnchoredAtTheStreamStart) {
    auto anchored = [](const char* pattern, uint8_t flags = 0) {
        SignatureRule rule;
        rule.pattern = pattern;
        rule.flags = flags;
        return signature_anchored(rule);
    };
    EXPECT_TRUE(anchored("^HTTP\\/1\\.[01] 503 "));
    EXPECT_TRUE(anchored("^(a|b)c"));
    EXPECT_TRUE(anchored("^(?:a|b)c"));
    EXPECT_TRUE(anchored("^[|)]x"));
    EXPECT_TRUE(anchored("^[]|]x"));
    EXPECT_TRUE(anchored("^[^]|]x"));
    EXPECT_TRUE(anchored("^[[:alpha:]|]x"));
    EXPECT_FALSE(anchored("^\\(a|b\\)"));  // \( is literal: the | is outside
    EXPECT_TRUE(anchored("^HTTP", signature_flag::caseless | signature_flag::dotall));
    EXPECT_FALSE(anchored("^421[ -]", signature_flag::multiline));  // ^ after every line break
    EXPECT_FALSE(anchored("HTTP"));
    EXPECT_FALSE(anchored("a^"));
    EXPECT_FALSE(anchored("^a|b"));      // b anywhere
    EXPECT_FALSE(anchored("^a\\|b|c"));  // the second | is outside
    EXPECT_FALSE(anchored("^(a)|b"));
    EXPECT_FALSE(anchored("^(?m)a"));  // an inline option
    EXPECT_FALSE(anchored("^(?i)a"));  // (not proved anchored: treated as unanchored)
    EXPECT_FALSE(anchored("^\\Qa|b\\E"));
    EXPECT_FALSE(anchored(""));
}

TEST(SignatureScanner, DirectionBytesAndCounts) {
    auto db = compile(
        "busy resp 20 overload - /503 busy/ d\n"
        "reason rst 64 policy_reset i /denied/ d\n");
    SignatureScanner s(*db);
    EXPECT_EQ(scan(s, "HTTP/1.1 503 busy", SignatureWhere::resp), 1);
    EXPECT_EQ(scan(s, "HTTP/1.1 503 busy", SignatureWhere::orig), 0);  // wrong direction
    EXPECT_EQ(scan(s, "HTTP/1.1 503 busy", SignatureWhere::rst), 0);
    // The match must end within the direction's first 20 bytes: at offset 4 it ends at 21.
    EXPECT_EQ(scan(s, "HTTP/1.1 503 busy", SignatureWhere::resp, 3), 1);
    EXPECT_EQ(scan(s, "HTTP/1.1 503 busy", SignatureWhere::resp, 4), 0);
    EXPECT_EQ(scan(s, "Port DENIED", SignatureWhere::rst), 2);
    EXPECT_EQ(s.matches(0), 2u);
    EXPECT_EQ(s.matches(1), 1u);
}

// Block mode: each segment is scanned on its own, so a pattern split over two segments is not
// matched (the trade for no per-flow Hyperscan state: signature_scanner.h).
TEST(SignatureScanner, PatternSplitAcrossSegmentsIsNotMatched) {
    auto db = compile("busy resp 100 overload - /503 busy/ d\n");
    SignatureScanner s(*db);
    EXPECT_EQ(scan(s, "HTTP/1.1 50", SignatureWhere::resp, 0), 0);
    EXPECT_EQ(scan(s, "3 busy", SignatureWhere::resp, 11), 0);
    EXPECT_EQ(scan(s, "HTTP/1.1 503 busy", SignatureWhere::resp, 0), 1);
}

// A rule anchored with ^ (no m flag) matches at the start of its direction's payload only: in the
// segment at offset 0 (and in the kept latest segment, scanned at offset 0), not at the start of
// a later segment within its BYTES. Unanchored rules, and ^ with the m flag, still match there.
TEST(SignatureScanner, AnchoredRulesOnlyAtTheStreamStart) {
    auto db = compile(
        "http_503 resp 512 overload - /^HTTP\\/1\\.[01] 503 / d\n"
        "reply_421 resp 64 overload m /^421[ -]/ d\n"
        "busy resp 1024 overload - /server busy/ d\n");
    EXPECT_EQ(db->windows(SignatureWhere::resp), 2u);  // [1, 64): 421 and busy; [64, 1024): busy
    EXPECT_EQ(db->windows(SignatureWhere::orig), 0u);
    SignatureScanner s(*db);
    EXPECT_EQ(scan(s, "HTTP/1.1 503 x", SignatureWhere::resp, 0), 1);
    EXPECT_EQ(scan(s, "HTTP/1.1 503 x", SignatureWhere::resp, 100), 0);  // no longer mid-stream
    EXPECT_EQ(scan(s, "HTTP/1.1 503 x", SignatureWhere::resp, 1), 0);
    EXPECT_EQ(scan(s, "421 closing", SignatureWhere::resp, 20), 2);  // m: ^ at a segment start
    EXPECT_EQ(scan(s, "x\r\n421 closing", SignatureWhere::resp, 20), 2);
    EXPECT_EQ(scan(s, "421 closing", SignatureWhere::resp, 61), 0);  // ends past its 64 bytes
    EXPECT_EQ(scan(s, "421 closing", SignatureWhere::resp, 64), 0);  // past its window
    EXPECT_EQ(scan(s, "HTTP/1.1 200 server busy", SignatureWhere::resp, 600), 3);
    EXPECT_EQ(scan(s, "server busy", SignatureWhere::resp, 1013), 3);
    EXPECT_EQ(scan(s, "server busy", SignatureWhere::resp, 1014), 0);
    EXPECT_EQ(scan(s, "server busy", SignatureWhere::resp, 5000), 0);
    EXPECT_EQ(s.matches(0), 1u);
    EXPECT_EQ(s.matches(1), 2u);
    EXPECT_EQ(s.matches(2), 2u);
}

TEST(SignatureClassifier, ReasonInRstAndErrorReply) {
    ResetFacts f;
    f.established = true;
    f.orig_syn_seen = f.synack_seen = true;
    f.seq_check = SeqCheck::exact;
    f.evidence = evidence_bit(Evidence::server_error);
    f.reply_cause = ResetCause::overload;
    Verdict v = classify_reset(f);
    EXPECT_EQ(v.cause, ResetCause::overload);
    EXPECT_EQ(v.confidence, Confidence::medium);
    // A FIN after the error reply does not hide it.
    f.evidence |= evidence_bit(Evidence::fin_before);
    EXPECT_EQ(classify_reset(f).cause, ResetCause::overload);
    // The RST's own reason wins, even over what would look injected.
    f.evidence |= evidence_bit(Evidence::rst_reason) | evidence_bit(Evidence::ttl_mismatch) |
                  evidence_bit(Evidence::ipid_mismatch);
    f.rst_reason_cause = ResetCause::policy_reset;
    v = classify_reset(f);
    EXPECT_EQ(v.cause, ResetCause::policy_reset);
    EXPECT_EQ(v.confidence, Confidence::high);
    // Without a cause named, the evidence alone changes nothing.
    f.rst_reason_cause = ResetCause::count;
    f.reply_cause = ResetCause::count;
    EXPECT_EQ(classify_reset(f).cause, ResetCause::injected);
}

// A client and a server exchanging text, then a reset, through a tracker with signatures.
class TrackerWithSignatures : public testing::Test {
  protected:
    void SetUp() override {
        db_ = compile(
            "http_503 resp 512 overload - /^HTTP\\/1\\.[01] 503 / HTTP 503\n"
            "note     orig 512 -        - /^GET / a request, reported only\n"
            "lb_port  rst  256 policy_reset i /port denied/ middlebox reason\n");
        config_.linger_ns = 0;
        config_.flow_capacity = 1024;
        config_.linger_capacity = 64;
        config_.signatures = db_.get();
        tracker_ = std::make_unique<FlowTracker>(config_, counters_);
    }

    void send(bool from_client, uint8_t flags, std::string_view text, uint64_t ts_ms) {
        DecodedPacket p;
        uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
        p.ts_ns = ts_ms * 1'000'000;
        p.family = IpFamily::v4;
        p.src = IpAddress::from_v4(from_client ? a : b);
        p.dst = IpAddress::from_v4(from_client ? b : a);
        p.src_port = from_client ? 40000 : 80;
        p.dst_port = from_client ? 80 : 40000;
        p.tcp_flags = flags;
        uint32_t& next = from_client ? client_seq_ : server_seq_;
        p.seq = next;
        p.ack = from_client ? server_seq_ : client_seq_;
        p.window = 65535;
        p.ttl = 64;
        p.payload = reinterpret_cast<const uint8_t*>(text.data());
        p.payload_length = static_cast<uint32_t>(text.size());
        p.payload_captured = static_cast<uint16_t>(text.size());
        if (!(flags & rst)) next += p.payload_length + ((flags & (syn | fin)) ? 1 : 0);
        tracker_->process(p);
    }

    void handshake() {
        send(true, syn, "", 0);
        send(false, syn | ack, "", 1);
        send(true, ack, "", 2);
    }

    const ResetEvent& only_event() {
        EXPECT_EQ(tracker_->event_count(), 1u);
        return tracker_->events()[0];
    }

    std::string json(const ResetEvent& e) { return event_json(e, db_->rules()); }

    std::unique_ptr<SignatureDatabase> db_;
    TrackerConfig config_;
    WorkerCounters counters_;
    std::unique_ptr<FlowTracker> tracker_;
    uint32_t client_seq_ = 1000;
    uint32_t server_seq_ = 5000;
};

TEST_F(TrackerWithSignatures, ServerErrorThenResetIsOverload) {
    handshake();
    send(true, ack | psh, "GET / HTTP/1.1\r\n\r\n", 10);
    send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 20);
    send(false, rst | ack, "", 1520);
    const ResetEvent& e = only_event();
    EXPECT_EQ(e.cause, ResetCause::overload);
    EXPECT_TRUE(e.has(Evidence::server_error));
    EXPECT_FALSE(e.has(Evidence::rst_reason));
    std::string line = json(e);
    EXPECT_NE(line.find(",\"signatures\":[{\"id\":\"note\",\"dir\":\"orig\",\"before_rst\":1.510},"
                        "{\"id\":\"http_503\",\"dir\":\"resp\",\"before_rst\":1.500}]}"),
              std::string::npos)
        << line;
    EXPECT_NE(line.find("\"server_error\""), std::string::npos);
}

TEST_F(TrackerWithSignatures, WithoutSignaturesTheSameResetIsRespAbort) {
    config_.signatures = nullptr;
    tracker_ = std::make_unique<FlowTracker>(config_, counters_);
    handshake();
    send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 20);
    send(false, rst | ack, "", 1520);
    EXPECT_EQ(only_event().cause, ResetCause::resp_abort);
    EXPECT_EQ(json(only_event()).find("signatures"), std::string::npos);
}

TEST_F(TrackerWithSignatures, ReasonInRstPayloadNamesTheCause) {
    handshake();
    send(false, rst | ack, "BIG-IP: [0x1:1] Port denied", 30);
    const ResetEvent& e = only_event();
    EXPECT_EQ(e.cause, ResetCause::policy_reset);
    EXPECT_EQ(e.confidence, Confidence::high);
    EXPECT_TRUE(e.has(Evidence::rst_reason));
    EXPECT_TRUE(e.has(Evidence::payload_in_rst));
    EXPECT_NE(
        json(e).find("\"signatures\":[{\"id\":\"lb_port\",\"dir\":\"rst\",\"before_rst\":0.000}]"),
        std::string::npos)
        << json(e);
}

TEST_F(TrackerWithSignatures, SameWordsDeepInALargeBodyChangeNothing) {
    handshake();
    send(false, ack | psh, "HTTP/1.1 200 OK\r\n\r\n" + std::string(600, 'x'), 20);
    send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n", 21);  // beyond 512 bytes
    send(false, rst | ack, "", 1520);
    const ResetEvent& e = only_event();
    EXPECT_EQ(e.cause, ResetCause::resp_abort);
    EXPECT_FALSE(e.has(Evidence::server_error));
    EXPECT_EQ(json(e).find("signatures"), std::string::npos);
}

// A long connection: the reply right before the RST lies far past the first bytes; the head of
// each direction's latest segment is kept (in the app table's slot) and scanned at the RST.
TEST_F(TrackerWithSignatures, LastReplyBeforeTheResetIsScanned) {
    config_.app_capacity = 16;
    tracker_ = std::make_unique<FlowTracker>(config_, counters_);
    handshake();
    send(true, ack | psh, "GET / HTTP/1.1\r\n\r\n", 10);
    send(false, ack | psh, "HTTP/1.1 200 OK\r\n\r\n" + std::string(1400, 'x'), 20);
    for (int i = 0; i < 4; ++i)
        send(false, ack, std::string(1400, 'x'), 21 + i);
    send(true, ack | psh, "GET /again HTTP/1.1\r\n\r\n", 30);
    send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 40);
    send(false, rst | ack, "", 540);
    const ResetEvent& e = only_event();
    EXPECT_EQ(e.cause, ResetCause::overload);
    EXPECT_TRUE(e.has(Evidence::server_error));
    EXPECT_NE(json(e).find("{\"id\":\"http_503\",\"dir\":\"resp\",\"before_rst\":0.500}"),
              std::string::npos)
        << json(e);
    EXPECT_NE(json(e).find("\"app\":{\"proto\":\"http\",\"method\":\"GET\",\"status\":200}"),
              std::string::npos)
        << json(e);
}

// Only the latest segment counts, and only its head: the error reply followed by more data, or
// the words in the middle of the latest segment, change nothing; without the app table nothing
// is kept.
TEST_F(TrackerWithSignatures, OnlyTheHeadOfTheLatestSegmentIsScanned) {
    config_.app_capacity = 16;
    for (int variant = 0; variant < 3; ++variant) {
        if (variant == 2) config_.app_capacity = 0;
        tracker_ = std::make_unique<FlowTracker>(config_, counters_);
        client_seq_ += 100000;
        server_seq_ += 100000;
        handshake();
        send(false, ack | psh, "HTTP/1.1 200 OK\r\n\r\n" + std::string(4200, 'x'), 20);
        if (variant == 0) {
            send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 21);
            send(false, ack, std::string(100, 'y'), 22);
        } else {
            send(false, ack | psh,
                 std::string(200, 'x') + "\r\nHTTP/1.1 503 Service Unavailable\r\n\r\n", 21);
            if (variant == 2)
                send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 22);
        }
        send(false, rst | ack, "", 1520);
        EXPECT_EQ(only_event().cause, ResetCause::resp_abort) << variant;
        EXPECT_EQ(json(only_event()).find("signatures"), std::string::npos) << variant;
    }
}

// ^ is the start of the direction's payload: a status line starting the responder's second
// segment within the first 512 bytes is not a reply of its own (a 503 inside a body that
// happens to start a segment); the kept latest segment past the first bytes is still scanned
// from its start (LastReplyBeforeTheResetIsScanned).
TEST_F(TrackerWithSignatures, AnchoredRuleDoesNotMatchAtALaterSegmentsStart) {
    handshake();
    send(true, ack | psh, "GET / HTTP/1.1\r\n\r\n", 10);
    send(false, ack | psh, "HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n", 20);
    send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 21);
    send(false, rst | ack, "", 1520);
    const ResetEvent& e = only_event();
    EXPECT_EQ(e.cause, ResetCause::resp_abort);
    EXPECT_FALSE(e.has(Evidence::server_error));
    EXPECT_EQ(json(e).find("http_503"), std::string::npos) << json(e);
}

// Joined midstream (no SYN or SYN-ACK seen), a direction's first bytes are unknown: the segments
// seen first are not scanned as the first bytes; the head of each direction's latest segment is
// kept and scanned at the RST, so the reply right before the reset is still caught.
TEST_F(TrackerWithSignatures, MidstreamConnectionScansOnlyTheLatestSegments) {
    config_.app_capacity = 16;
    for (int variant = 0; variant < 2; ++variant) {
        tracker_ = std::make_unique<FlowTracker>(config_, counters_);
        client_seq_ += 100000;
        server_seq_ += 100000;
        send(true, ack | psh, "GET /more HTTP/1.1\r\n\r\n", 10);
        send(false, ack | psh, "HTTP/1.1 503 Service Unavailable\r\n\r\n", 20);
        if (variant == 0) send(false, ack | psh, "more of an earlier body", 21);
        send(false, rst | ack, "", 520);
        const ResetEvent& e = only_event();
        if (variant == 0) {  // the 503 was not the latest segment, and not known to be the start
            EXPECT_EQ(e.cause, ResetCause::resp_abort);
            EXPECT_EQ(json(e).find("http_503"), std::string::npos) << json(e);
        } else {
            EXPECT_EQ(e.cause, ResetCause::overload);
            EXPECT_NE(json(e).find("\"signatures\":[{\"id\":\"note\",\"dir\":\"orig\","
                                   "\"before_rst\":0.510},{\"id\":\"http_503\",\"dir\":"
                                   "\"resp\",\"before_rst\":0.500}]"),
                      std::string::npos)
                << json(e);
        }
    }
}

TEST_F(TrackerWithSignatures, ReplySplitOverTwoSegmentsIsNotCaught) {
    handshake();
    send(false, ack | psh, "HTTP/1.1 50", 20);
    send(false, ack | psh, "3 Service Unavailable\r\n\r\n", 21);
    send(false, rst | ack, "", 1520);
    EXPECT_EQ(only_event().cause, ResetCause::resp_abort);
}

TEST(SignatureStats, MatchesPerRuleOnlyWithSignatures) {
    CounterTotals totals{};
    ResetStatistics resets(16);
    std::string without = stats_json(totals, resets);
    EXPECT_EQ(without.find("signatures"), std::string::npos);
    SignatureMatches matches[] = {{"http_503", 3}, {"lb_policy", 0}};
    std::string with = stats_json(totals, resets, matches);
    EXPECT_EQ(with, without.substr(0, without.size() - 1) +
                        ",\"signatures\":{\"http_503\":3,\"lb_policy\":0}}");
}

TEST(SignatureStats, MetricsCountMatchesPerRuleOnlyWithSignatures) {
    CounterTotals totals{};
    ResetStatistics resets(16);
    std::string without = metrics_text(totals, resets);
    EXPECT_EQ(without.find("signature"), std::string::npos);
    SignatureMatches matches[] = {{"http_503", 3}, {"lb_policy", 0}};
    std::string with = metrics_text(totals, resets, matches);
    EXPECT_NE(with.find("# TYPE rstscope_signature_matches_total counter\n"
                        "rstscope_signature_matches_total{id=\"http_503\"} 3\n"
                        "rstscope_signature_matches_total{id=\"lb_policy\"} 0\n"),
              std::string::npos)
        << with;
}

}  // namespace
}  // namespace rstscope
