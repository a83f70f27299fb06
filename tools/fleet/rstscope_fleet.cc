// SPDX-License-Identifier: BSD-3-Clause
// rstscope-fleet: the fleet's side of NATS JetStream (docs/fleet.md).
//   stream  creates or updates the stream the appliances publish to (file storage, replicas,
//           max age/bytes, discard old, the duplicate window), so set-up is one command;
//   read    a pull consumer over every appliance's subjects (or a site, an appliance, a cause),
//           from the start, a stream sequence or a time; writes the merged event lines and/or
//           loads them in batches into PostgreSQL (--pg), acknowledging a batch only once it is
//           committed, into a table whose key (appliance, boot, seq) makes a second load of the
//           same events a no-op; and/or into ClickHouse over its HTTP interface (--clickhouse),
//           a ReplacingMergeTree on the same key, where a second copy goes at the next merge.
// Every call to the server is bounded (--timeout); SIGINT/SIGTERM end a read after its batch.
#include <libpq-fe.h>
#include <nats/nats.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <algorithm>
#include <deque>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rstscope/mgmt/event_parse.h"
#include "rstscope/mgmt/findings.h"

namespace {

std::atomic<bool> stop_requested{false};
void on_stop(int) {
    stop_requested.store(true);
}

constexpr int exit_usage = 2;
constexpr int exit_failure = 1;

const char* usage_text = R"(usage: rstscope-fleet COMMAND [OPTIONS]

  stream  create or update the JetStream stream of the appliances' events
      --server URLS         nats://HOST:PORT[,...] (required)
      --stream NAME         stream name, 1-64 of [A-Za-z0-9_-] (default RSTSCOPE)
      --prefix PREFIX       subject prefix the appliances use (default rstscope.events)
      --replicas N          1 to 5 (default 1; 3 on a three-node cluster)
      --storage KIND        file or memory (default file)
      --max-age SECONDS     0 (no limit) to 315360000 (default 0)
      --max-bytes BYTES     0 (no limit) to 2^62 (default 0); oldest messages go first
      --duplicate-window S  1 to 86400 seconds (default 120): longer than the longest resend
  read    write the merged event stream and/or load it into PostgreSQL or ClickHouse
      --server URLS         nats://HOST:PORT[,...] (required)
      --stream NAME         (default RSTSCOPE)
      --prefix PREFIX       (default rstscope.events)
      --site S --appliance A --cause C   subject filter (each 1-64 of [A-Za-z0-9_-])
      --from-seq N          start at stream sequence N (1 to 2^63)
      --from-time SECONDS   start at this Unix time (0 to 2^33)
      --durable NAME        a durable consumer: a later read resumes after the last ack
      --out FILE            write the event lines here (- for stdout, the default without --pg)
      --pg CONNINFO         load into PostgreSQL (libpq connection string)
      --clickhouse URL      load into ClickHouse over HTTP: http://HOST:PORT (its HTTP port)
      --table NAME          table for --pg/--clickhouse (default resets; 1-63 of [a-z0-9_])
      --batch N             messages per fetch and per store transaction, 1 to 1024 (default 64)
      --idle SECONDS        stop after this long without a message, 0.1 to 86400 (default 2);
                            0 follows the stream until SIGINT/SIGTERM
      --max-events N        stop after N event lines (0: no limit, the default)
      --findings FILE       run the findings (docs/findings.md) over the merged events of every
                            appliance read and write their records here (- for stdout)
      --timeout SECONDS     bound of each server request, 0.1 to 600 (default 5)
)";

struct Args {
    std::string command;
    std::map<std::string, std::string> values;
};

bool token_ok(const std::string& s, size_t max = 64) {
    if (s.empty() || s.size() > max) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
}

bool prefix_ok(const std::string& s) {
    if (s.empty() || s.size() > 128) return false;
    size_t start = 0;
    for (;;) {
        size_t dot = s.find('.', start);
        if (!token_ok(s.substr(start, dot - start))) return false;
        if (dot == std::string::npos) return true;
        start = dot + 1;
    }
}

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "rstscope-fleet: %s\n%s", message.c_str(), usage_text);
    std::exit(exit_usage);
}

std::optional<double> number_in(const Args& a, const std::string& key, double min, double max) {
    auto it = a.values.find(key);
    if (it == a.values.end()) return std::nullopt;
    const std::string& text = it->second;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end || errno || !(v >= min && v <= max))
        usage_error(fmt::format("--{} {}: expected {} to {}", key, text, min, max));
    return v;
}

std::string text_of(const Args& a, const std::string& key, const std::string& fallback) {
    auto it = a.values.find(key);
    return it == a.values.end() ? fallback : it->second;
}

Args parse(int argc, char** argv, const std::vector<std::string>& known) {
    Args a;
    if (argc < 2) usage_error("a command is needed");
    a.command = argv[1];
    if (a.command == "--help" || a.command == "-h") {
        std::fputs(usage_text, stdout);
        std::exit(0);
    }
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        }
        if (arg.rfind("--", 0) != 0) usage_error("unexpected argument " + arg);
        std::string key = arg.substr(2), value;
        if (size_t eq = key.find('='); eq != std::string::npos) {
            value = key.substr(eq + 1);
            key.resize(eq);
        } else {
            if (i + 1 >= argc) usage_error("--" + key + " needs a value");
            value = argv[++i];
        }
        bool ok = false;
        for (const std::string& k : known)
            ok = ok || k == key;
        if (!ok) usage_error("unknown option --" + key + " for " + a.command);
        if (a.values.count(key)) usage_error("--" + key + " given twice");
        a.values[key] = value;
    }
    if (!a.values.count("server")) usage_error("--server is required");
    return a;
}

// A connection that gives up after `timeout_ms` at start, reconnects while reading.
struct Nats {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    ~Nats() {
        if (js) jsCtx_Destroy(js);
        if (nc) {
            natsConnection_Close(nc);
            natsConnection_Destroy(nc);
        }
        nats_CloseAndWait(2000);
    }
    bool open(const std::string& servers, int64_t timeout_ms) {
        std::vector<std::string> urls;
        size_t start = 0;
        for (;;) {
            size_t comma = servers.find(',', start);
            urls.push_back(servers.substr(start, comma - start));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        std::vector<const char*> list;
        for (auto& u : urls)
            list.push_back(u.c_str());
        natsOptions* opts = nullptr;
        natsStatus s = natsOptions_Create(&opts);
        if (s == NATS_OK) s = natsOptions_SetServers(opts, list.data(), int(list.size()));
        if (s == NATS_OK) s = natsOptions_SetTimeout(opts, timeout_ms);
        if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
        if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
        if (s == NATS_OK) s = natsOptions_SetName(opts, "rstscope-fleet");
        if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
        if (opts) natsOptions_Destroy(opts);
        if (s == NATS_OK) {
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.Wait = timeout_ms;
            s = natsConnection_JetStream(&js, nc, &jo);
        }
        if (s != NATS_OK) {
            std::fprintf(stderr, "rstscope-fleet: cannot connect to %s: %s\n", servers.c_str(),
                         natsStatus_GetText(s));
            return false;
        }
        return true;
    }
};

int stream_command(int argc, char** argv) {
    Args a = parse(argc, argv,
                   {"server", "stream", "prefix", "replicas", "storage", "max-age", "max-bytes",
                    "duplicate-window", "timeout"});
    std::string name = text_of(a, "stream", "RSTSCOPE");
    std::string prefix = text_of(a, "prefix", "rstscope.events");
    if (!token_ok(name)) usage_error("--stream: 1 to 64 of [A-Za-z0-9_-]");
    if (!prefix_ok(prefix)) usage_error("--prefix: dot-separated tokens of [A-Za-z0-9_-]");
    auto replicas = static_cast<int64_t>(number_in(a, "replicas", 1, 5).value_or(1));
    std::string storage = text_of(a, "storage", "file");
    if (storage != "file" && storage != "memory") usage_error("--storage: file or memory");
    double max_age = number_in(a, "max-age", 0, 315360000).value_or(0);
    double max_bytes = number_in(a, "max-bytes", 0, 4.6e18).value_or(0);
    double window = number_in(a, "duplicate-window", 1, 86400).value_or(120);
    double timeout = number_in(a, "timeout", 0.1, 600).value_or(5);
    Nats nats;
    if (!nats.open(a.values["server"], static_cast<int64_t>(timeout * 1000))) return exit_failure;
    std::string subject = prefix + ".>";
    const char* subjects[] = {subject.c_str()};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = storage == "file" ? js_FileStorage : js_MemoryStorage;
    cfg.Replicas = replicas;
    cfg.MaxAge = static_cast<int64_t>(max_age * 1e9);
    cfg.MaxBytes = max_bytes > 0 ? static_cast<int64_t>(max_bytes) : -1;
    cfg.Discard = js_DiscardOld;
    cfg.Duplicates = static_cast<int64_t>(window * 1e9);
    jsStreamInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&info, nats.js, &cfg, nullptr, &jerr);
    const char* action = "created";
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        s = js_UpdateStream(&info, nats.js, &cfg, nullptr, &jerr);
        action = "updated";
    }
    if (s != NATS_OK) {
        std::fprintf(stderr, "rstscope-fleet: stream %s: %s (%s, JetStream error %d)\n",
                     name.c_str(), natsStatus_GetText(s), nats_GetLastError(nullptr), int(jerr));
        if (jerr == JSStorageResourcesExceededErr)
            std::fprintf(
                stderr,
                "rstscope-fleet: the server cannot reserve --max-bytes %.0f: its JetStream "
                "storage limit (max_file_store or max_memory_store; by default 75 %% of "
                "the free disk or memory) is smaller; lower --max-bytes or raise the "
                "limit\n",
                max_bytes);
        return exit_failure;
    }
    const char* leader = info->Cluster && info->Cluster->Leader ? info->Cluster->Leader : "";
    std::printf(
        "{\"stream\":\"%s\",\"%s\":true,\"subjects\":\"%s\",\"replicas\":%lld,\"storage\":\"%s\","
        "\"messages\":%llu,\"leader\":\"%s\"}\n",
        name.c_str(), action, subject.c_str(), static_cast<long long>(info->Config->Replicas),
        storage.c_str(), static_cast<unsigned long long>(info->State.Msgs), leader);
    jsStreamInfo_Destroy(info);
    return 0;
}

// PostgreSQL: one table, keyed by (appliance, boot, seq); each batch is copied into a temporary
// table and inserted with ON CONFLICT DO NOTHING, in one transaction.
class PgSink {
  public:
    ~PgSink() {
        if (conn_) PQfinish(conn_);
    }
    bool open(const std::string& conninfo, const std::string& table) {
        table_ = table;
        conn_ = PQconnectdb(conninfo.c_str());
        if (PQstatus(conn_) != CONNECTION_OK) return fail("connect");
        return exec(
            fmt::format("CREATE TABLE IF NOT EXISTS {0} ("
                        " appliance text NOT NULL, boot bigint NOT NULL, seq bigint NOT NULL,"
                        " site text NOT NULL, stream_seq bigint NOT NULL, ts timestamptz NOT NULL,"
                        " orig_h inet, orig_p integer, resp_h inet, resp_p integer, cause text,"
                        " conn_state text, rst_by text, confidence text, event jsonb NOT NULL,"
                        " PRIMARY KEY (appliance, boot, seq));"
                        "CREATE INDEX IF NOT EXISTS {0}_ts ON {0} (ts);"
                        "CREATE INDEX IF NOT EXISTS {0}_resp_h ON {0} (resp_h, ts);"
                        "CREATE INDEX IF NOT EXISTS {0}_orig_h ON {0} (orig_h, ts);"
                        "CREATE INDEX IF NOT EXISTS {0}_cause ON {0} (cause, ts);",
                        table_));
    }
    struct Row {
        std::string site;
        uint64_t stream_seq;
        std::string line;
    };
    // One transaction; true once committed.
    bool load(const std::vector<Row>& rows) {
        if (rows.empty()) return true;
        if (!exec("BEGIN; CREATE TEMP TABLE IF NOT EXISTS incoming (site text, stream_seq bigint,"
                  " line jsonb) ON COMMIT DELETE ROWS;"))
            return false;
        PGresult* r = PQexec(conn_, "COPY incoming FROM STDIN");
        bool ok = PQresultStatus(r) == PGRES_COPY_IN;
        PQclear(r);
        if (!ok) return fail("copy");
        std::string buf;
        for (const Row& row : rows) {
            buf += row.site;
            buf += '\t';
            buf += std::to_string(row.stream_seq);
            buf += '\t';
            for (char c : row.line) {  // COPY text format: backslash is its escape
                if (c == '\\') buf += '\\';
                buf += c;
            }
            buf += '\n';
        }
        if (PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1 ||
            PQputCopyEnd(conn_, nullptr) != 1)
            return fail("copy data");
        r = PQgetResult(conn_);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        while ((r = PQgetResult(conn_)))
            PQclear(r);
        if (!ok) return fail("copy end");
        return exec(fmt::format(
            "INSERT INTO {} SELECT line->>'appliance', (line->>'boot')::bigint,"
            " (line->>'seq')::bigint, site, stream_seq, to_timestamp((line->>'ts')::float8),"
            " (line->>'orig_h')::inet, (line->>'orig_p')::int, (line->>'resp_h')::inet,"
            " (line->>'resp_p')::int, line->>'cause', line->>'conn_state', line->>'rst_by',"
            " line->>'confidence', line FROM incoming ON CONFLICT DO NOTHING; COMMIT;",
            table_));
    }

  private:
    bool exec(const std::string& sql) {
        PGresult* r = PQexec(conn_, sql.c_str());
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) {
            fail("query");
            PQclear(PQexec(conn_, "ROLLBACK"));
        }
        return ok;
    }
    bool fail(const char* what) {
        std::fprintf(stderr, "rstscope-fleet: PostgreSQL %s: %s", what, PQerrorMessage(conn_));
        return false;
    }
    PGconn* conn_ = nullptr;
    std::string table_;
};

// ClickHouse over its HTTP interface (one connection per request, every socket call bounded by
// --timeout): a ReplacingMergeTree keyed (appliance, boot, seq). A batch is acknowledged to the
// stream once ClickHouse answered 200 to its INSERT; a batch delivered again (a crash between the
// insert and the ack, a second load) is stored again and its copy removed when parts merge, so
// exact counts read the table with FINAL (or after OPTIMIZE TABLE ... FINAL). The schema uses
// only what ClickHouse 18.16 (Debian 12) has and current releases keep: String addresses, no
// LowCardinality, no DateTime64, MergeTree's PARTITION BY / ORDER BY form.
class ClickHouseSink {
  public:
    bool open(const std::string& url, const std::string& table, double timeout) {
        table_ = table;
        timeout_ = timeout;
        std::string rest = url;
        if (rest.rfind("http://", 0) != 0) return bad_url(url);
        rest = rest.substr(7);
        if (!rest.empty() && rest.back() == '/') rest.pop_back();
        size_t colon = rest.rfind(':');
        if (colon == std::string::npos || colon == 0 || rest.find('/') != std::string::npos)
            return bad_url(url);
        host_ = rest.substr(0, colon);
        port_ = rest.substr(colon + 1);
        char* end = nullptr;
        long port = std::strtol(port_.c_str(), &end, 10);
        if (port_.empty() || *end || port < 1 || port > 65535) return bad_url(url);
        return post("",
                    fmt::format("CREATE TABLE IF NOT EXISTS {} ("
                                " appliance String, boot UInt64, seq UInt64, site String,"
                                " stream_seq UInt64, ts Float64, orig_h String, orig_p UInt16,"
                                " resp_h String, resp_p UInt16, cause String, conn_state String,"
                                " rst_by String, confidence String, event String,"
                                " day Date MATERIALIZED toDate(toDateTime(toUInt32(ts))))"
                                " ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(day)"
                                " ORDER BY (appliance, boot, seq)",
                                table_));
    }
    // One INSERT of the batch as JSONEachRow; true once ClickHouse answered 200.
    bool load(const std::vector<PgSink::Row>& rows) {
        if (rows.empty()) return true;
        std::string body;
        for (const PgSink::Row& row : rows) {
            nlohmann::json e = nlohmann::json::parse(row.line, nullptr, false);
            if (!e.is_object()) {
                std::fprintf(stderr, "rstscope-fleet: ClickHouse: not a JSON event: %.200s\n",
                             row.line.c_str());
                return false;
            }
            nlohmann::json r;
            try {
                r = {{"appliance", e.value("appliance", "")},
                     {"boot", e.value("boot", uint64_t{0})},
                     {"seq", e.value("seq", uint64_t{0})},
                     {"site", row.site},
                     {"stream_seq", row.stream_seq},
                     {"ts", e.value("ts", 0.0)},
                     {"orig_h", e.value("orig_h", "")},
                     {"orig_p", e.value("orig_p", 0)},
                     {"resp_h", e.value("resp_h", "")},
                     {"resp_p", e.value("resp_p", 0)},
                     {"cause", e.value("cause", "")},
                     {"conn_state", e.value("conn_state", "")},
                     {"rst_by", e.value("rst_by", "")},
                     {"confidence", e.value("confidence", "")},
                     {"event", row.line}};
            } catch (const nlohmann::json::exception& ex) {
                std::fprintf(stderr, "rstscope-fleet: ClickHouse: event field: %s\n", ex.what());
                return false;
            }
            body += r.dump();
            body += '\n';
        }
        return post(fmt::format("INSERT INTO {} FORMAT JSONEachRow", table_), body);
    }

  private:
    bool bad_url(const std::string& url) {
        std::fprintf(stderr, "rstscope-fleet: --clickhouse %s: expected http://HOST:PORT\n",
                     url.c_str());
        return false;
    }
    // POST body to /?query=QUERY (QUERY empty: the body is the query); true on HTTP 200.
    bool post(const std::string& query, const std::string& body) {
        std::string target = "/";
        if (!query.empty()) {
            target += "?query=";
            for (unsigned char c : query) {
                if (std::isalnum(c) || c == '-' || c == '_' || c == '.')
                    target += static_cast<char>(c);
                else
                    target += fmt::format("%{:02X}", c);
            }
        }
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* ai = nullptr;
        if (int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &ai); rc != 0)
            return fail(fmt::format("{}: {}", host_, gai_strerror(rc)));
        int fd = -1;
        for (addrinfo* p = ai; p && fd < 0; p = p->ai_next) {
            fd = socket(p->ai_family, p->ai_socktype, p->ai_protocol);
            if (fd < 0) continue;
            timeval tv{};
            tv.tv_sec = static_cast<time_t>(timeout_);
            tv.tv_usec =
                static_cast<suseconds_t>((timeout_ - static_cast<double>(tv.tv_sec)) * 1e6);
            // On Linux SO_SNDTIMEO bounds connect() too.
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
                close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(ai);
        if (fd < 0)
            return fail(fmt::format("connect {}:{}: {}", host_, port_, std::strerror(errno)));
        std::string request = fmt::format(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: text/plain\r\n"
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            target, host_, port_, body.size());
        request += body;
        size_t sent = 0;
        while (sent < request.size()) {
            ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                close(fd);
                return fail(fmt::format("send: {}", n < 0 ? std::strerror(errno) : "closed"));
            }
            sent += static_cast<size_t>(n);
        }
        std::string answer;
        char buf[4096];
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                close(fd);
                return fail(fmt::format("no answer: {}", std::strerror(errno)));
            }
            if (n == 0 || answer.size() > (1u << 20)) break;
            answer.append(buf, static_cast<size_t>(n));
        }
        close(fd);
        // "HTTP/1.1 200 OK"
        if (answer.size() >= 12 && answer.compare(0, 5, "HTTP/") == 0 &&
            answer.compare(answer.find(' ') + 1, 3, "200") == 0)
            return true;
        size_t head_end = answer.find("\r\n\r\n");
        std::string detail = answer.substr(0, answer.find("\r\n"));
        if (head_end != std::string::npos) detail += ": " + answer.substr(head_end + 4, 300);
        return fail(detail.empty() ? std::string("no HTTP answer") : detail);
    }
    bool fail(const std::string& what) {
        std::fprintf(stderr, "rstscope-fleet: ClickHouse: %s\n", what.c_str());
        return false;
    }
    std::string host_, port_, table_;
    double timeout_ = 5;
};

// The cross-appliance findings: the findings engine of docs/findings.md, with its default
// thresholds, fed every appliance's events (each fetched batch in packet-time order). Events get
// fleet-wide ids (their number in this read); a finding record names its example events by
// appliance, site and seq in "fleet_examples", and how many appliances and sites they span.
class FleetFindings {
  public:
    explicit FleetFindings(std::FILE* out) : out_(out), engine_(rstscope::FindingThresholds{}) {}

    void add(std::string_view line, const std::string& site) {
        rstscope::ResetEvent e;
        if (!rstscope::parse_event_line(line, e)) {
            ++unparsed_;
            return;
        }
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        Ref ref{j.value("appliance", ""), site, j.value("seq", uint64_t{0})};
        e.id = next_id_++;
        refs_.push_back(std::move(ref));
        if (refs_.size() > max_refs) {
            refs_.pop_front();
            ++first_ref_id_;
        }
        pending_.push_back(e);
    }
    void flush() {
        std::stable_sort(pending_.begin(), pending_.end(),
                         [](const auto& a, const auto& b) { return a.ts_ns < b.ts_ns; });
        for (const rstscope::ResetEvent& e : pending_)
            engine_.add(e, records_);
        pending_.clear();
        write();
    }
    void finish() {
        flush();
        engine_.finish(records_);
        write();
    }
    uint64_t unparsed() const { return unparsed_; }

  private:
    static constexpr size_t max_refs = 1'000'000;
    struct Ref {
        std::string appliance, site;
        uint64_t seq;
    };
    void write() {
        for (const rstscope::FindingRecord& r : records_) {
            nlohmann::json j = nlohmann::json::parse(r.line, nullptr, false);
            if (j.is_discarded()) continue;
            nlohmann::json examples = nlohmann::json::array();
            std::vector<std::string> appliances, sites;
            for (const auto& id : j.value("example_events", nlohmann::json::array())) {
                uint64_t n = id.get<uint64_t>();
                if (n < first_ref_id_ || n - first_ref_id_ >= refs_.size()) continue;
                const Ref& ref = refs_[n - first_ref_id_];
                examples.push_back(
                    {{"appliance", ref.appliance}, {"site", ref.site}, {"seq", ref.seq}});
                appliances.push_back(ref.appliance);
                sites.push_back(ref.site);
            }
            auto distinct = [](std::vector<std::string>& v) {
                std::sort(v.begin(), v.end());
                return std::unique(v.begin(), v.end()) - v.begin();
            };
            j["fleet_examples"] = examples;
            j["example_appliances"] = distinct(appliances);
            j["example_sites"] = distinct(sites);
            std::string text = j.dump();
            std::fwrite(text.data(), 1, text.size(), out_);
            std::fputc('\n', out_);
        }
        records_.clear();
        std::fflush(out_);
    }
    std::FILE* out_;
    rstscope::FindingsEngine engine_;
    std::vector<rstscope::ResetEvent> pending_;
    std::vector<rstscope::FindingRecord> records_;
    std::deque<Ref> refs_;
    uint64_t next_id_ = 1, first_ref_id_ = 1, unparsed_ = 0;
};

// The site token of `<prefix>.<site>.<appliance>.<cause>`.
std::string site_of(const std::string& subject, size_t prefix_tokens) {
    size_t pos = 0;
    for (size_t i = 0; i < prefix_tokens; ++i) {
        pos = subject.find('.', pos);
        if (pos == std::string::npos) return {};
        ++pos;
    }
    return subject.substr(pos, subject.find('.', pos) - pos);
}

int read_command(int argc, char** argv) {
    Args a = parse(argc, argv,
                   {"server", "stream", "prefix", "site", "appliance", "cause", "from-seq",
                    "from-time", "durable", "out", "pg", "clickhouse", "table", "batch", "idle",
                    "max-events", "timeout", "findings"});
    std::string stream = text_of(a, "stream", "RSTSCOPE");
    std::string prefix = text_of(a, "prefix", "rstscope.events");
    if (!token_ok(stream)) usage_error("--stream: 1 to 64 of [A-Za-z0-9_-]");
    if (!prefix_ok(prefix)) usage_error("--prefix: dot-separated tokens of [A-Za-z0-9_-]");
    std::string filter = prefix;
    for (const char* key : {"site", "appliance", "cause"}) {
        std::string v = text_of(a, key, "*");
        if (v != "*" && !token_ok(v))
            usage_error(fmt::format("--{}: 1 to 64 of [A-Za-z0-9_-]", key));
        filter += "." + v;
    }
    std::string durable = text_of(a, "durable", "");
    if (!durable.empty() && !token_ok(durable)) usage_error("--durable: 1 to 64 of [A-Za-z0-9_-]");
    auto from_seq = number_in(a, "from-seq", 1, 9.2e18);
    auto from_time = number_in(a, "from-time", 0, 8589934592.0);
    if (from_seq && from_time) usage_error("--from-seq and --from-time exclude each other");
    auto batch = static_cast<int>(number_in(a, "batch", 1, 1024).value_or(64));
    double idle = a.values.count("idle") ? number_in(a, "idle", 0, 86400).value() : 2.0;
    if (idle > 0 && idle < 0.1) usage_error("--idle: 0, or 0.1 to 86400");
    auto max_events = static_cast<uint64_t>(number_in(a, "max-events", 0, 1e15).value_or(0));
    double timeout = number_in(a, "timeout", 0.1, 600).value_or(5);
    std::string table = text_of(a, "table", "resets");
    for (char c : table)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            usage_error("--table: 1 to 63 of [a-z0-9_]");
    if (table.empty() || table.size() > 63) usage_error("--table: 1 to 63 of [a-z0-9_]");
    bool to_pg = a.values.count("pg") > 0;
    bool to_ch = a.values.count("clickhouse") > 0;
    std::string out_path = text_of(a, "out", to_pg || to_ch ? "" : "-");

    std::FILE* out = nullptr;
    if (out_path == "-")
        out = stdout;
    else if (!out_path.empty() && !(out = std::fopen(out_path.c_str(), "w"))) {
        std::fprintf(stderr, "rstscope-fleet: cannot write %s: %s\n", out_path.c_str(),
                     std::strerror(errno));
        return exit_failure;
    }
    PgSink pg;
    if (to_pg && !pg.open(a.values["pg"], table)) return exit_failure;
    ClickHouseSink ch;
    if (to_ch && !ch.open(a.values["clickhouse"], table, timeout)) return exit_failure;
    std::unique_ptr<FleetFindings> findings;
    std::FILE* findings_out = nullptr;
    if (a.values.count("findings")) {
        const std::string& fpath = a.values["findings"];
        findings_out = fpath == "-" ? stdout : std::fopen(fpath.c_str(), "w");
        if (!findings_out) {
            std::fprintf(stderr, "rstscope-fleet: cannot write %s: %s\n", fpath.c_str(),
                         std::strerror(errno));
            return exit_failure;
        }
        findings = std::make_unique<FleetFindings>(findings_out);
    }

    Nats nats;
    if (!nats.open(a.values["server"], static_cast<int64_t>(timeout * 1000))) return exit_failure;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.ManualAck = true;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = 65536;
    if (from_seq) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = static_cast<uint64_t>(*from_seq);
    } else if (from_time) {
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = static_cast<int64_t>(*from_time * 1e9);
    } else {
        so.Config.DeliverPolicy = js_DeliverAll;
    }
    natsSubscription* sub = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s =
        js_PullSubscribe(&sub, nats.js, filter.c_str(), durable.empty() ? nullptr : durable.c_str(),
                         nullptr, &so, &jerr);
    if (s != NATS_OK) {
        std::fprintf(stderr, "rstscope-fleet: cannot consume %s from %s: %s (%s)\n", filter.c_str(),
                     stream.c_str(), natsStatus_GetText(s), nats_GetLastError(nullptr));
        return exit_failure;
    }
    size_t prefix_tokens = 1 + std::count(prefix.begin(), prefix.end(), '.');
    uint64_t events = 0, messages = 0, load_failures = 0;
    auto last_message = std::chrono::steady_clock::now();
    int status = 0;
    while (!stop_requested.load()) {
        natsMsgList list{};
        int64_t wait_ms =
            idle > 0 ? std::min<int64_t>(1000, static_cast<int64_t>(idle * 1000)) : 1000;
        s = natsSubscription_Fetch(&list, sub, batch, wait_ms, &jerr);
        if (s == NATS_TIMEOUT || list.Count == 0) {
            natsMsgList_Destroy(&list);
            auto quiet = std::chrono::steady_clock::now() - last_message;
            if (idle > 0 && quiet >= std::chrono::duration<double>(idle)) break;
            continue;
        }
        last_message = std::chrono::steady_clock::now();
        std::vector<PgSink::Row> rows;
        for (int i = 0; i < list.Count; ++i) {
            natsMsg* m = list.Msgs[i];
            jsMsgMetaData* meta = nullptr;
            uint64_t stream_seq = 0;
            if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
                stream_seq = meta->Sequence.Stream;
                jsMsgMetaData_Destroy(meta);
            }
            std::string site = site_of(natsMsg_GetSubject(m), prefix_tokens);
            std::string_view data(natsMsg_GetData(m),
                                  static_cast<size_t>(natsMsg_GetDataLength(m)));
            size_t start = 0;
            while (start < data.size()) {
                size_t nl = data.find('\n', start);
                if (nl == std::string_view::npos) nl = data.size();
                std::string_view line = data.substr(start, nl - start);
                start = nl + 1;
                if (line.empty()) continue;
                ++events;
                if (out) {
                    std::fwrite(line.data(), 1, line.size(), out);
                    std::fputc('\n', out);
                }
                if (to_pg || to_ch) rows.push_back({site, stream_seq, std::string(line)});
                if (findings) findings->add(line, site);
            }
        }
        if (findings) findings->flush();
        bool stored = (!to_pg || pg.load(rows)) && (!to_ch || ch.load(rows));
        if (out) std::fflush(out);
        for (int i = 0; i < list.Count; ++i) {
            if (stored)
                natsMsg_Ack(list.Msgs[i], nullptr);
            else
                natsMsg_Nak(list.Msgs[i], nullptr);
        }
        messages += static_cast<uint64_t>(list.Count);
        natsMsgList_Destroy(&list);
        // --idle counts time without messages, not the time a batch took to store.
        last_message = std::chrono::steady_clock::now();
        if (!stored) {
            ++load_failures;
            status = exit_failure;
            break;
        }
        if (max_events && events >= max_events) break;
    }
    natsSubscription_Destroy(sub);
    if (findings) {
        findings->finish();
        if (findings->unparsed())
            std::fprintf(stderr, "rstscope-fleet: %llu lines were not reset events\n",
                         static_cast<unsigned long long>(findings->unparsed()));
        if (findings_out != stdout) std::fclose(findings_out);
    }
    if (out && out != stdout) std::fclose(out);
    std::fprintf(stderr, "rstscope-fleet: %llu messages, %llu event lines%s\n",
                 static_cast<unsigned long long>(messages), static_cast<unsigned long long>(events),
                 load_failures ? ", a load into the store failed" : "");
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    struct sigaction action {};
    action.sa_handler = on_stop;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    std::string command = argc > 1 ? argv[1] : "";
    if (command == "stream") return stream_command(argc, argv);
    if (command == "read") return read_command(argc, argv);
    if (command == "--help" || command == "-h") {
        std::fputs(usage_text, stdout);
        return 0;
    }
    usage_error(command.empty() ? "a command is needed" : "unknown command " + command);
}
