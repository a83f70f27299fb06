// SPDX-License-Identifier: BSD-3-Clause
// Management lcore only (flight_recorder.h).
#include "rstscope/mgmt/flight_recorder.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "rstscope/mgmt/pcapng.h"

namespace rstscope {
namespace {

constexpr std::string_view file_prefix = "flight-";
constexpr std::string_view file_suffix = ".pcapng";
// Packets are written before their event has an id: this comment until it has, in room for
// "rstscope event " and any 64-bit id.
constexpr std::string_view pending_comment = "rstscope event pending";
constexpr uint32_t comment_room = 15 + 20;

// The number of a file the recorder wrote, 0 for any other name.
uint32_t number_of(std::string_view name) {
    if (name.size() <= file_prefix.size() + file_suffix.size() ||
        name.substr(0, file_prefix.size()) != file_prefix ||
        name.substr(name.size() - file_suffix.size()) != file_suffix)
        return 0;
    std::string_view digits =
        name.substr(file_prefix.size(), name.size() - file_prefix.size() - file_suffix.size());
    uint64_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9' || n > UINT32_MAX / 10) return 0;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    return n <= UINT32_MAX ? static_cast<uint32_t>(n) : 0;
}

void bump(std::array<uint64_t, management_counter_count>& c, ManagementCounter which,
          uint64_t n = 1) {
    c[static_cast<size_t>(which)] += n;
}

}  // namespace

std::string flight_file_name(uint32_t file) {
    return fmt::format("{}{:06}{}", file_prefix, file, file_suffix);
}

FlightRecorder::FlightRecorder(FlightFilesConfig config, std::vector<const EvidenceArena*> arenas)
    : config_(std::move(config)), arenas_(std::move(arenas)) {
    if (mkdir(config_.dir.c_str(), 0750) != 0 && errno != EEXIST)
        throw std::runtime_error(
            fmt::format("cannot create --recorder-dir {}: {}", config_.dir, std::strerror(errno)));
    DIR* dir = opendir(config_.dir.c_str());
    if (!dir)
        throw std::runtime_error(
            fmt::format("cannot read --recorder-dir {}: {}", config_.dir, std::strerror(errno)));
    while (dirent* entry = readdir(dir))
        if (uint32_t n = number_of(entry->d_name)) files_.push_back(n);
    closedir(dir);
    std::sort(files_.begin(), files_.end());
    // Room for the file this run opens first.
    delete_beyond_bound(config_.files - 1);
    size_t largest = 0;
    for (const EvidenceArena* arena : arenas_)
        largest = std::max(largest, size_t{arena->max_records()} * arena->record_bytes());
    scratch_.resize(largest);
    // Checked now rather than at the first reset: a directory rstscope may not write to is a
    // start-up error.
    if (access(config_.dir.c_str(), W_OK) != 0)
        throw std::runtime_error(fmt::format("cannot write to --recorder-dir {}: {}", config_.dir,
                                             std::strerror(errno)));
}

FlightRecorder::~FlightRecorder() {
    close_file();
}

void FlightRecorder::delete_beyond_bound(uint32_t keep) {
    while (files_.size() > keep) {
        std::string path = config_.dir + "/" + flight_file_name(files_.front());
        if (unlink(path.c_str()) == 0 || errno == ENOENT)
            bump(counters_, ManagementCounter::recorder_files_deleted);
        files_.erase(files_.begin());
    }
}

void FlightRecorder::close_file() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
}

bool FlightRecorder::open_next_file() {
    close_file();
    delete_beyond_bound(config_.files - 1);
    file_ = std::max(file_, files_.empty() ? 0 : files_.back()) + 1;
    std::string path = config_.dir + "/" + flight_file_name(file_);
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    file_size_ = 0;
    interfaces_.clear();
    if (fd_ < 0) return false;
    files_.push_back(file_);
    std::string header;
    pcapng::append_section_header(header);
    return write_block(header);
}

// The whole block or nothing: a short or failed write is cut back, so the file stays readable.
bool FlightRecorder::write_block(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (ftruncate(fd_, static_cast<off_t>(file_size_)) != 0 ||
                lseek(fd_, static_cast<off_t>(file_size_), SEEK_SET) < 0)
                close_file();  // unusable: the next event opens a new file
            return false;
        }
        done += static_cast<size_t>(n);
    }
    file_size_ += bytes.size();
    bump(counters_, ManagementCounter::recorder_bytes, bytes.size());
    return true;
}

// The packets go to the file as soon as management takes the event from its worker's ring: the
// worker's block is then at most a ring's length old, however long the event then waits in the
// RST-storm window. Their comment is a placeholder with room for any id until the event is settled.
void FlightRecorder::event_received(ResetEvent& event) {
    event.pcap = {};
    if (event.flight_block == 0 || event.worker >= arenas_.size() || !arenas_[event.worker]) return;
    EvidenceView view;
    if (!arenas_[event.worker]->read(event.flight_block, scratch_.data(), view)) {
        bump(counters_, ManagementCounter::recorder_evidence_lost);
        return;
    }
    if (view.count == 0) return;
    out_.clear();
    uint64_t packet_bytes = 0;
    for (uint32_t i = 0; i < view.count; ++i)
        packet_bytes += 28 + 4 + comment_room + 8 + view.header(i).captured + 8;
    bool fits = fd_ >= 0 && file_size_ + packet_bytes + 64 <= config_.file_bytes;
    if (!fits && (fd_ < 0 || file_size_ > 28) && !open_next_file()) {
        bump(counters_, ManagementCounter::recorder_write_errors);
        return;
    }
    // Interfaces first (once per file and link type), then the packets.
    for (uint32_t i = 0; i < view.count; ++i) {
        uint16_t link = view.header(i).link;
        if (std::find(interfaces_.begin(), interfaces_.end(), link) == interfaces_.end()) {
            std::string block;
            pcapng::append_interface(block, link, 65535);
            if (!write_block(block)) {
                bump(counters_, ManagementCounter::recorder_write_errors);
                return;
            }
            interfaces_.push_back(link);
        }
    }
    const uint64_t offset = file_size_;
    for (uint32_t i = 0; i < view.count; ++i) {
        const FlightRecordHeader& h = view.header(i);
        uint32_t interface = static_cast<uint32_t>(
            std::find(interfaces_.begin(), interfaces_.end(), h.link) - interfaces_.begin());
        pcapng::append_packet(out_, interface, h.ts_ns, view.data(i), h.captured, h.length,
                              pending_comment, comment_room);
    }
    if (!write_block(out_)) {
        bump(counters_, ManagementCounter::recorder_write_errors);
        return;
    }
    event.pcap.file = file_;
    event.pcap.offset = offset;
    event.pcap.packets = static_cast<uint16_t>(view.count);
    event.pcap.bytes = static_cast<uint16_t>(out_.size());
    bump(counters_, ManagementCounter::recorder_packets, view.count);
}

// The event has its id: written into its packets' comments (one read and one write of its blocks),
// unless their file was deleted meanwhile (the directory's bound passed while it waited).
void FlightRecorder::event_settled(ResetEventCore& event) {
    if (event.pcap.packets == 0) return;
    const PcapRef ref = event.pcap;
    event.pcap = {};
    int fd = fd_;
    if (ref.file != file_ || fd_ < 0) {
        std::string path = config_.dir + "/" + flight_file_name(ref.file);
        fd = std::find(files_.begin(), files_.end(), ref.file) == files_.end()
                 ? -1
                 : open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            bump(counters_, ManagementCounter::recorder_rotated_out);
            return;
        }
    }
    patch_.resize(ref.bytes);
    bool ok = pread(fd, patch_.data(), ref.bytes, static_cast<off_t>(ref.offset)) ==
                  static_cast<ssize_t>(ref.bytes) &&
              pcapng::set_comments(patch_, pcapng::event_comment(event.id)) &&
              pwrite(fd, patch_.data(), ref.bytes, static_cast<off_t>(ref.offset)) ==
                  static_cast<ssize_t>(ref.bytes);
    if (fd != fd_) close(fd);
    if (!ok) {
        bump(counters_, ManagementCounter::recorder_write_errors);
        return;
    }
    event.pcap = ref;
    bump(counters_, ManagementCounter::recorder_events);
}

void FlightRecorder::run_finished() {
    close_file();
}

void FlightRecorder::add_to(CounterTotals& totals) const {
    for (size_t i = 0; i < counters_.size(); ++i)
        totals.management[i] += counters_[i];
}

}  // namespace rstscope
