// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the application parsers (include/rstscope/analysis/app_identity.h) on any two byte
// streams, fed in any segmentation. Input: a byte of cut sizes' seed, two bytes of the originator
// stream's length, then the originator's bytes and the responder's. Checks beyond the sanitizers:
// the identity is within its capacities and vocabularies, and the same streams fed whole and in
// pieces give the same identity (the parsers are streaming: no segmentation may change them).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "rstscope/analysis/app_identity.h"

namespace {

using rstscope::AppIdentity;
using rstscope::AppRecord;

void fail(const char* what) {
    std::fprintf(stderr, "fuzz_app: %s\n", what);
    std::abort();
}

// Feeds the streams interleaved as they come on the wire: the originator's first (so a greeting
// seen before any originator byte stays one), then both in pieces of 1 + (cuts % 97) bytes.
AppIdentity feed(const uint8_t* orig, size_t orig_size, const uint8_t* resp, size_t resp_size,
                 uint32_t cuts, bool resp_first) {
    AppRecord r;
    r.reset();
    size_t o = 0, s = 0;
    uint32_t state = cuts | 1;
    auto piece = [&](size_t left) {
        if (cuts == 0) return left;
        state = state * 1103515245u + 12345u;
        return std::min<size_t>(left, 1 + (state >> 16) % 97);
    };
    bool orig_more = true, resp_more = true;
    if (resp_first) {
        size_t n = piece(resp_size);
        resp_more = r.feed_resp(resp, static_cast<uint32_t>(n));
        s = n;
    }
    while ((o < orig_size && orig_more) || (s < resp_size && resp_more)) {
        if (o < orig_size && orig_more) {
            size_t n = piece(orig_size - o);
            orig_more = r.feed_orig(orig + o, static_cast<uint32_t>(n));
            o += n;
        }
        if (s < resp_size && resp_more && (o >= orig_size || !orig_more || cuts != 0)) {
            size_t n = piece(resp_size - s);
            resp_more = r.feed_resp(resp + s, static_cast<uint32_t>(n));
            s += n;
        }
    }
    return r.identity(static_cast<uint16_t>(cuts & 0xFFFF));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    const uint32_t cuts = data[0] * 257u + 1;
    const bool resp_first = data[1] & 1;
    size_t orig_size = std::min<size_t>(size - 3, size_t{data[2]} << 4 | (data[3] & 0x0F));
    const uint8_t* orig = data + 4;
    orig_size = std::min(orig_size, size - 4);
    const uint8_t* resp = orig + orig_size;
    const size_t resp_size = size - 4 - orig_size;
    // Without a greeting first the responder's bytes follow the originator's.
    AppIdentity whole = feed(orig, orig_size, resp, resp_size, 0, resp_first);
    AppIdentity cut = feed(orig, orig_size, resp, resp_size, cuts, resp_first);
    for (const AppIdentity* a : {&whole, &cut}) {
        if (static_cast<size_t>(a->proto) >= rstscope::app_proto_names.size()) fail("proto");
        if (a->method >= rstscope::http_method_names.size()) fail("method");
        if (a->name_length > rstscope::app_name_capacity) fail("name length");
        if (a->banner_length > rstscope::app_banner_capacity) fail("banner length");
        if (a->status != 0 && (a->status < 100 || a->status > 599)) fail("status");
    }
    // The originator's findings do not depend on how its stream was cut.
    if (whole.method != cut.method || whole.name_length != cut.name_length ||
        std::memcmp(whole.name, cut.name, whole.name_length) != 0)
        fail("the originator's identity depends on the segmentation");
    if (resp_first && (whole.banner_length != cut.banner_length ||
                       std::memcmp(whole.banner, cut.banner, whole.banner_length) != 0 ||
                       whole.status != cut.status))
        fail("the responder's identity depends on the segmentation");
    return 0;
}
