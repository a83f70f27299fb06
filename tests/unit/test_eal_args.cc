// SPDX-License-Identifier: BSD-3-Clause
// EAL's arguments for the shortcut runs (src/app/eal_args.h): the drivers each run names with -d,
// so that EAL can load those alone (src/app/driver_loading.h), and the user's own EAL arguments
// passed unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "app/eal_args.h"

using namespace rstscope;

namespace {

std::vector<std::string> named_drivers(const std::vector<std::string>& args) {
    std::vector<std::string> drivers;
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "-d") drivers.push_back(args[i + 1]);
    return drivers;
}

}  // namespace

TEST(EalArgs, CaptureNamesTheVdevBusTheRingMempoolAndNetPcap) {
    Options o;
    o.pcap = "/tmp/x/capture";
    auto args = build_eal_args(o, "rstscope", 2, "/pmds", false);
    EXPECT_EQ(named_drivers(args),
              (std::vector<std::string>{"/pmds/librte_bus_vdev.so", "/pmds/librte_mempool_ring.so",
                                        "/pmds/librte_net_pcap.so"}));
    EXPECT_NE(std::find(args.begin(), args.end(), "net_pcap0,rx_pcap=/tmp/x/capture"), args.end());
}

// The capture feed creates its net_ring port itself, with the net_ring driver the executable
// links: no vdev argument, no net PMD to load.
TEST(EalArgs, FedCaptureNamesNoVdevAndNoNetDriver) {
    Options o;
    o.pcap = "/tmp/x/capture";
    auto args = build_eal_args(o, "rstscope", 2, "/pmds", true);
    EXPECT_EQ(named_drivers(args), (std::vector<std::string>{"/pmds/librte_bus_vdev.so",
                                                             "/pmds/librte_mempool_ring.so"}));
    EXPECT_EQ(std::find(args.begin(), args.end(), "--vdev"), args.end());
}

TEST(EalArgs, AfPacketInterfaceNamesNetAfPacket) {
    Options o;
    o.iface = "rstscope-test-none0";  // not a loopback: the af_packet driver
    auto args = build_eal_args(o, "rstscope", 2, "/pmds", false);
    auto drivers = named_drivers(args);
    ASSERT_EQ(drivers.size(), 3u);
    EXPECT_EQ(drivers[2], "/pmds/librte_net_af_packet.so");
    EXPECT_NE(std::find(args.begin(), args.end(),
                        "net_af_packet0,iface=rstscope-test-none0,framecnt=8192"),
              args.end());
    o.iface_ring_frames = 1024;
    o.workers = 2;
    args = build_eal_args(o, "rstscope", 2, "/pmds", false);
    EXPECT_NE(std::find(args.begin(), args.end(),
                        "net_af_packet0,iface=rstscope-test-none0,framecnt=1024,qpairs=2"),
              args.end());
}

TEST(EalArgs, NoDriverDirectoryNamesNoDriver) {
    Options o;
    o.pcap = "/tmp/x/capture";
    EXPECT_TRUE(named_drivers(build_eal_args(o, "rstscope", 2, "", false)).empty());
}

TEST(EalArgs, UsersOwnArgumentsPassUnchanged) {
    Options o;
    o.eal_args = {"-a", "0000:01:00.0"};
    EXPECT_EQ(build_eal_args(o, "rstscope", 2, "/pmds", false),
              (std::vector<std::string>{"rstscope", "-a", "0000:01:00.0"}));
}
