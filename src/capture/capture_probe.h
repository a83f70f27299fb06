// SPDX-License-Identifier: BSD-3-Clause
// What rstscope needs to know of a capture file before DPDK reads it: the capture's port hands over
// raw frames whatever the file's link type, so the link type must be known (or the file refused)
// up front, the record count tells the workers when the capture has ended, and the connections
// among the records size the flow table (FlowKeyTally). The probe, the record reader and the
// capture clock read a classic pcap file a window at a time (CaptureBytes), the probe each
// record's header and its frame's protocol headers in one walk (in shares of the file on several
// threads for a large capture), and fall back to reading the file through libpcap only for what
// that walk cannot vouch for (pcapng, a truncated or damaged record, a record longer than the
// file's snapshot length). Setup, and the capture reader's lcore.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "flow_key_tally.h"
#include "rstscope/decode/packet_decoder.h"

struct pcap;

namespace rstscope {

// A classic pcap file whose records libpcap reads exactly as stored, so their headers can be
// walked instead of read: its byte order and timestamp unit.
struct PlainPcapLayout {
    bool swapped = false;         // written on a machine of the other byte order
    bool nanosecond = false;      // magic a1b23c4d: the second header word is ns, not µs
    uint64_t file_bytes = 0;      // the size walked
    uint32_t largest_record = 0;  // bytes captured of the longest frame
};

// A classic pcap record's header: seconds, fraction of a second, bytes captured, wire length.
inline constexpr size_t pcap_record_header_bytes = 16;

// A 32-bit field of a classic pcap file, in the file's byte order.
inline uint32_t pcap_u32(const uint8_t* at, bool swapped) noexcept {
    uint32_t value;
    std::memcpy(&value, at, sizeof(value));
    return swapped ? __builtin_bswap32(value) : value;
}

// A plain file's record time in ns since the epoch, from the record's header.
inline uint64_t pcap_record_time_ns(const uint8_t* header, const PlainPcapLayout& layout) noexcept {
    const uint64_t seconds = pcap_u32(header, layout.swapped);
    const uint64_t fraction = pcap_u32(header + 4, layout.swapped);
    return seconds * 1'000'000'000ull + (layout.nanosecond ? fraction : fraction * 1000);
}

struct CaptureProbe {
    LinkType link = LinkType::ethernet;
    uint64_t packets = 0;  // complete records libpcap can read
    uint64_t flows = 0;    // connections (flow-table keys) among them, estimated: FlowKeyTally
    uint64_t reset_segments = 0;  // frames among them that are or may become a RST: FlowKeyTally
    ResetPeaks reset_peaks;       // when those frames were recorded
    uint64_t reset_senders = 0;   // the addresses the RSTs among them came from, estimated
    bool truncated = false;       // the file ends inside a record
    std::string truncation_error;
    // Set when the count came from the record headers alone (the capture clock walks them too).
    std::optional<PlainPcapLayout> plain_layout;
};

// The bytes of a capture file, read front to back a window at a time (pread), or of one held in
// memory (tests). A walk over a mapping of the file cost three times as much on this project's
// VM (docs/performance.md). One per walking thread: another() gives a thread its own window. A
// file's descriptor is this object's own: closed with it, moved with it, never shared.
class CaptureBytes {
  public:
    // A record's header and the longest frame libpcap reads (256 KiB) fit in one window.
    static constexpr size_t window_bytes = size_t{512} << 10;

    explicit CaptureBytes(std::span<const uint8_t> memory) noexcept
        : memory_(memory.data()), size_(memory.size()) {}
    // The regular file at `path` as it is now, opened for reading front to back; nothing when
    // it cannot be opened or is not a regular file.
    static std::optional<CaptureBytes> open_file(const std::string& path);
    // The same bytes through a window of its own (a file's through a descriptor of its own).
    CaptureBytes another() const;

    uint64_t size() const noexcept { return size_; }
    // `wanted` bytes (at most window_bytes) from `offset` in one piece; nullptr when the source
    // ends first or cannot be read. The window is read anew from `offset` when they are not all
    // in it: one read a window for a walk front to back.
    // Inline: the probe's walks ask for every record, and nearly always the window holds it.
    const uint8_t* at(uint64_t offset, size_t wanted) noexcept {
        if (offset > size_ || size_ - offset < wanted) return nullptr;
        if (memory_) return memory_ + offset;
        if (offset >= window_start_ && offset + wanted <= window_start_ + window_filled_)
            return window_.get() + (offset - window_start_);
        return read_window(offset, wanted);
    }
    // Where the bytes at() last returned continue to, as a file offset: the end of what
    // the window (or the memory) holds, at most the file's size.
    uint64_t held_end() const noexcept {
        if (memory_) return size_;
        return std::min<uint64_t>(window_start_ + window_filled_, size_);
    }

  private:
    // A file descriptor closed once, by whichever object holds it last; -1: none.
    class OwnedFd {
      public:
        OwnedFd() = default;
        explicit OwnedFd(int fd) noexcept : fd_(fd) {}
        OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
        OwnedFd& operator=(OwnedFd&& other) noexcept {
            std::swap(fd_, other.fd_);  // `other` closes what this held
            return *this;
        }
        ~OwnedFd();
        int get() const noexcept { return fd_; }

      private:
        int fd_ = -1;
    };

    // The window is not zeroed: at() hands out only what a read filled, and a small file's read
    // touches a page or two of it, not all 128.
    CaptureBytes(OwnedFd fd, uint64_t size)
        : fd_(std::move(fd)),
          size_(size),
          window_(std::make_unique_for_overwrite<uint8_t[]>(window_bytes)) {}

    // Reads the window anew from `offset`: at()'s answer when what it holds does not suffice.
    const uint8_t* read_window(uint64_t offset, size_t wanted) noexcept;

    const uint8_t* memory_ = nullptr;
    OwnedFd fd_;
    uint64_t size_ = 0;
    std::unique_ptr<uint8_t[]> window_;
    uint64_t window_start_ = 0;
    size_t window_filled_ = 0;
};

// What walk_plain_pcap found in a plain pcap file: its records and their connections.
struct PlainPcapWalk {
    uint64_t records = 0;
    FlowKeyTally tally;
    uint64_t shares = 1;        // the walk's shares of the file's bytes
    bool walked_again = false;  // a share's guessed start was not confirmed: one walk after
};

// Walks the records of a classic pcap file held in `file` once, counting them and tallying their
// connections, when every one of them is plain: a version 2.4 header, each record whole and no
// longer than the file's snapshot length (so libpcap reads each as stored). Returns nothing for
// anything else, which then needs libpcap's own reading (pcapng, other magic numbers,
// truncation, damage) or a read that fails, a file cut short under the walk included.
//
// A large file is walked in shares of its bytes on up to `threads` threads (at most 16), each
// reading its own window. A share after the first begins at the first offset of its bytes where
// eight records in a row pass the rules (find_plain_record_start): a guess, which the walk before
// it confirms by ending exactly there. When any share's guess is not confirmed the file is walked
// again on one thread, from its first record: the answer never rests on a guess.
//
// `min_share_bytes`: a share is at least this large. Smaller shares cost more than a thread's
// start, and from 1 MiB a share always holds a record's start (a record is at most 256 KiB);
// tests take small ones to walk small files in many shares.
inline constexpr uint64_t plain_walk_min_share_bytes = uint64_t{1} << 20;
std::optional<PlainPcapWalk> walk_plain_pcap(CaptureBytes& file, PlainPcapLayout& layout,
                                             LinkType link, bool vlan_in_key, unsigned threads,
                                             uint64_t min_share_bytes = plain_walk_min_share_bytes);

// What a plain file's records must be (its header's snapshot length and timestamp unit), read
// from the file header into `layout`; nothing when the file is not a classic pcap 2.4.
struct PlainRecordRules {
    uint32_t snaplen;
    uint32_t fraction_limit;  // a time's fraction of a second stays below this
};
std::optional<PlainRecordRules> read_plain_pcap_header(CaptureBytes& file, PlainPcapLayout& layout);

// The first offset in [from, limit) of a file of `file.size()` bytes at which records in a row
// pass the rules, each whole, with no more captured than its wire length and within an hour of
// the one before: eight of them, or fewer ending exactly at the file's end. Nothing when there is
// none. Where a share of a file begins.
std::optional<uint64_t> find_plain_record_start(CaptureBytes& file, const PlainPcapLayout& layout,
                                                const PlainRecordRules& rules, uint64_t from,
                                                uint64_t limit);

// One record of a plain pcap file: its time and its frame as captured.
struct PlainRecord {
    uint64_t time_ns;
    const uint8_t* frame;  // null when read without it; valid until the reader's next read
    uint32_t length;       // bytes captured
};

// The records of a plain pcap file (the probe's PlainPcapLayout), in order, through a window
// (CaptureBytes): the capture clock reads their times, the capture feed
// (src/datapath/capture_feed.h) their frames too.
class PlainRecordReader {
  public:
    PlainRecordReader(CaptureBytes bytes, const PlainPcapLayout& layout) noexcept;
    // The file at `path`, unless its size differs from what the probe walked: a file rewritten
    // since is left to libpcap.
    static std::optional<PlainRecordReader> open(const std::string& path,
                                                 const PlainPcapLayout& layout);

    // The next record, with its frame's bytes when `with_frame`; nothing past the last record,
    // or where the file no longer holds a whole one (cut short since the probe). Inline: the
    // capture feed reads every record of a capture here, nearly always where the window already
    // holds it.
    std::optional<PlainRecord> next(bool with_frame) noexcept {
        const uint64_t held = held_end_ > offset_ ? held_end_ - offset_ : 0;
        if (held >= pcap_record_header_bytes) {
            const uint8_t* header = held_base_ + (offset_ - held_start_);
            const uint32_t length = pcap_u32(header + 8, layout_.swapped);
            if (!with_frame || held - pcap_record_header_bytes >= length) {
                previous_offset_ = offset_;
                offset_ += pcap_record_header_bytes + length;
                return PlainRecord{
                    .time_ns = pcap_record_time_ns(header, layout_),
                    .frame = with_frame ? header + pcap_record_header_bytes : nullptr,
                    .length = length};
            }
        }
        return next_from_window(with_frame);
    }
    // Takes the record next() returned last back: the next call returns it again.
    void put_back() noexcept { offset_ = previous_offset_; }

  private:
    // next() where the window does not hold the record whole: read from the file (or the end).
    std::optional<PlainRecord> next_from_window(bool with_frame) noexcept;

    CaptureBytes bytes_;
    PlainPcapLayout layout_;
    uint64_t offset_;  // of the next record's header
    uint64_t previous_offset_;
    // What the window held when last read: file bytes [held_start_, held_end_) at held_base_.
    const uint8_t* held_base_ = nullptr;
    uint64_t held_start_ = 0;
    uint64_t held_end_ = 0;
};

// Packet times of a capture, read in step with the net_pcap vdev: Debian's DPDK 22.11 net_pcap
// cannot hand over the file's timestamps (it registers the timestamp field but does not
// advertise the offload, so ethdev refuses to enable it). The worker that polls the capture's only
// queue takes the next record's time here for every frame the vdev gives it: same file, same
// order, nanosecond precision. A plain pcap file's record headers are walked through CaptureBytes
// (one pread a window); anything else is read through libpcap a second time.
class CaptureClock {
  public:
    CaptureClock() = default;
    ~CaptureClock();
    CaptureClock(const CaptureClock&) = delete;
    CaptureClock& operator=(const CaptureClock&) = delete;

    // `probe` is probe_capture's answer for the same path.
    bool open(const std::string& path, const CaptureProbe& probe, std::string& error);
    // The next record's time in ns since the epoch; the last time again past the end.
    uint64_t next_ns() noexcept;
    uint64_t last_ns() const noexcept { return last_ns_; }

  private:
    uint64_t next_plain_ns() noexcept;
    uint64_t next_libpcap_ns() noexcept;

    struct pcap* handle_ = nullptr;
    std::optional<PlainRecordReader> plain_;  // as long as the probe found the records plain
    uint64_t last_ns_ = 0;
};

// Returns the probe, or sets `error` to a one-line reason (missing file, not a capture, link type
// the decoder does not read, a pcapng libpcap cannot read). `vlan_in_key`: the flow key's rule
// (Options::vlan_in_key), for the connection count.
std::optional<CaptureProbe> probe_capture(const std::string& path, std::string& error,
                                          bool vlan_in_key = false);

// The same answer from libpcap reading every record (what probe_capture falls back to); the
// tests and the probe's fuzz target hold the header walk to it.
std::optional<CaptureProbe> probe_capture_by_reading(const std::string& path, std::string& error,
                                                     bool vlan_in_key = false);

}  // namespace rstscope
