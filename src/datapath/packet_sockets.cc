// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/datapath/packet_sockets.h"

#include <dirent.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>

namespace rstscope {
namespace {

// Any other descriptor (not a socket: ENOTSOCK) answers no.
bool is_packet_socket(int fd) noexcept {
    int domain = 0;
    socklen_t length = sizeof domain;
    return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && domain == AF_PACKET;
}

// The interface a packet socket is bound to; 0 when it is bound to none (it sees every one).
unsigned bound_interface(int fd) noexcept {
    sockaddr_ll address{};
    socklen_t length = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
    return address.sll_ifindex > 0 ? static_cast<unsigned>(address.sll_ifindex) : 0;
}

}  // namespace

std::vector<int> packet_sockets_bound_to(std::span<const unsigned> interfaces) {
    std::vector<int> found;
    if (interfaces.empty()) return found;
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return found;
    int listing = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == listing) continue;
        int socket = static_cast<int>(fd);
        if (!is_packet_socket(socket)) continue;
        unsigned bound = bound_interface(socket);
        if (std::find(interfaces.begin(), interfaces.end(), bound) != interfaces.end())
            found.push_back(socket);
    }
    closedir(dir);
    std::sort(found.begin(), found.end());
    return found;
}

size_t ignore_outgoing_packets(std::span<const int> sockets) noexcept {
    size_t agreed = 0;
    for (int fd : sockets) {
        int ignore = 1;
        agreed += setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &ignore, sizeof ignore) == 0;
    }
    return agreed;
}

uint64_t PacketSocketDrops::total() noexcept {
    for (int fd : sockets_) {
        // The largest layout (TPACKET_V3's); the kernel fills the one of the socket's version,
        // whose first two members are the same.
        tpacket_stats_v3 stats{};
        socklen_t length = sizeof stats;
        if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0)
            total_ += stats.tp_drops;
    }
    return total_;
}

}  // namespace rstscope
