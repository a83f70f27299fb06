// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/host_index.h"

#include <random>

#include "rstscope/mgmt/event_json.h"

namespace rstscope {

std::string host_text(const HostKey& key) {
    std::string address = ip_text(key.address, key.family);
    if (key.port == 0) return address;
    if (key.family == IpFamily::v6) address = "[" + address + "]";
    return address + ":" + std::to_string(key.port);
}

SeededHash::SeededHash() {
    std::random_device random;
    for (uint64_t& seed : seeds_)
        seed = (static_cast<uint64_t>(random()) << 32) ^ random();
}

}  // namespace rstscope
