// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/event_parse.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

namespace rstscope {
namespace {

template <class Enum, size_t N>
bool enum_of(const nlohmann::json& j, const char* key, const std::array<std::string_view, N>& names,
             Enum& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    const std::string& text = it->get_ref<const std::string&>();
    for (size_t i = 0; i < N; ++i) {
        if (names[i] == text) {
            out = static_cast<Enum>(i);
            return true;
        }
    }
    return false;
}

bool address_of(const nlohmann::json& j, const char* key, IpAddress& out, IpFamily& family) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    const std::string& text = it->get_ref<const std::string&>();
    out = IpAddress{};
    if (inet_pton(AF_INET, text.c_str(), out.bytes) == 1) {
        family = IpFamily::v4;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), out.bytes) == 1) {
        family = IpFamily::v6;
        return true;
    }
    return false;
}

template <class T>
bool unsigned_of(const nlohmann::json& j, const char* key, T& out, bool required = true) {
    auto it = j.find(key);
    if (it == j.end()) return !required;
    if (!it->is_number_unsigned()) return false;
    uint64_t v = it->get<uint64_t>();
    if (v > std::numeric_limits<T>::max()) return false;
    out = static_cast<T>(v);
    return true;
}

// Seconds with up to microseconds, as event lines write them, to nanoseconds.
bool ns_of(const nlohmann::json& j, const char* key, uint64_t& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number() || it->get<double>() < 0) return false;
    out = static_cast<uint64_t>(std::llround(it->get<double>() * 1e6)) * 1000;
    return true;
}

}  // namespace

bool parse_event_line(std::string_view line, ResetEvent& e) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return false;
    auto type = j.find("type");
    if (type == j.end() || *type != "reset") return false;
    std::memset(&e, 0, sizeof e);
    IpFamily resp_family;
    auto rst_by = j.find("rst_by");
    if (rst_by == j.end() || !rst_by->is_string()) return false;
    e.rst_by_orig = *rst_by == "orig";
    uint64_t idle_ms = 0;
    auto idle = j.find("idle_before");
    if (idle != j.end()) {
        if (!idle->is_number() || idle->get<double>() < 0) return false;
        idle_ms = static_cast<uint64_t>(std::llround(idle->get<double>() * 1000));
    }
    e.idle_before_ms = static_cast<uint32_t>(std::min<uint64_t>(idle_ms, UINT32_MAX));
    auto spacing = j.find("rst_spacing");
    if (spacing != j.end()) {
        if (!spacing->is_number() || spacing->get<double>() < 0) return false;
        uint64_t us = static_cast<uint64_t>(std::llround(spacing->get<double>() * 1e6));
        e.rst_spacing_us = static_cast<uint32_t>(std::clamp<uint64_t>(us, 1, UINT32_MAX));
    }
    auto evidence = j.find("evidence");
    if (evidence == j.end() || !evidence->is_array()) return false;
    for (const auto& item : *evidence) {
        Evidence ev;
        nlohmann::json wrapper = {{"e", item}};
        if (!enum_of(wrapper, "e", evidence_names, ev)) return false;
        e.evidence |= evidence_bit(ev);
    }
    return unsigned_of(j, "id", e.id) && ns_of(j, "ts", e.ts_ns) &&
           address_of(j, "orig_h", e.orig_h, e.family) &&
           address_of(j, "resp_h", e.resp_h, resp_family) && resp_family == e.family &&
           unsigned_of(j, "orig_p", e.orig_p) && unsigned_of(j, "resp_p", e.resp_p) &&
           enum_of(j, "conn_state", conn_state_names, e.conn_state) &&
           enum_of(j, "cause", reset_cause_names, e.cause) &&
           enum_of(j, "confidence", confidence_names, e.confidence) &&
           enum_of(j, "seq_check", seq_check_names, e.seq_check) &&
           enum_of(j, "rst_origin", rst_origin_names, e.rst_origin) &&
           unsigned_of(j, "rst_ttl", e.rst_ttl) && unsigned_of(j, "rst_count", e.rst_count) &&
           unsigned_of(j, "hops_from_endpoint", e.hops_from_endpoint, false);
}

}  // namespace rstscope
