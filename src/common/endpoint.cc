#include "rstscope/common/endpoint.h"

#include <arpa/inet.h>

namespace rstscope {

size_t format_ip(const IpAddress& address, IpFamily family, char* out, size_t capacity) {
    int af = family == IpFamily::v4 ? AF_INET : AF_INET6;
    // inet_ntop writes the RFC 5952 canonical IPv6 form (lower case, longest zero run compressed).
    if (capacity == 0 ||
        inet_ntop(af, address.bytes, out, static_cast<socklen_t>(capacity)) == nullptr) {
        if (capacity) out[0] = '\0';
        return 0;
    }
    size_t n = 0;
    while (out[n] != '\0')
        ++n;
    return n;
}

}  // namespace rstscope
