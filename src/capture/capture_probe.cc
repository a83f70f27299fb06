// SPDX-License-Identifier: BSD-3-Clause
#include "capture_probe.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "rstscope/common/usable_cpus.h"

namespace rstscope {
namespace {

constexpr size_t file_header_bytes = 24;
constexpr uint32_t magic_microsecond = 0xa1b2c3d4;
constexpr uint32_t magic_nanosecond = 0xa1b23c4d;
// libpcap's largest record for the link types rstscope decodes (max_snaplen_for_dlt), also the
// snapshot length it assumes when a file's header says 0 or more.
constexpr uint32_t libpcap_max_snaplen = 262144;
// More shares of the connection count than this gain little against the threads' start and the
// sketches' merge.
constexpr uint64_t max_tally_shares = 16;
// From this size a capture's tally starts beside its count (count_and_tally_plain_pcap).
constexpr uint64_t trailing_tally_min_bytes = uint64_t{1} << 20;

// Adds the frame of the record at `at` to `tally` and moves `at` past the record; false when the
// file no longer holds the record whole (it changed since it was counted).
bool tally_record(CaptureBytes& bytes, const PlainPcapLayout& layout, FlowKeyTally& tally,
                  uint64_t& at) noexcept {
    const uint8_t* header = bytes.at(at, pcap_record_header_bytes);
    const uint32_t captured = header ? pcap_u32(header + 8, layout.swapped) : 0;
    const uint8_t* whole = header ? bytes.at(at, pcap_record_header_bytes + captured) : nullptr;
    if (whole == nullptr) return false;
    tally.add_frame(whole + pcap_record_header_bytes, captured,
                    pcap_record_time_ns(header, layout));
    at += pcap_record_header_bytes + captured;
    return true;
}

uint16_t read_u16(const uint8_t* at, bool swapped) noexcept {
    uint16_t value;
    std::memcpy(&value, at, sizeof(value));
    return swapped ? __builtin_bswap16(value) : value;
}

// A record's time as libpcap gives it, opened at nanosecond precision (open_with_libpcap).
uint64_t libpcap_time_ns(const pcap_pkthdr& header) noexcept {
    return static_cast<uint64_t>(header.ts.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(header.ts.tv_usec);  // nanoseconds at this precision
}

// Refuses a link type the decoder does not read, with the list of those it does.
std::optional<LinkType> supported_link(pcap_t* handle, const std::string& path,
                                       std::string& error) {
    int dlt = pcap_datalink(handle);
    auto link = link_type_from_dlt(dlt);
    if (!link) {
        const char* name = pcap_datalink_val_to_name(dlt);
        error = fmt::format(
            "capture {} has link type {} ({}), which rstscope does not decode; "
            "supported: EN10MB, RAW, NULL, LOOP, LINUX_SLL, LINUX_SLL2, IPV4, IPV6, PPP, "
            "PPP_SERIAL, FDDI, IEEE802_11, IEEE802_11_RADIO, NFLOG",
            path, dlt, name ? name : "unknown");
    }
    return link;
}

pcap_t* open_with_libpcap(const std::string& path, std::string& error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle == nullptr) error = fmt::format("cannot read capture {}: {}", path, errbuf);
    return handle;
}

}  // namespace

CaptureBytes::OwnedFd::~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<CaptureBytes> CaptureBytes::open_file(const std::string& path) {
    OwnedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    return CaptureBytes(std::move(fd), static_cast<uint64_t>(st.st_size));
}

CaptureBytes CaptureBytes::another() const {
    if (memory_) return CaptureBytes({memory_, size_});
    // A descriptor that cannot be had reads nothing: the walker sees the file end early.
    return CaptureBytes(OwnedFd(fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0)), size_);
}

const uint8_t* CaptureBytes::read_window(uint64_t offset, size_t wanted) noexcept {
    ssize_t got;
    do {
        got = pread(fd_.get(), window_.get(), window_bytes, static_cast<off_t>(offset));
    } while (got < 0 && errno == EINTR);
    window_start_ = offset;
    window_filled_ = got > 0 ? static_cast<size_t>(got) : 0;
    return window_filled_ >= wanted ? window_.get() : nullptr;
}

std::optional<PlainPcapRecords> count_plain_pcap_records(CaptureBytes& file,
                                                         PlainPcapLayout& layout,
                                                         std::atomic<uint64_t>* counted_to) {
    const uint8_t* base = file.at(0, file_header_bytes);
    if (base == nullptr) return std::nullopt;
    uint32_t magic = pcap_u32(base, false);
    layout.swapped = false;
    if (magic != magic_microsecond && magic != magic_nanosecond) {
        layout.swapped = true;
        magic = __builtin_bswap32(magic);
        if (magic != magic_microsecond && magic != magic_nanosecond) return std::nullopt;
    }
    layout.nanosecond = magic == magic_nanosecond;
    layout.file_bytes = file.size();
    layout.largest_record = 0;
    // Older versions swap caplen and len in places; libpcap sorts those out itself.
    if (read_u16(base + 4, layout.swapped) != 2 || read_u16(base + 6, layout.swapped) != 4)
        return std::nullopt;
    uint32_t snaplen = pcap_u32(base + 16, layout.swapped);
    if (snaplen == 0 || snaplen > libpcap_max_snaplen) snaplen = libpcap_max_snaplen;
    // Times libpcap would convert otherwise than plainly (a negative 32-bit second, a fraction
    // beyond its unit) are left to it.
    const uint32_t fraction_limit = layout.nanosecond ? 1'000'000'000u : 1'000'000u;
    PlainPcapRecords records;
    uint64_t offset = file_header_bytes;
    while (offset < file.size()) {
        const uint8_t* header = file.at(offset, pcap_record_header_bytes);
        if (header == nullptr) return std::nullopt;
        uint32_t seconds = pcap_u32(header, layout.swapped);
        uint32_t fraction = pcap_u32(header + 4, layout.swapped);
        uint32_t captured = pcap_u32(header + 8, layout.swapped);
        if (seconds > INT32_MAX || fraction >= fraction_limit || captured > snaplen)
            return std::nullopt;
        if (file.size() - offset - pcap_record_header_bytes < captured) return std::nullopt;
        if (records.count % PlainPcapRecords::records_per_mark == 0)
            records.mark_offsets.push_back(offset);
        offset += pcap_record_header_bytes + captured;
        layout.largest_record = std::max(layout.largest_record, captured);
        ++records.count;
        // Often enough that a tally behind never waits long, seldom enough to cost nothing.
        if (counted_to && records.count % 1024 == 0)
            counted_to->store(offset, std::memory_order_release);
    }
    if (counted_to) counted_to->store(offset, std::memory_order_release);
    return records;
}

std::vector<TallyShare> plan_tally_shares(const PlainPcapRecords& records, uint64_t file_bytes,
                                          unsigned threads, std::optional<TallyShare> from) {
    if (!from && records.count != 0) from = TallyShare{0, records.mark_offsets[0], file_bytes};
    if (!from || from->first_record >= records.count) return {};
    constexpr uint64_t per_mark = PlainPcapRecords::records_per_mark;
    const uint64_t first = from->first_record;
    const uint64_t left = records.count - first;
    const uint64_t whole_marks = records.count / per_mark;
    const uint64_t shares =
        std::clamp<uint64_t>(std::min<uint64_t>(threads, left / per_mark), 1, max_tally_shares);
    std::vector<TallyShare> plan;
    plan.reserve(shares);
    plan.push_back({first, from->start, file_bytes});
    for (uint64_t share = 1; share < shares; ++share) {
        // The mark nearest record first + share * left / shares (the count waits for its longest
        // share), after the share before it, yet early enough that each later share keeps a
        // whole mark's records. The bounds never cross: shares <= left / per_mark.
        const uint64_t nearest =
            (2 * first * shares + 2 * share * left + shares * per_mark) / (2 * shares * per_mark);
        const uint64_t mark =
            std::clamp(nearest, first / per_mark + share, whole_marks + share - shares);
        plan.back().end = records.mark_offsets[mark];
        plan.push_back({mark * per_mark, records.mark_offsets[mark], file_bytes});
    }
    return plan;
}

std::optional<FlowKeyTally> tally_plain_pcap_frames(const CaptureBytes& file,
                                                    const PlainPcapLayout& layout,
                                                    const PlainPcapRecords& records, LinkType link,
                                                    bool vlan_in_key, unsigned threads,
                                                    std::optional<TallyShare> from) {
    const std::vector<TallyShare> plan = plan_tally_shares(records, file.size(), threads, from);
    if (plan.empty()) return FlowKeyTally(link, vlan_in_key);  // no records, no connections
    const size_t shares = plan.size();
    std::vector<FlowKeyTally> tallies;
    tallies.reserve(shares);
    for (const TallyShare& share : plan)
        tallies.emplace_back(link, vlan_in_key, share.first_record);
    std::vector<CaptureBytes> windows;  // each share's own, allocated before the threads start
    for (uint64_t share = 0; share < shares; ++share)
        windows.push_back(file.another());
    std::atomic<bool> unread{false};  // the file changed under a share's walk
    auto tally_share = [&](uint64_t share) noexcept {
        for (uint64_t at = plan[share].start; at < plan[share].end;) {
            if (!tally_record(windows[share], layout, tallies[share], at)) {
                unread = true;
                return;
            }
        }
    };
    {
        std::vector<std::jthread> helpers;
        for (uint64_t share = 1; share < shares; ++share) {
            try {
                helpers.emplace_back(tally_share, share);
            } catch (const std::system_error&) {
                tally_share(share);  // no thread to be had: this one does it
            }
        }
        tally_share(0);
    }  // the helpers joined
    if (unread) return std::nullopt;
    for (uint64_t share = 1; share < shares; ++share)
        tallies[0].merge(tallies[share]);
    return std::move(tallies[0]);
}

PlainPcapProbe count_and_tally_plain_pcap(CaptureBytes& file, PlainPcapLayout& layout,
                                          LinkType link, bool vlan_in_key, unsigned threads) {
    PlainPcapProbe probe;
    // The trailing tally takes only records the count has passed (whole, plain), so it never
    // reads what the count would refuse; told to stop, it ends at the next record. Without it
    // (one thread, a small file, no thread to be had) the records left are all of them.
    std::atomic<uint64_t> counted_to{0};
    std::atomic<bool> stop{false};
    FlowKeyTally trailing(link, vlan_in_key);
    TallyShare reached{0, file_header_bytes, file.size()};
    bool trailing_unread = false;
    {
        std::jthread trailer;
        auto walk = [&](CaptureBytes bytes) noexcept {
            uint64_t limit = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                if (reached.start >= limit) {
                    limit = counted_to.load(std::memory_order_acquire);
                    if (reached.start >= limit) {
                        std::this_thread::yield();
                        continue;
                    }
                }
                if (!tally_record(bytes, layout, trailing, reached.start)) {
                    trailing_unread = true;  // the file changed since the count read it
                    return;
                }
                ++reached.first_record;
            }
        };
        // A small file's walks take less than a thread's start.
        if (threads >= 2 && file.size() >= trailing_tally_min_bytes) {
            try {
                trailer = std::jthread(walk, file.another());
            } catch (const std::system_error&) {  // no thread to be had: one walk after the other
            }
        }
        probe.records = count_plain_pcap_records(file, layout, &counted_to);
        stop.store(true, std::memory_order_relaxed);
    }  // the trailer joined
    if (!probe.records) return probe;
    if (trailing_unread) return probe;  // no tally: the packet count bounds both
    probe.tally =
        tally_plain_pcap_frames(file, layout, *probe.records, link, vlan_in_key, threads, reached);
    if (probe.tally) probe.tally->merge(trailing);
    return probe;
}

CaptureClock::~CaptureClock() {
    if (handle_) pcap_close(handle_);
}

PlainRecordReader::PlainRecordReader(CaptureBytes bytes, const PlainPcapLayout& layout) noexcept
    : bytes_(std::move(bytes)),
      layout_(layout),
      offset_(file_header_bytes),
      previous_offset_(file_header_bytes) {}

std::optional<PlainRecordReader> PlainRecordReader::open(const std::string& path,
                                                         const PlainPcapLayout& layout) {
    std::optional<CaptureBytes> file = CaptureBytes::open_file(path);
    if (!file || file->size() != layout.file_bytes) return std::nullopt;
    return PlainRecordReader(std::move(*file), layout);
}

std::optional<PlainRecord> PlainRecordReader::next_from_window(bool with_frame) noexcept {
    const uint8_t* header = bytes_.at(offset_, pcap_record_header_bytes);
    if (header == nullptr) return std::nullopt;
    const uint32_t length = pcap_u32(header + 8, layout_.swapped);
    if (with_frame) {
        // The frame runs past the window's end: the window is read anew from its header.
        header = bytes_.at(offset_, pcap_record_header_bytes + length);
        if (header == nullptr) return std::nullopt;
    }
    held_base_ = header;
    held_start_ = offset_;
    held_end_ = bytes_.held_end();
    return next(with_frame);  // now held: the inline path takes it
}

bool CaptureClock::open(const std::string& path, const CaptureProbe& probe, std::string& error) {
    if (probe.plain_layout) {
        plain_ = PlainRecordReader::open(path, *probe.plain_layout);
        if (plain_) return true;
    }
    handle_ = open_with_libpcap(path, error);
    return handle_ != nullptr;
}

uint64_t CaptureClock::next_ns() noexcept {
    return plain_ ? next_plain_ns() : next_libpcap_ns();
}

uint64_t CaptureClock::next_plain_ns() noexcept {
    // The probe found whole records only; a file cut short since then ends the walk.
    if (std::optional<PlainRecord> record = plain_->next(false)) last_ns_ = record->time_ns;
    return last_ns_;
}

uint64_t CaptureClock::next_libpcap_ns() noexcept {
    pcap_pkthdr* header;
    const u_char* data;
    if (pcap_next_ex(handle_, &header, &data) == 1) {
        last_ns_ = libpcap_time_ns(*header);
    }
    return last_ns_;
}

std::optional<CaptureProbe> probe_capture(const std::string& path, std::string& error,
                                          bool vlan_in_key) {
    // libpcap opens the file first: its refusals (not a capture, an unreadable pcapng) and the
    // link type stay exactly libpcap's.
    pcap_t* handle = open_with_libpcap(path, error);
    if (handle == nullptr) return std::nullopt;
    std::optional<LinkType> link = supported_link(handle, path, error);
    pcap_close(handle);
    if (!link) return std::nullopt;
    PlainPcapLayout layout;
    std::optional<PlainPcapRecords> records;
    std::optional<FlowKeyTally> tally;
    if (std::optional<CaptureBytes> file = CaptureBytes::open_file(path)) {
        PlainPcapProbe walked =
            count_and_tally_plain_pcap(*file, layout, *link, vlan_in_key, usable_cpus());
        records = std::move(walked.records);
        tally = std::move(walked.tally);
    }
    if (!records) return probe_capture_by_reading(path, error, vlan_in_key);
    CaptureProbe probe;
    probe.link = *link;
    probe.packets = records->count;
    // A file that changed under the walk: the packet count bounds both.
    probe.flows = tally ? tally->estimate() : records->count;
    probe.reset_segments = tally ? tally->reset_segments() : records->count;
    if (tally) probe.reset_peaks = tally->reset_peaks();
    probe.plain_layout = layout;
    return probe;
}

std::optional<CaptureProbe> probe_capture_by_reading(const std::string& path, std::string& error,
                                                     bool vlan_in_key) {
    pcap_t* handle = open_with_libpcap(path, error);
    if (handle == nullptr) return std::nullopt;
    CaptureProbe probe;
    std::optional<LinkType> link = supported_link(handle, path, error);
    if (!link) {
        pcap_close(handle);
        return std::nullopt;
    }
    probe.link = *link;
    FlowKeyTally tally(*link, vlan_in_key);
    pcap_pkthdr* header;
    const u_char* data;
    int status;
    while ((status = pcap_next_ex(handle, &header, &data)) == 1) {
        tally.add_frame(data, header->caplen, libpcap_time_ns(*header));
        ++probe.packets;
    }
    probe.flows = tally.estimate();
    probe.reset_segments = tally.reset_segments();
    probe.reset_peaks = tally.reset_peaks();
    if (status == PCAP_ERROR) {
        std::string reason = pcap_geterr(handle);
        if (probe.packets == 0 && reason.find("truncated") == std::string::npos) {
            // libpcap could open the file but not read its first record: refuse it whole.
            error = fmt::format("cannot read capture {}: {}", path, reason);
            pcap_close(handle);
            return std::nullopt;
        }
        probe.truncated = true;
        probe.truncation_error = reason;
    }
    pcap_close(handle);
    return probe;
}

}  // namespace rstscope
