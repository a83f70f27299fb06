// SPDX-License-Identifier: BSD-3-Clause
// header_walk: what walking a classic pcap file's record headers costs through a mapping of the
// file against through CaptureBytes (pread into a window), the two ways the probe and the capture
// clock could read them (src/capture/capture_probe.h). Both walks are the same loop (each record's
// time read, then the next header at 16 + caplen bytes on); each is timed with the file already in
// the page cache (the first walk reads it in and is not counted).
//
// usage: header_walk FILE   prints: records=N mapped_s=A pread_s=B mapped_per_pread=R
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

#include "capture/capture_probe.h"

namespace {

constexpr uint64_t file_header = 24;
constexpr uint64_t record_header = 16;

uint32_t u32(const uint8_t* at) {
    uint32_t v;
    std::memcpy(&v, at, 4);
    return v;
}

struct Walk {
    uint64_t records = 0;
    uint64_t seconds_sum = 0;  // keeps the reads of the times
    double seconds = 0;
};

template <class HeaderAt>
Walk walk(uint64_t size, HeaderAt header_at) {
    Walk w;
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t offset = file_header; size - offset >= record_header;) {
        const uint8_t* header = header_at(offset);
        if (header == nullptr) break;
        w.seconds_sum += u32(header);
        offset += record_header + u32(header + 8);
        ++w.records;
    }
    w.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: header_walk FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(file_header)) {
        std::fprintf(stderr, "header_walk: cannot read %s\n", argv[1]);
        return 1;
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    auto pread_walk = [&] {
        std::optional<rstscope::CaptureBytes> bytes = rstscope::CaptureBytes::open_file(argv[1]);
        if (!bytes) return Walk{};
        return walk(size, [&](uint64_t offset) { return bytes->at(offset, record_header); });
    };
    auto mapped_walk = [&] {
        void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) return Walk{};
        const auto* base = static_cast<const uint8_t*>(map);
        Walk w = walk(size, [&](uint64_t offset) { return base + offset; });
        munmap(map, size);
        return w;
    };
    pread_walk();  // the page cache filled
    Walk mapped = mapped_walk();
    Walk pread = pread_walk();
    if (mapped.records != pread.records || mapped.seconds_sum != pread.seconds_sum) {
        std::fprintf(stderr, "header_walk: the two walks disagree\n");
        return 1;
    }
    std::printf("records=%llu mapped_s=%.3f pread_s=%.3f mapped_per_pread=%.2f\n",
                static_cast<unsigned long long>(pread.records), mapped.seconds, pread.seconds,
                mapped.seconds / pread.seconds);
    close(fd);
    return 0;
}
