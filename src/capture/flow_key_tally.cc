// SPDX-License-Identifier: BSD-3-Clause
#include "flow_key_tally.h"

#include "rstscope/common/endpoint.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/flow/flow_table.h"

namespace rstscope {

void FlowKeyTally::add_frame(const uint8_t* frame, uint32_t captured, uint64_t ts_ns,
                             uint64_t record_id) noexcept {
    const DecodeResult result = decode_frame_key(link_, frame, captured, scratch_);
    if (result.is_tcp) {
        bool src_is_lo;
        add_hash(FlowTable::hash(flow_key_of(scratch_, src_is_lo, vlan_in_key_)));
        if (scratch_.tcp_flags & tcp_flag::rst) {
            reset_peaks_.add(ts_ns);
            reset_senders_.add(address_hash(scratch_.src));
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
