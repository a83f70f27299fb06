// SPDX-License-Identifier: BSD-3-Clause
#include "eal_args.h"

#include <fstream>

#include <fmt/format.h>

namespace rstscope {

bool interface_is_loopback(const std::string& name) {
    // ARPHRD_LOOPBACK (772) in the interface's sysfs type.
    std::ifstream type("/sys/class/net/" + name + "/type");
    int value = 0;
    return type >> value && value == 772;
}

std::vector<std::string> build_eal_args(const Options& o, const std::string& program,
                                        unsigned online_cpus, const std::string& driver_directory,
                                        bool capture_fed) {
    std::vector<std::string> args{program};
    if (!o.eal_args.empty()) {
        args.insert(args.end(), o.eal_args.begin(), o.eal_args.end());
        return args;
    }
    // lcore 0 manages, lcores 1..N work. With fewer CPUs than lcores they share CPUs; the
    // management lcore backs off when idle so a worker beside it keeps most of its CPU.
    std::string lcores;
    for (unsigned lcore = 0; lcore <= o.workers; ++lcore) {
        unsigned cpu = online_cpus ? lcore % online_cpus : 0;
        lcores += fmt::format("{}{}@{}", lcore ? "," : "", lcore, cpu);
    }
    args.insert(args.end(), {"--lcores", lcores, "--no-huge", "--no-pci", "--no-shconf", "-m",
                             o.eal_memory_mb, "--log-level", "*:error", "--no-telemetry"});
    std::string net_driver = "net_pcap";
    if (capture_fed) {
        net_driver.clear();
    } else if (!o.pcap.empty()) {
        std::string vdev = "net_pcap0,rx_pcap=" + o.pcap;
        if (!o.pcap_out.empty()) vdev += ",tx_pcap=" + o.pcap_out;
        args.insert(args.end(), {"--vdev", vdev});
    } else if (!o.iface.empty()) {
        std::string vdev;
        if (interface_is_loopback(o.iface)) {
            // Packet sockets see every loopback packet twice (leaving and arriving); taking only
            // the arriving copy counts each once.
            vdev = "net_pcap0,rx_iface_in=" + o.iface;
        } else if (o.iface_driver == "pcap") {
            vdev = "net_pcap0,rx_iface=" + o.iface;
        } else {
            net_driver = "net_af_packet";
            vdev = fmt::format("net_af_packet0,iface={},framecnt={}", o.iface, o.iface_ring_frames);
            if (o.workers > 1) vdev += fmt::format(",qpairs={}", o.workers);
        }
        args.insert(args.end(), {"--vdev", vdev});
    }
    if (!driver_directory.empty()) {
        for (const char* driver : {"bus_vdev", "mempool_ring", net_driver.c_str()})
            if (*driver != '\0')
                args.insert(args.end(),
                            {"-d", fmt::format("{}/librte_{}.so", driver_directory, driver)});
    }
    return args;
}

}  // namespace rstscope
