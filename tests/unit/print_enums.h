// SPDX-License-Identifier: BSD-3-Clause
// GoogleTest printers for the verdict vocabulary: a failed EXPECT_EQ names the value ("resp_abort")
// instead of dumping its byte. Tests only.
#pragma once

#include <ostream>

#include "rstscope/analysis/verdict.h"
#include "rstscope/common/counters.h"

namespace rstscope {

inline void PrintTo(ConnState v, std::ostream* os) {
    *os << name_of(v);
}
inline void PrintTo(ResetCause v, std::ostream* os) {
    *os << name_of(v);
}
inline void PrintTo(Confidence v, std::ostream* os) {
    *os << name_of(v);
}
inline void PrintTo(SeqCheck v, std::ostream* os) {
    *os << name_of(v);
}
inline void PrintTo(DropReason v, std::ostream* os) {
    *os << (v < DropReason::count ? drop_reason_names[static_cast<size_t>(v)] : "invalid") << " ("
        << static_cast<int>(v) << ")";
}

}  // namespace rstscope
