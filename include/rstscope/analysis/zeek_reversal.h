// SPDX-License-Identifier: BSD-3-Clause
// Zeek's SYN/SYN-ACK reversal where rstscope's roles run ahead of Zeek's: what the flow tracker
// tells the Zeek state (src/analysis/zeek_state.cc) so that both reach Zeek's record. Hot path:
// noexcept, no allocation.
#pragma once

#include <cstdint>

#include "rstscope/analysis/zeek_state.h"

namespace rstscope {

// A caller that makes a first packet's SYN-ACK sender the responder at once (flipped, history
// "^h") where Zeek's port rule keeps it originator (history "H", flipped to "^h" only by the ACK
// or data that follows) says so with this, before the first zeek_track(). Then, if the next
// segment is the bare SYN that SYN-ACK answered (from the caller's originator, its number the
// SYN-ACK's acknowledgement less one), zeek_track() does what Zeek does with that SYN/SYN-ACK
// reversal (TCPSessionAdapter::UpdateInactiveState, Connection::FlipRoles): history "Hs^", both
// sides established, roles as the caller has them. Any other segment ends the expectation.
void zeek_synack_sender_was_originator(ZeekTracking& t) noexcept;

// Whether a segment from the caller's originator (`from_orig`) with these flags and sequence
// number would be taken as that reversal: Zeek's IsReuse then keeps the record, where another
// SYN would begin a new one.
bool zeek_is_reversal(const ZeekTracking& t, bool from_orig, uint8_t flags, uint32_t seq) noexcept;

}  // namespace rstscope
