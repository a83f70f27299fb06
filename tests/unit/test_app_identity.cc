// SPDX-License-Identifier: BSD-3-Clause
// Application identity (app_identity.h): the TLS ClientHello SNI walk over any split, GREASE,
// truncated and oversized lengths; the HTTP request line, Host and status line; server banners;
// and the flow tracker carrying the result into events over segments, retransmissions and gaps.
// Pure logic: no EAL.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "print_enums.h"
#include "rstscope/analysis/app_identity.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

using namespace tcp_flag;
using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}

void append(Bytes& b, const Bytes& more) {
    b.insert(b.end(), more.begin(), more.end());
}

Bytes extension(uint16_t type, const Bytes& body) {
    Bytes b;
    put16(b, type);
    put16(b, body.size());
    append(b, body);
    return b;
}

Bytes sni_extension(const std::string& name) {
    Bytes list;
    list.push_back(0);  // host_name
    put16(list, name.size());
    list.insert(list.end(), name.begin(), name.end());
    Bytes body;
    put16(body, list.size());
    append(body, list);
    return extension(0, body);
}

// A ClientHello shaped like a current browser's: GREASE cipher and extensions (one empty), a
// 32-byte session id, supported_groups, a 1 216-byte key share (X25519MLKEM768 size) placed before
// the server_name, ALPN after it.
Bytes client_hello_body(const std::string& name, bool with_sni = true) {
    Bytes h;
    put16(h, 0x0303);
    for (int i = 0; i < 32; ++i)
        h.push_back(static_cast<uint8_t>(i * 7));
    h.push_back(32);
    for (int i = 0; i < 32; ++i)
        h.push_back(static_cast<uint8_t>(0xA0 + i));
    Bytes ciphers = {0x3A, 0x3A, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xC0, 0x2B};
    put16(h, ciphers.size());
    append(h, ciphers);
    h.push_back(1);
    h.push_back(0);
    Bytes ext;
    append(ext, extension(0x1A1A, {}));                           // GREASE, empty
    append(ext, extension(0x000A, {0, 4, 0x11, 0xEC, 0, 0x1D}));  // supported_groups
    append(ext, extension(0x0033, Bytes(1216, 0x42)));            // key_share
    if (with_sni) append(ext, sni_extension(name));
    append(ext, extension(0x0010, {0, 3, 2, 'h', '2'}));  // ALPN
    append(ext, extension(0x4A4A, {0}));                  // GREASE, one byte
    put16(h, ext.size());
    append(h, ext);
    return h;
}

Bytes handshake_message(const Bytes& body, uint8_t type = 1) {
    Bytes b{type, static_cast<uint8_t>(body.size() >> 16), static_cast<uint8_t>(body.size() >> 8),
            static_cast<uint8_t>(body.size())};
    append(b, body);
    return b;
}

// The handshake message in TLS records of at most `record_size` bytes.
Bytes records(const Bytes& message, size_t record_size = 16384) {
    Bytes out;
    for (size_t at = 0; at < message.size(); at += record_size) {
        size_t n = std::min(record_size, message.size() - at);
        out.insert(out.end(), {0x16, 0x03, 0x01});
        put16(out, n);
        out.insert(out.end(), message.begin() + static_cast<long>(at),
                   message.begin() + static_cast<long>(at + n));
    }
    return out;
}

Bytes text(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

AppIdentity orig_only(const Bytes& b, uint16_t port = 443) {
    AppRecord r;
    r.reset();
    r.feed_orig(b.data(), static_cast<uint32_t>(b.size()));
    return r.identity(port);
}

AppIdentity resp_first(const Bytes& b, uint16_t port) {
    AppRecord r;
    r.reset();
    r.feed_resp(b.data(), static_cast<uint32_t>(b.size()));
    return r.identity(port);
}

TEST(AppTls, SniOfABrowserShapedClientHello) {
    AppIdentity a = orig_only(records(handshake_message(client_hello_body("www.example.com"))));
    EXPECT_EQ(a.proto, AppProto::tls);
    EXPECT_EQ(a.name_view(), "www.example.com");
    EXPECT_EQ(a.flags, 0);
}

TEST(AppTls, EverySplitIntoTwoSegmentsAndByteByByte) {
    Bytes hello = records(handshake_message(client_hello_body("api.example.net")));
    for (size_t cut = 1; cut < hello.size(); ++cut) {
        AppRecord r;
        r.reset();
        bool more = r.feed_orig(hello.data(), static_cast<uint32_t>(cut));
        if (more) r.feed_orig(hello.data() + cut, static_cast<uint32_t>(hello.size() - cut));
        ASSERT_EQ(r.identity(443).name_view(), "api.example.net") << "cut at " << cut;
    }
    AppRecord r;
    r.reset();
    for (uint8_t byte : hello)
        if (!r.feed_orig(&byte, 1)) break;
    EXPECT_EQ(r.identity(443).name_view(), "api.example.net");
}

TEST(AppTls, ClientHelloOverSeveralRecords) {
    for (size_t record_size : {5, 100, 700}) {  // 1-byte records exceed app_parse_max_bytes
        AppIdentity a =
            orig_only(records(handshake_message(client_hello_body("split.example")), record_size));
        EXPECT_EQ(a.name_view(), "split.example") << record_size;
    }
}

TEST(AppTls, NoSniAndTruncated) {
    AppIdentity a = orig_only(records(handshake_message(client_hello_body("", false))));
    EXPECT_EQ(a.proto, AppProto::tls);
    EXPECT_EQ(a.name_length, 0);
    Bytes hello = records(handshake_message(client_hello_body("late.example")));
    hello.resize(600);  // ends inside the key share
    a = orig_only(hello);
    EXPECT_EQ(a.proto, AppProto::tls);
    EXPECT_EQ(a.name_length, 0);
}

TEST(AppTls, LongNameIsCutAndSaysSo) {
    std::string name(200, 'a');
    name += ".example";
    AppIdentity a = orig_only(records(handshake_message(client_hello_body(name))));
    EXPECT_EQ(a.name_view(), name.substr(0, app_name_capacity));
    EXPECT_TRUE(a.flags & app_flag::name_cut);
}

TEST(AppTls, OversizedAndInconsistentLengthsGiveNoName) {
    Bytes body = client_hello_body("evil.example");
    // The extensions block claims one byte more than the ClientHello holds.
    Bytes bad = body;
    size_t ext_at = 2 + 32 + 1 + 32 + 2 + 10 + 2;
    size_t ext_length = size_t{bad[ext_at]} << 8 | bad[ext_at + 1];
    bad[ext_at] = static_cast<uint8_t>((ext_length + 1) >> 8);
    bad[ext_at + 1] = static_cast<uint8_t>(ext_length + 1);
    EXPECT_EQ(orig_only(records(handshake_message(bad))).name_length, 0);
    // A server_name entry longer than its list.
    Bytes ext;
    Bytes list{0, 0, 200, 'a', 'b'};
    Bytes sni_body;
    put16(sni_body, list.size());
    append(sni_body, list);
    append(ext, extension(0, sni_body));
    Bytes h(2 + 32, 0);
    h.push_back(0);
    h.insert(h.end(), {0, 2, 0x13, 0x01, 1, 0});
    put16(h, ext.size());
    append(h, ext);
    EXPECT_EQ(orig_only(records(handshake_message(h))).name_length, 0);
    // An extension longer than the extensions block, a session id over 32 bytes, an odd cipher
    // list, a record beyond the TLS limit, a ClientHello shorter than its fixed fields.
    Bytes h2 = h;
    h2[h2.size() - ext.size() + 2] = 0x7F;  // extension length
    EXPECT_EQ(orig_only(records(handshake_message(h2))).name_length, 0);
    Bytes h3 = body;
    h3[34] = 33;
    EXPECT_EQ(orig_only(records(handshake_message(h3))).name_length, 0);
    Bytes h4 = body;
    h4[2 + 32 + 1 + 32 + 1] = 9;
    EXPECT_EQ(orig_only(records(handshake_message(h4))).name_length, 0);
    Bytes huge{0x16, 0x03, 0x01, 0xFF, 0xFF, 1, 0, 0, 50};
    EXPECT_EQ(orig_only(huge).proto, AppProto::none);
    EXPECT_EQ(orig_only(records(handshake_message(Bytes(10, 0)))).name_length, 0);
}

TEST(AppTls, NotAClientHello) {
    EXPECT_EQ(orig_only(records(handshake_message(client_hello_body("x.example"), 2))).proto,
              AppProto::none);  // ServerHello type
    Bytes alert{0x15, 0x03, 0x03, 0, 2, 2, 40};
    EXPECT_EQ(orig_only(alert).proto, AppProto::none);
    Bytes v2{0x16, 0x02, 0x00, 0, 5, 1, 0, 0, 1, 0};
    EXPECT_EQ(orig_only(v2).proto, AppProto::none);
}

TEST(AppHttp, MethodAndHostAnywhereInTheHeaders) {
    AppIdentity a = orig_only(text("GET /index.html HTTP/1.1\r\nUser-Agent: curl/8\r\nhOsT:  "
                                   "shop.example:8080 \r\nAccept: */*\r\n\r\n"),
                              80);
    EXPECT_EQ(a.proto, AppProto::http);
    EXPECT_EQ(http_method_names[a.method], "GET");
    EXPECT_EQ(a.name_view(), "shop.example:8080");
    a = orig_only(text("OPTIONS * HTTP/1.1\nHost: h\n\n"), 80);
    EXPECT_EQ(http_method_names[a.method], "OPTIONS");
    EXPECT_EQ(a.name_view(), "h");
    // Hostname is not Host; a Host after the headers end is body.
    a = orig_only(text("POST /x HTTP/1.1\r\nHostname: no\r\nHosts: no\r\n\r\nHost: body\r\n"), 80);
    EXPECT_EQ(http_method_names[a.method], "POST");
    EXPECT_EQ(a.name_length, 0);
}

TEST(AppHttp, SplitAnywhere) {
    Bytes request = text("DELETE /r HTTP/1.1\r\nAccept: x\r\nHost: split.example\r\n\r\n");
    for (size_t cut = 1; cut < request.size(); ++cut) {
        AppRecord r;
        r.reset();
        if (r.feed_orig(request.data(), static_cast<uint32_t>(cut)))
            r.feed_orig(request.data() + cut, static_cast<uint32_t>(request.size() - cut));
        AppIdentity a = r.identity(80);
        ASSERT_EQ(a.name_view(), "split.example") << cut;
        ASSERT_EQ(http_method_names[a.method], "DELETE") << cut;
    }
}

TEST(AppHttp, NotARequest) {
    EXPECT_EQ(orig_only(text("EHLO client.example\r\n"), 25).proto, AppProto::none);
    EXPECT_EQ(orig_only(text("GETX / HTTP/1.1\r\n"), 80).proto, AppProto::none);
    EXPECT_EQ(orig_only(text("get / HTTP/1.1\r\n"), 80).proto, AppProto::none);
    EXPECT_EQ(orig_only(text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 80).proto, AppProto::none);
    EXPECT_EQ(orig_only(text("\x00\x01GET"), 80).proto, AppProto::none);
}

TEST(AppHttp, StatusLine) {
    AppRecord r;
    r.reset();
    Bytes request = text("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    Bytes reply = text("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n");
    r.feed_orig(request.data(), static_cast<uint32_t>(request.size()));
    r.feed_resp(reply.data(), 7);
    r.feed_resp(reply.data() + 7, static_cast<uint32_t>(reply.size() - 7));
    AppIdentity a = r.identity(80);
    EXPECT_EQ(a.proto, AppProto::http);
    EXPECT_EQ(a.status, 503);
    EXPECT_EQ(a.name_view(), "a.example");
    EXPECT_EQ(a.banner_length, 0);
    EXPECT_EQ(resp_first(text("HTTP/1.0 200\r\n"), 8080).status, 200);
    EXPECT_EQ(resp_first(text("HTTP/1.1 999 Nope\r\n"), 80).status, 0);
    EXPECT_EQ(resp_first(text("HTTP/1.1 20 short\r\n"), 80).status, 0);
    EXPECT_EQ(resp_first(text("HTTP/2 200\r\n"), 80).status, 0);
}

// A slot's record is reused by every connection that takes it over, and reset() clears only the
// parsers' states and the lengths (flow_tracker.h, AppSlot): what the previous holder found must
// not show through, not even as bytes past a length.
TEST(AppRecordReuse, ResetLeavesNothingOfThePreviousHolder) {
    AppRecord r;
    r.reset();
    Bytes hello = records(handshake_message(client_hello_body("a-long-previous-name.example.org")));
    Bytes greeting = text("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    r.feed_orig(hello.data(), static_cast<uint32_t>(hello.size()));
    r.feed_resp(greeting.data(), static_cast<uint32_t>(greeting.size()));
    ASSERT_EQ(r.identity(443).name_view(), "a-long-previous-name.example.org");
    ASSERT_EQ(r.resp.line_length, greeting.size() - 2);  // kept, though TLS names no banner

    r.reset();
    AppIdentity none = r.identity(443);
    EXPECT_EQ(none.proto, AppProto::none);
    EXPECT_EQ(none.method, 0);
    EXPECT_EQ(none.status, 0);
    EXPECT_EQ(none.name_length, 0);
    EXPECT_EQ(none.banner_length, 0);
    EXPECT_EQ(none.flags, 0);
    for (char c : none.name)
        EXPECT_EQ(c, 0);
    for (char c : none.banner)
        EXPECT_EQ(c, 0);

    Bytes request = text("GET / HTTP/1.1\r\nHost: b.example\r\n\r\n");
    r.feed_orig(request.data(), static_cast<uint32_t>(request.size()));
    AppIdentity next = r.identity(80);
    EXPECT_EQ(next.proto, AppProto::http);
    EXPECT_EQ(next.name_view(), "b.example");
    EXPECT_EQ(next.banner_length, 0);
    for (size_t i = next.name_length; i < app_name_capacity; ++i)
        EXPECT_EQ(next.name[i], 0) << "name byte " << i;
    for (char c : next.banner)
        EXPECT_EQ(c, 0);
}

TEST(AppBanner, EachServerGreeting) {
    struct Case {
        const char* greeting;
        uint16_t port;
        AppProto proto;
        const char* banner;
    } cases[] = {
        {"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n", 2525, AppProto::smtp,
         "220 mail.example.com ESMTP Postfix (Debian/GNU)"},
        {"220 (vsFTPd 3.0.3)\r\n", 2100, AppProto::ftp, "220 (vsFTPd 3.0.3)"},
        {"421 Too many connections\r\n", 21, AppProto::ftp, "421 Too many connections"},
        {"421 4.3.2 Service not available\r\n", 25, AppProto::smtp,
         "421 4.3.2 Service not available"},
        {"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", 22, AppProto::ssh,
         "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
        {"+OK Dovecot (Debian) ready.\r\n", 110, AppProto::pop3, "+OK Dovecot (Debian) ready."},
        {"* OK IMAP4rev1 ready\r\n", 143, AppProto::imap, "* OK IMAP4rev1 ready"},
    };
    for (const Case& c : cases) {
        AppIdentity a = resp_first(text(c.greeting), c.port);
        EXPECT_EQ(a.proto, c.proto) << c.greeting;
        EXPECT_EQ(a.banner_view(), c.banner) << c.greeting;
        EXPECT_EQ(a.flags, 0) << c.greeting;
    }
    // Unknown: a numbered greeting on no mail or file port, a line of nothing known.
    EXPECT_EQ(resp_first(text("220 welcome\r\n"), 9000).proto, AppProto::none);
    EXPECT_EQ(resp_first(text("hello\r\n"), 25).proto, AppProto::none);
}

TEST(AppBanner, LongGreetingIsCut) {
    std::string greeting =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
        "LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n";
    AppIdentity a = resp_first(text(greeting), 143);
    EXPECT_EQ(a.proto, AppProto::imap);
    EXPECT_EQ(a.banner_view(), greeting.substr(0, app_banner_capacity));
    EXPECT_TRUE(a.flags & app_flag::banner_cut);
}

TEST(AppBanner, ARepliesToTheClientIsNoGreeting) {
    // Redis answering a client command with "+OK" is not POP3: the client spoke first.
    AppRecord r;
    r.reset();
    Bytes command = text("*1\r\n$4\r\nPING\r\n");
    Bytes reply = text("+OK\r\n");
    r.feed_orig(command.data(), static_cast<uint32_t>(command.size()));
    r.feed_resp(reply.data(), static_cast<uint32_t>(reply.size()));
    EXPECT_EQ(r.identity(110).proto, AppProto::none);
}

TEST(AppLimits, ParsersStopAfterTheirBytes) {
    Bytes request = text("GET / HTTP/1.1\r\n");
    for (int i = 0; i < 300; ++i) {
        Bytes header = text("X-Filler: 0123456789\r\n");
        append(request, header);
    }
    append(request, text("Host: too.late\r\n\r\n"));
    ASSERT_GT(request.size(), app_parse_max_bytes);
    AppIdentity a = orig_only(request, 80);
    EXPECT_EQ(a.proto, AppProto::http);
    EXPECT_EQ(a.name_length, 0);
}

// Through the flow tracker: segments, a retransmission, a gap, and the event's JSON.
class TrackerWithApps : public testing::Test {
  protected:
    void SetUp() override {
        config_.linger_ns = 0;
        config_.flow_capacity = 1024;
        config_.linger_capacity = 64;
        config_.app_capacity = 16;
        tracker_ = std::make_unique<FlowTracker>(config_, counters_);
    }

    void send(bool from_client, uint8_t flags, const Bytes& data, uint32_t seq_offset = 0,
              bool advance = true) {
        DecodedPacket p;
        uint8_t a[4] = {198, 51, 100, 1}, b[4] = {203, 0, 113, 2};
        p.ts_ns = ++ts_ms_ * 1'000'000;
        p.family = IpFamily::v4;
        p.src = IpAddress::from_v4(from_client ? a : b);
        p.dst = IpAddress::from_v4(from_client ? b : a);
        p.src_port = from_client ? 40000 : port_;
        p.dst_port = from_client ? port_ : 40000;
        p.tcp_flags = flags;
        uint32_t& next = from_client ? client_seq_ : server_seq_;
        p.seq = next + seq_offset;
        p.ack = from_client ? server_seq_ : client_seq_;
        p.window = 65535;
        p.ttl = 64;
        p.payload = data.data();
        p.payload_length = static_cast<uint32_t>(data.size());
        p.payload_captured = static_cast<uint16_t>(data.size());
        if (advance && !(flags & rst))
            next += seq_offset + p.payload_length + ((flags & (syn | fin)) ? 1 : 0);
        tracker_->process(p);
    }

    void handshake() {
        send(true, syn, {});
        send(false, syn | ack, {});
        send(true, ack, {});
    }

    std::string reset_line() {
        send(false, rst | ack, {});
        EXPECT_EQ(tracker_->event_count(), 1u);
        return event_json(tracker_->events()[0], {});
    }

    TrackerConfig config_;
    WorkerCounters counters_;
    std::unique_ptr<FlowTracker> tracker_;
    uint32_t client_seq_ = 1000;
    uint32_t server_seq_ = 5000;
    uint64_t ts_ms_ = 0;
    uint16_t port_ = 443;
};

TEST_F(TrackerWithApps, SniOverThreeSegmentsWithARetransmission) {
    handshake();
    Bytes hello = records(handshake_message(client_hello_body("shop.example")));
    const long third = static_cast<long>(hello.size() / 3);
    Bytes one(hello.begin(), hello.begin() + third),
        two(hello.begin() + third, hello.begin() + 2 * third),
        three(hello.begin() + 2 * third, hello.end());
    send(true, ack, one);
    send(true, ack, one, static_cast<uint32_t>(-third), false);  // the first one again
    send(true, ack, two);
    send(true, ack | psh, three);
    std::string line = reset_line();
    EXPECT_NE(line.find(",\"app\":{\"proto\":\"tls\",\"sni\":\"shop.example\"}}"),
              std::string::npos)
        << line;
}

TEST_F(TrackerWithApps, AGapEndsTheParse) {
    handshake();
    Bytes hello = records(handshake_message(client_hello_body("gap.example")));
    const long third = static_cast<long>(hello.size() / 3);
    Bytes one(hello.begin(), hello.begin() + third), three(hello.begin() + 2 * third, hello.end());
    send(true, ack, one);
    send(true, ack | psh, three, static_cast<uint32_t>(third));  // a third never seen
    std::string line = reset_line();
    EXPECT_NE(line.find(",\"app\":{\"proto\":\"tls\"}"), std::string::npos) << line;
    EXPECT_EQ(counters_.get(WorkerCounter::app_gaps), 1u);
}

TEST_F(TrackerWithApps, HttpRequestAndStatus) {
    port_ = 80;
    handshake();
    send(true, ack | psh, text("GET /a HTTP/1.1\r\nHost: www.example\r\n\r\n"));
    send(false, ack | psh, text("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
    std::string line = reset_line();
    EXPECT_NE(line.find(",\"app\":{\"proto\":\"http\",\"method\":\"GET\",\"host\":\"www.example\","
                        "\"status\":503}}"),
              std::string::npos)
        << line;
}

TEST_F(TrackerWithApps, BannerWithEscapes) {
    port_ = 25;
    handshake();
    send(false, ack | psh, text("220 mx.example \"quoted\" ESMTP\r\n"));
    std::string line = reset_line();
    EXPECT_NE(line.find(",\"app\":{\"proto\":\"smtp\",\"banner\":\"220 mx.example \\\"quoted\\\" "
                        "ESMTP\"}}"),
              std::string::npos)
        << line;
}

TEST_F(TrackerWithApps, WithoutAppTableNoApp) {
    config_.app_capacity = 0;
    tracker_ = std::make_unique<FlowTracker>(config_, counters_);
    port_ = 80;
    handshake();
    send(true, ack | psh, text("GET /a HTTP/1.1\r\nHost: www.example\r\n\r\n"));
    EXPECT_EQ(reset_line().find("\"app\""), std::string::npos);
}

TEST_F(TrackerWithApps, ANewerConnectionTakesTheSlotAndIsCounted) {
    config_.app_capacity = 1;
    tracker_ = std::make_unique<FlowTracker>(config_, counters_);
    port_ = 80;
    handshake();
    send(true, ack | psh, text("GET /a HTTP/1.1\r\nUser-Agent: x\r\n"));  // Host still to come
    // Another connection (another client port) starts sending and takes the only slot.
    DecodedPacket p;
    uint8_t a[4] = {198, 51, 100, 9}, b[4] = {203, 0, 113, 2};
    Bytes request = text("HEAD / HTTP/1.1\r\nHost: other\r\n\r\n");
    p.ts_ns = ++ts_ms_ * 1'000'000;
    p.family = IpFamily::v4;
    p.src = IpAddress::from_v4(a);
    p.dst = IpAddress::from_v4(b);
    p.src_port = 40001;
    p.dst_port = 80;
    p.tcp_flags = ack | psh;
    p.seq = 1;
    p.ack = 1;
    p.window = 100;
    p.ttl = 64;
    p.payload = request.data();
    p.payload_length = p.payload_captured = static_cast<uint16_t>(request.size());
    tracker_->process(p);
    EXPECT_EQ(counters_.get(WorkerCounter::app_slots_reused), 1u);
    send(true, ack | psh, text("Host: first\r\n\r\n"));
    EXPECT_EQ(reset_line().find("\"app\""), std::string::npos);
}

}  // namespace
}  // namespace rstscope
