// SPDX-License-Identifier: BSD-3-Clause
#include "capture_probe.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
// More shares than this gain little against the threads' start and the sketches' merge.
constexpr uint64_t max_walk_shares = 16;
static_assert(plain_walk_min_share_bytes > libpcap_max_snaplen + pcap_record_header_bytes,
              "a share must hold a record's start wherever it begins");
// Records in a row that must pass the rules where a share guesses its first record, and how far
// apart in time two of them may lie (a gap of over an hour there only costs the walk's second
// pass: the guess is confirmed or the file walked again, walk_plain_pcap).
constexpr unsigned records_confirming_a_start = 8;
constexpr uint32_t max_seconds_between_neighbours = 3600;

// The record whose header is at `offset` of a file of `size` bytes: its captured length when its
// header and frame are plain (as libpcap would read them) and whole in the file.
std::optional<uint32_t> plain_record_length(const uint8_t* header, uint64_t offset, uint64_t size,
                                            const PlainPcapLayout& layout,
                                            const PlainRecordRules& rules) noexcept {
    const uint32_t seconds = pcap_u32(header, layout.swapped);
    const uint32_t fraction = pcap_u32(header + 4, layout.swapped);
    const uint32_t captured = pcap_u32(header + 8, layout.swapped);
    // Times libpcap would convert otherwise than plainly (a negative 32-bit second, a fraction
    // beyond its unit) are left to it.
    if (seconds > INT32_MAX || fraction >= rules.fraction_limit || captured > rules.snaplen)
        return std::nullopt;
    if (size - offset - pcap_record_header_bytes < captured) return std::nullopt;
    return captured;
}

// One share's walk: from `start`, a record's start (if the share's guess was right), every record
// is checked, counted and tallied up to the first that starts at or past `end`.
struct ShareWalk {
    explicit ShareWalk(LinkType link, bool vlan_in_key) noexcept : tally(link, vlan_in_key) {}
    std::optional<uint64_t> start;  // nothing: no record start found in the share
    uint64_t reached = 0;           // the first record start at or past the share's end
    uint64_t records = 0;
    uint32_t largest_record = 0;
    bool plain = false;  // every record from start to reached passed the rules and was read
    FlowKeyTally tally;
};

// Counts in locals, written to `walk` at the end: the walks of neighbouring shares lie side by
// side in memory, and a count written on every record would share their cache lines.
void walk_share(CaptureBytes& bytes, const PlainPcapLayout& layout, const PlainRecordRules& rules,
                uint64_t end, ShareWalk& walk) noexcept {
    const uint64_t size = bytes.size();
    uint64_t at = *walk.start, records = 0;
    uint32_t largest = 0;
    while (at < end) {
        const uint8_t* header = bytes.at(at, pcap_record_header_bytes);
        if (header == nullptr) return;
        const std::optional<uint32_t> captured =
            plain_record_length(header, at, size, layout, rules);
        if (!captured) return;
        // The frame may run past the window: then the window is read anew from the header.
        const uint8_t* whole = bytes.at(at, pcap_record_header_bytes + *captured);
        if (whole == nullptr) return;
        walk.tally.add_frame(whole + pcap_record_header_bytes, *captured,
                             pcap_record_time_ns(whole, layout), at);
        largest = std::max(largest, *captured);
        ++records;
        at += pcap_record_header_bytes + *captured;
    }
    walk.reached = at;
    walk.records = records;
    walk.largest_record = largest;
    walk.plain = true;
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

std::optional<PlainRecordRules> read_plain_pcap_header(CaptureBytes& file,
                                                       PlainPcapLayout& layout) {
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
    return PlainRecordRules{snaplen, layout.nanosecond ? 1'000'000'000u : 1'000'000u};
}

std::optional<uint64_t> find_plain_record_start(CaptureBytes& file, const PlainPcapLayout& layout,
                                                const PlainRecordRules& rules, uint64_t from,
                                                uint64_t limit) {
    const uint64_t size = file.size();
    for (uint64_t candidate = from; candidate < std::min(limit, size); ++candidate) {
        uint64_t at = candidate;
        unsigned passed = 0;
        uint32_t previous_seconds = 0;
        while (passed < records_confirming_a_start && at < size) {
            const uint8_t* header = file.at(at, pcap_record_header_bytes);
            if (header == nullptr) break;
            const std::optional<uint32_t> captured =
                plain_record_length(header, at, size, layout, rules);
            if (!captured || pcap_u32(header + 12, layout.swapped) < *captured) break;
            // Neighbouring records lie close in time: bytes inside a record seldom do.
            const uint32_t seconds = pcap_u32(header, layout.swapped);
            if (passed > 0 && (seconds > previous_seconds
                                   ? seconds - previous_seconds
                                   : previous_seconds - seconds) > max_seconds_between_neighbours)
                break;
            previous_seconds = seconds;
            at += pcap_record_header_bytes + *captured;
            ++passed;
        }
        if (passed == records_confirming_a_start || (passed > 0 && at == size)) return candidate;
    }
    return std::nullopt;
}

std::optional<PlainPcapWalk> walk_plain_pcap(CaptureBytes& file, PlainPcapLayout& layout,
                                             LinkType link, bool vlan_in_key, unsigned threads,
                                             uint64_t min_share_bytes) {
    const std::optional<PlainRecordRules> rules = read_plain_pcap_header(file, layout);
    if (!rules) return std::nullopt;
    const uint64_t size = file.size();
    const uint64_t body = size - file_header_bytes;
    const uint64_t shares =
        std::clamp<uint64_t>(std::min<uint64_t>({threads, max_walk_shares,
                                                 body / std::max<uint64_t>(min_share_bytes, 1)}),
                             1, max_walk_shares);
    auto bound = [&](uint64_t share) { return file_header_bytes + body * share / shares; };
    std::vector<ShareWalk> walks;
    std::vector<CaptureBytes> windows;  // each share's own, allocated before the threads start
    walks.reserve(shares);
    windows.reserve(shares);
    for (uint64_t share = 0; share < shares; ++share) {
        walks.emplace_back(link, vlan_in_key);
        windows.push_back(share == 0 ? std::move(file) : windows.front().another());
    }
    auto walk = [&](uint64_t share) noexcept {
        walks[share].start = share == 0 ? std::optional<uint64_t>(file_header_bytes)
                                        : find_plain_record_start(windows[share], layout, *rules,
                                                                  bound(share), bound(share + 1));
        if (walks[share].start)
            walk_share(windows[share], layout, *rules, bound(share + 1), walks[share]);
    };
    {
        std::vector<std::jthread> helpers;
        for (uint64_t share = 1; share < shares; ++share) {
            try {
                helpers.emplace_back(walk, share);
            } catch (const std::system_error&) {
                walk(share);  // no thread to be had: this one does it
            }
        }
        walk(0);
    }  // the helpers joined
    file = std::move(windows.front());
    // Share 0 starts at the first record; each later one was walked from the true chain of
    // records exactly when it starts where the share before it ended.
    bool confirmed = true;
    for (uint64_t share = 0; share < shares && confirmed; ++share) {
        const uint64_t expected = share == 0 ? file_header_bytes : walks[share - 1].reached;
        if (walks[share].start != expected) {
            confirmed = false;
        } else if (!walks[share].plain) {
            return std::nullopt;  // a record of the file's own chain is not plain
        }
    }
    if (!confirmed) {
        walks.erase(walks.begin() + 1, walks.end());
        walks.front() = ShareWalk(link, vlan_in_key);
        walks.front().start = file_header_bytes;
        walk_share(file, layout, *rules, size, walks.front());
        if (!walks.front().plain) return std::nullopt;
    }
    PlainPcapWalk result{walks.front().records, std::move(walks.front().tally), shares, !confirmed};
    layout.largest_record = walks.front().largest_record;
    for (size_t share = 1; share < walks.size(); ++share) {
        result.records += walks[share].records;
        layout.largest_record = std::max(layout.largest_record, walks[share].largest_record);
        result.tally.merge(walks[share].tally);
    }
    return result;
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
    std::optional<PlainPcapWalk> walked;
    if (std::optional<CaptureBytes> file = CaptureBytes::open_file(path))
        walked = walk_plain_pcap(*file, layout, *link, vlan_in_key, usable_cpus());
    if (!walked) return probe_capture_by_reading(path, error, vlan_in_key);
    CaptureProbe probe;
    probe.link = *link;
    probe.packets = walked->records;
    probe.flows = walked->tally.estimate();
    probe.reset_segments = walked->tally.reset_segments();
    probe.reset_peaks = walked->tally.reset_peaks();
    probe.reset_senders = walked->tally.reset_senders();
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
        tally.add_frame(data, header->caplen, libpcap_time_ns(*header), probe.packets);
        ++probe.packets;
    }
    probe.flows = tally.estimate();
    probe.reset_segments = tally.reset_segments();
    probe.reset_peaks = tally.reset_peaks();
    probe.reset_senders = tally.reset_senders();
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
