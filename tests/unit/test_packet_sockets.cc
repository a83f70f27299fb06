// SPDX-License-Identifier: BSD-3-Clause
// The kernel's drops at a packet socket, read as management reads an af_packet port's: a socket
// of the test's own on the loopback interface, with a receive buffer too small for what is sent
// through it and nobody reading it.
#include "rstscope/datapath/packet_sockets.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>

#include <gtest/gtest.h>

namespace rstscope {
namespace {

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

// A packet socket bound to `interface` that takes only IPv4 UDP to `port` (other tests' traffic
// on the loopback neither reaches it nor counts among its drops), with the smallest receive
// buffer the kernel allows; -1 without the right to open one (CAP_NET_RAW).
int small_packet_socket(unsigned interface, uint16_t port) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    int size = 1;  // the kernel raises it to its minimum
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    // Ethernet type IPv4, protocol UDP, a 20-byte IP header, destination port `port`.
    std::array<sock_filter, 8> code{{
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 5),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 36),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xFFFF),
        BPF_STMT(BPF_RET | BPF_K, 0),
    }};
    sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
        close(fd);
        return -1;
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(interface);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// `count` UDP datagrams of 1 000 bytes to `to` on 127.0.0.1: the packet socket sees each twice on
// the loopback interface, leaving and arriving.
void send_over_loopback(const sockaddr_in& to, int count) {
    Fd udp(socket(AF_INET, SOCK_DGRAM, 0));
    ASSERT_GE(udp.get(), 0);
    std::array<char, 1000> payload{};
    for (int i = 0; i < count; ++i)
        ASSERT_EQ(sendto(udp.get(), payload.data(), payload.size(), 0,
                         reinterpret_cast<const sockaddr*>(&to), sizeof to),
                  static_cast<ssize_t>(payload.size()));
}

class PacketSocketDropsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        loopback_ = if_nametoindex("lo");
        ASSERT_NE(loopback_, 0u);
        // A receiver, so no port-unreachable reply crosses the interface; its buffer is large
        // enough for every datagram and never read.
        receiver_ = std::make_unique<Fd>(socket(AF_INET, SOCK_DGRAM, 0));
        int size = 4 << 20;
        setsockopt(receiver_->get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        receiver_address_.sin_family = AF_INET;
        receiver_address_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof receiver_address_;
        ASSERT_EQ(bind(receiver_->get(), reinterpret_cast<sockaddr*>(&receiver_address_),
                       sizeof receiver_address_),
                  0);
        ASSERT_EQ(
            getsockname(receiver_->get(), reinterpret_cast<sockaddr*>(&receiver_address_), &length),
            0);
        int fd = small_packet_socket(loopback_, ntohs(receiver_address_.sin_port));
        if (fd < 0) GTEST_SKIP() << "no packet socket without CAP_NET_RAW (run the suite as root)";
        socket_ = std::make_unique<Fd>(fd);
    }
    unsigned loopback_ = 0;
    std::unique_ptr<Fd> receiver_;
    sockaddr_in receiver_address_{};
    std::unique_ptr<Fd> socket_;
};

TEST_F(PacketSocketDropsTest, FindsThePacketSocketsBoundToTheInterfacesGiven) {
    // The receiver is a socket but no packet socket.
    std::array<unsigned, 1> loopback{loopback_};
    std::vector<int> found = packet_sockets_bound_to(loopback);
    EXPECT_EQ(found, std::vector<int>{socket_->get()});
    std::array<unsigned, 1> other{loopback_ + 1000};  // no such interface
    EXPECT_TRUE(packet_sockets_bound_to(other).empty());
    EXPECT_TRUE(packet_sockets_bound_to({}).empty());
}

TEST_F(PacketSocketDropsTest, CountsWhatTheKernelDroppedAndKeepsTheTotalAcrossReads) {
    std::array<unsigned, 1> loopback{loopback_};
    PacketSocketDrops drops(packet_sockets_bound_to(loopback));
    ASSERT_EQ(drops.sockets(), 1u);
    EXPECT_EQ(drops.total(), 0u);
    // 1 000 frames: the buffer keeps the first few (at most 4 of these), the kernel drops the rest.
    send_over_loopback(receiver_address_, 500);
    uint64_t first = drops.total();
    EXPECT_GE(first, 996u);
    EXPECT_LE(first, 1000u);
    // The kernel reset its count when it was read: the total stays, and grows by the new drops
    // only (the buffer is full now: every frame).
    EXPECT_EQ(drops.total(), first);
    send_over_loopback(receiver_address_, 500);
    EXPECT_EQ(drops.total(), first + 1000);
}

TEST_F(PacketSocketDropsTest, ASocketIgnoringOutgoingPacketsSeesEachLoopbackPacketOnce) {
    std::array<int, 1> sockets{socket_->get()};
    ASSERT_EQ(ignore_outgoing_packets(sockets), 1u) << "Linux 4.20 or later has the option";
    PacketSocketDrops drops({socket_->get()});
    // 500 frames, the arriving copies only: the buffer keeps the first few, the rest are dropped.
    send_over_loopback(receiver_address_, 500);
    uint64_t dropped = drops.total();
    EXPECT_GE(dropped, 496u);
    EXPECT_LE(dropped, 500u);
}

TEST(PacketSocketDrops, WithoutSocketsCountsNothing) {
    PacketSocketDrops drops;
    EXPECT_EQ(drops.sockets(), 0u);
    EXPECT_EQ(drops.total(), 0u);
}

}  // namespace
}  // namespace rstscope
