// SPDX-License-Identifier: BSD-3-Clause
#include "flow_key_tally.h"

#include <cstring>

#include "rstscope/common/tcp_flags.h"
#include "rstscope/flow/flow_table.h"

namespace rstscope {
namespace {

// An address and its family as one well-mixed hash (the sketch's input): one mix, the second word
// folded in by a multiply (an IPv4 address has none). An estimate for what to fault in ahead
// needs no more.
uint64_t sender_hash(const IpAddress& address, IpFamily family) noexcept {
    uint64_t words[2];
    std::memcpy(words, address.bytes, sizeof(words));
    return mix64(words[0] ^ (words[1] * 0x9E3779B97F4A7C15ull) ^ static_cast<uint64_t>(family));
}

}  // namespace

void FlowKeyTally::add_frame(const uint8_t* frame, uint32_t captured, uint64_t ts_ns,
                             uint64_t record_id) noexcept {
    const DecodeResult result = decode_frame_key(link_, frame, captured, scratch_);
    if (result.is_tcp) {
        bool src_is_lo;
        add_hash(FlowTable::hash(flow_key_of(scratch_, src_is_lo, vlan_in_key_)));
        if (scratch_.tcp_flags & tcp_flag::rst) {
            reset_peaks_.add(ts_ns);
            reset_senders_.add(sender_hash(scratch_.src, scratch_.family));
        }
    } else if (result.reason == DropReason::ip_fragment && result.fragment_l3_length != 0) {
        // Reassembly may turn it into a segment whose key the fragment does not show: a key of
        // its own, named by its record (unique across the shares of a capture), and perhaps a
        // RST.
        add_hash(~record_id);
        reset_peaks_.add(ts_ns);
    }
}

}  // namespace rstscope
