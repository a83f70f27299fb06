// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/html_report.h"

#include <time.h>

#include <algorithm>
#include <fstream>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rstscope/mgmt/host_index.h"

namespace rstscope {

// ---- ResetTimeline (management lcore: no allocation) ----

void ResetTimeline::widen() noexcept {
    for (size_t k = 0; k < bucket_count / 2; ++k)
        for (size_t c = 0; c < cause_count; ++c)
            buckets_[k][c] = buckets_[2 * k][c] + buckets_[2 * k + 1][c];
    for (size_t k = bucket_count / 2; k < bucket_count; ++k)
        buckets_[k] = Bucket{};
    used_ = (used_ + 1) / 2;
    width_ns_ *= 2;
}

void ResetTimeline::shift_right(size_t by) noexcept {
    for (size_t i = used_; i-- > 0;)
        buckets_[i + by] = buckets_[i];
    for (size_t i = 0; i < by; ++i)
        buckets_[i] = Bucket{};
    used_ += by;
    start_ns_ -= static_cast<int64_t>(by) * width_ns_;
}

void ResetTimeline::add(uint64_t ts_ns, ResetCause cause) noexcept {
    // Packet times are Unix nanoseconds (below 2^63 until the year 2262).
    int64_t t = static_cast<int64_t>(std::min<uint64_t>(ts_ns, INT64_MAX / 2));
    if (total_ == 0) start_ns_ = t - t % width_ns_;
    // Older than bucket 0: shift right by whole buckets, widening first while they would not fit.
    while (t < start_ns_) {
        auto by = static_cast<size_t>((start_ns_ - t + width_ns_ - 1) / width_ns_);
        if (used_ + by <= bucket_count)
            shift_right(by);
        else
            widen();
    }
    while ((t - start_ns_) / width_ns_ >= static_cast<int64_t>(bucket_count))
        widen();
    auto i = static_cast<size_t>((t - start_ns_) / width_ns_);
    ++buckets_[i][static_cast<size_t>(cause)];
    used_ = std::max(used_, i + 1);
    ++total_;
}

// ---- HtmlReport ----

HtmlReport::HtmlReport(std::string title, HtmlReportLimits limits, HtmlReportLinks links)
    : title_(std::move(title)),
      limits_(limits),
      links_(std::move(links)),
      servers_(limits.top_capacity),
      clients_(limits.top_capacity),
      ports_(65536, 0) {
    if (limits_.arena_bytes == 0)
        limits_.arena_bytes =
            size_t{limits_.max_events} * 1024 + size_t{limits_.max_findings} * 2048;
    arena_.reserve(limits_.arena_bytes);
    event_lines_.reserve(limits_.max_events);
    finding_lines_.reserve(limits_.max_findings);
}

bool HtmlReport::keep(std::string_view line, std::vector<Kept>& into, uint32_t cap) {
    if (into.size() >= cap || arena_.capacity() - arena_.size() < line.size()) return false;
    into.push_back({static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(line.size())});
    arena_.insert(arena_.end(), line.begin(), line.end());  // within the reserved capacity
    return true;
}

void HtmlReport::record_written(std::string_view line, const ResetEventCore* event) {
    if (event) {
        timeline_.add(event->ts_ns, event->cause);
        ++causes_[static_cast<size_t>(event->cause)];
        servers_.add(HostKey::server_of(*event));
        clients_.add(HostKey::client_of(*event));
        ++ports_[event->resp_p];
        first_ts_ns_ = std::min(first_ts_ns_, event->ts_ns);
        last_ts_ns_ = std::max(last_ts_ns_, event->ts_ns);
        if (!keep(line, event_lines_, limits_.max_events)) ++events_left_out_;
        return;
    }
    // Records of another type: findings are kept, anything else is not the report's.
    if (line.find("\"type\":\"finding\"") == std::string_view::npos) return;
    ++findings_seen_;
    if (!keep(line, finding_lines_, limits_.max_findings)) ++findings_left_out_;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

namespace {

using nlohmann::json;

// One colour per cause, in the vocabulary's order (the legend names them).
constexpr std::array<std::string_view, 12> cause_colours{
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"};
static_assert(cause_colours.size() >= enum_count<ResetCause>);

std::string utc_text(double unix_s) {
    if (!(unix_s >= 0) || unix_s > 4e12) return "?";
    time_t whole = static_cast<time_t>(unix_s);
    tm t{};
    gmtime_r(&whole, &t);
    char text[32];
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &t);
    int micro = static_cast<int>((unix_s - static_cast<double>(whole)) * 1e6);
    return fmt::format("{}.{:06d}", text, std::clamp(micro, 0, 999999));
}

std::string utc_text_ns(uint64_t ns) {
    return utc_text(static_cast<double>(ns) / 1e9);
}

std::string duration_text(uint64_t ns) {
    double s = static_cast<double>(ns) / 1e9;
    if (s < 1) return fmt::format("{:g} ms", s * 1e3);
    if (s < 120) return fmt::format("{:g} s", s);
    if (s < 7200) return fmt::format("{:g} min", s / 60);
    if (s < 172800) return fmt::format("{:g} h", s / 3600);
    return fmt::format("{:g} d", s / 86400);
}

std::string text_of(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

// A member as text whatever its type; "" when absent (records are read, never trusted).
std::string member(const json& o, const char* key) {
    auto it = o.find(key);
    return it == o.end() ? std::string() : text_of(*it);
}

std::string endpoint_text(const json& e, const char* host, const char* port) {
    std::string h = member(e, host);
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    return h + ":" + (e.contains(port) ? text_of(e[port]) : "");
}

// A link target from a record: a relative or absolute path, never a scheme such as javascript:.
std::string link_target(const std::string& path) {
    size_t colon = path.find(':');
    if (colon != std::string::npos && path.find('/') > colon) return "./" + path;
    return path;
}

// The events table's pcap cell: the flight recorder's file holding the event's packets (a link
// when the page knows where the files are), with the command that writes the conversation alone.
std::string pcap_cell(const json& e, const std::string& id, const std::string& recorder_dir) {
    if (!e.contains("pcap") || !e["pcap"].is_object()) return {};
    const json& pcap = e["pcap"];
    std::string file = member(pcap, "file");
    if (file.empty()) return {};
    std::string title = fmt::format("{} packets at offset {}; rstscopectl pcap {} -o FILE",
                                    member(pcap, "packets"), member(pcap, "offset"), id);
    if (recorder_dir.empty())
        return fmt::format("<span title=\"{}\">{}</span>", html_escape(title), html_escape(file));
    return fmt::format("<a href=\"{}\" title=\"{}\">{}</a>",
                       html_escape(link_target(recorder_dir + "/" + file)), html_escape(title),
                       html_escape(file));
}

constexpr std::string_view style = R"css(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.5em 0 .4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.3em 0}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.tops{display:flex;flex-wrap:wrap;gap:2em}.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}
.legend span{margin-right:1em;white-space:nowrap}.note{color:#666}#errors{color:#b00;white-space:pre}
#events{font-size:12px}#events td{white-space:nowrap}input#search{width:30em;padding:3px}
svg text{font:11px system-ui,sans-serif;fill:#444}tr:target{background:#ffe}
)css";

// Recorded before anything else runs, so an error anywhere in the page shows on it (and the
// integration test reads #errors from the DOM).
constexpr std::string_view error_script = R"js(
window.addEventListener('error',function(e){var d=document.getElementById('errors');
if(!d){document.title='ERROR '+e.message;return;}d.hidden=false;d.textContent+='error: '+e.message+'\n';});
)js";

// The events table's search: every word typed must appear in a row; `#q=words` in the address
// fills it in (a link to a filtered view).
constexpr std::string_view search_script = R"js(
(function(){
var q=document.getElementById('search'),shown=document.getElementById('shown');
var rows=Array.prototype.slice.call(document.querySelectorAll('#events tbody tr'));
var text=rows.map(function(r){return r.textContent.toLowerCase();});
function filter(){var words=q.value.toLowerCase().split(/\s+/).filter(Boolean),n=0;
rows.forEach(function(r,i){var ok=words.every(function(w){return text[i].indexOf(w)>=0;});
r.hidden=!ok;if(ok)n++;});shown.textContent=String(n);}
q.addEventListener('input',filter);
var m=/^#q=(.*)$/.exec(location.hash);if(m)q.value=decodeURIComponent(m[1]);
filter();document.body.setAttribute('data-ready','1');
})();
)js";

void append_top_table(std::string& out, const char* caption, const char* column,
                      const std::vector<TopHost>& rows, bool approximate, const char* id) {
    out += fmt::format("<div><h3>{}</h3><table id=\"{}\"><tr><th>{}</th><th>resets</th>{}</tr>\n",
                       caption, id, column, approximate ? "<th>error</th>" : "");
    for (const TopHost& r : rows) {
        out += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td>", html_escape(r.host), r.resets);
        if (approximate) out += fmt::format("<td class=\"n\">{}</td>", r.error);
        out += "</tr>\n";
    }
    if (rows.empty()) out += "<tr><td colspan=\"3\">(none)</td></tr>\n";
    out += "</table></div>\n";
}

}  // namespace

std::string HtmlReport::render() const {
    std::string out;
    out.reserve(4096 + event_lines_.size() * 700 + finding_lines_.size() * 600);
    uint64_t total = timeline_.total();
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    // Nothing but this file: no fetch, image, font or frame from anywhere.
    out +=
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n";
    out += fmt::format("<title>{}</title>\n<style>{}</style>\n<script>{}</script>\n</head><body>\n",
                       html_escape(title_), style, error_script);
    out += "<div id=\"errors\" hidden></div>\n";
    out += fmt::format("<h1>{}</h1>\n", html_escape(title_));
    if (total == 0)
        out +=
            "<p id=\"span\"><span id=\"total\" data-value=\"0\">0</span> reset connections.</p>\n";
    else
        out += fmt::format(
            "<p id=\"span\"><span id=\"total\" data-value=\"{0}\">{0}</span> reset connections, "
            "first RST {1} UTC, last {2} UTC (packet time).</p>\n",
            total, utc_text_ns(first_ts_ns_), utc_text_ns(last_ts_ns_));

    // Causes: the legend of the timeline too.
    out +=
        "<h2>Resets by cause</h2>\n<table id=\"causes\"><tr><th>cause</th><th>resets</th>"
        "<th>share</th><th>what it means</th></tr>\n";
    for (size_t c = 0; c < causes_.size(); ++c) {
        if (causes_[c] == 0) continue;
        out += fmt::format(
            "<tr data-cause=\"{0}\"><td><span class=\"swatch\" style=\"background:{1}\"></span>{0}"
            "</td><td class=\"n\">{2}</td><td class=\"n\">{3:.1f} %</td><td>{4}</td></tr>\n",
            reset_cause_names[c], cause_colours[c], causes_[c],
            100.0 * static_cast<double>(causes_[c]) / static_cast<double>(total),
            html_escape(reset_cause_descriptions[c]));
    }
    out += "</table>\n";

    // Timeline: stacked bars, one per bucket, in an inline SVG.
    out += "<h2>Timeline</h2>\n";
    if (timeline_.empty()) {
        out += "<p class=\"note\">No resets.</p>\n";
    } else {
        constexpr int width = 960, height = 240, left = 50, bottom = 20, top = 10;
        size_t buckets = std::max<size_t>(timeline_.used(), 1);
        uint64_t peak = 1;
        for (size_t i = 0; i < buckets; ++i) {
            const auto& b = timeline_.bucket(i);
            peak = std::max(peak, std::accumulate(b.begin(), b.end(), uint64_t{0}));
        }
        double bar = static_cast<double>(width - left) / static_cast<double>(buckets);
        double scale = static_cast<double>(height - bottom - top) / static_cast<double>(peak);
        out += fmt::format(
            "<svg id=\"timeline\" role=\"img\" aria-label=\"resets over time by cause\" "
            "xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
            "viewBox=\"0 0 {0} {1}\" data-buckets=\"{2}\" data-width-ns=\"{3}\">\n",
            width, height, buckets, timeline_.width_ns());
        out += fmt::format(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#888\"/>"
            "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>"
            "<text x=\"{3}\" y=\"{1}\" text-anchor=\"end\">0</text>\n",
            left, height - bottom, width, left - 4, top + 10, peak);
        for (size_t i = 0; i < buckets; ++i) {
            const auto& b = timeline_.bucket(i);
            double y = height - bottom;
            int64_t start = timeline_.start_ns() + static_cast<int64_t>(i * timeline_.width_ns());
            for (size_t c = 0; c < b.size(); ++c) {
                if (b[c] == 0) continue;
                double h = std::max(1.0, static_cast<double>(b[c]) * scale);
                y -= h;
                out += fmt::format(
                    "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                    "fill=\"{}\" data-cause=\"{}\" data-count=\"{}\"><title>{} UTC: {} {}"
                    "</title></rect>\n",
                    left + static_cast<double>(i) * bar, y, std::max(bar - 0.5, 0.5), h,
                    cause_colours[c], reset_cause_names[c], b[c],
                    utc_text(static_cast<double>(start) / 1e9), b[c], reset_cause_names[c]);
            }
        }
        out += fmt::format(
            "<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}"
            "</text>\n</svg>\n",
            left, height - 4, utc_text(static_cast<double>(timeline_.start_ns()) / 1e9), width,
            height - 4,
            utc_text(static_cast<double>(timeline_.start_ns() +
                                         static_cast<int64_t>(buckets * timeline_.width_ns())) /
                     1e9));
        out += fmt::format("<p class=\"note\">{} buckets of {} (UTC, packet time).</p>\n", buckets,
                           duration_text(timeline_.width_ns()));
    }

    // Top servers, clients, ports.
    out += "<h2>Top</h2>\n<div class=\"tops\">\n";
    append_top_table(out, "Servers (responder:port)", "server", servers_.top(limits_.top_rows),
                     servers_.evicted() > 0, "top-servers");
    append_top_table(out, "Clients (originator)", "client", clients_.top(limits_.top_rows),
                     clients_.evicted() > 0, "top-clients");
    std::vector<TopHost> ports;
    std::vector<uint32_t> order(ports_.size());
    std::iota(order.begin(), order.end(), 0);
    size_t n = std::min<size_t>(limits_.top_rows, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                      [&](uint32_t a, uint32_t b) {
                          return ports_[a] != ports_[b] ? ports_[a] > ports_[b] : a < b;
                      });
    for (size_t i = 0; i < n && ports_[order[i]] > 0; ++i)
        ports.push_back({std::to_string(order[i]), ports_[order[i]], 0});
    append_top_table(out, "Ports (responder's)", "port", ports, false, "top-ports");
    out += "</div>\n";
    if (servers_.evicted() > 0 || clients_.evicted() > 0)
        out += fmt::format(
            "<p class=\"note\">More than {} distinct servers or clients: their counts come from a "
            "Space-Saving sketch and overestimate by at most the error shown.</p>\n",
            limits_.top_capacity);

    // Findings.
    out += fmt::format(
        "<h2>Findings</h2>\n<p id=\"findings-count\" data-value=\"{0}\">{0} finding "
        "record(s){1}.</p>\n",
        findings_seen_,
        findings_left_out_ ? fmt::format(", {} not shown (the first {} are)", findings_left_out_,
                                         limits_.max_findings)
                           : "");
    if (!finding_lines_.empty()) {
        out +=
            "<table id=\"findings\"><tr><th>id</th><th>kind</th><th>state</th><th>time (UTC)"
            "</th><th>details</th><th>example events</th></tr>\n";
        for (const Kept& k : finding_lines_) {
            json f =
                json::parse(std::string_view(arena_.data() + k.offset, k.length), nullptr, false);
            if (!f.is_object()) continue;
            std::string details, examples;
            for (const auto& [key, value] : f.items()) {
                if (key == "type" || key == "id" || key == "kind" || key == "state" ||
                    key == "ts" || key == "example_events")
                    continue;
                details += fmt::format("{}{}={}", details.empty() ? "" : " ", key, text_of(value));
            }
            if (f.contains("example_events") && f["example_events"].is_array())
                for (const json& id : f["example_events"])
                    examples +=
                        fmt::format("<a href=\"#ev-{0}\">{0}</a> ", html_escape(text_of(id)));
            out += fmt::format(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                html_escape(f.contains("id") ? text_of(f["id"]) : ""),
                html_escape(member(f, "kind")), html_escape(member(f, "state")),
                f.contains("ts") && f["ts"].is_number() ? utc_text(f["ts"].get<double>()) : "",
                html_escape(details), examples);
        }
        out += "</table>\n";
    }

    // Events.
    out += "<h2>Events</h2>\n";
    out += fmt::format(
        "<p><input id=\"search\" type=\"search\" placeholder=\"search: words that must all "
        "appear in a row (address, port, cause, state, evidence)\"> <span id=\"shown\">{}</span> "
        "of <span id=\"rows\" data-value=\"{}\">{}</span> rows shown.</p>\n",
        event_lines_.size(), event_lines_.size(), event_lines_.size());
    if (events_left_out_)
        out += fmt::format(
            "<p class=\"note\" id=\"left-out\" data-value=\"{0}\">The table holds the first {1} "
            "events; {0} more are in the event log only (--report-events).</p>\n",
            events_left_out_, event_lines_.size());
    out +=
        "<table id=\"events\"><thead><tr><th>id</th><th>time (UTC)</th><th>originator</th>"
        "<th>responder</th><th>rst_by</th><th>state</th><th>history</th><th>cause</th>"
        "<th>confidence</th><th>rst_origin</th><th>evidence</th><th>pcap</th></tr></thead>"
        "<tbody>\n";
    for (const Kept& k : event_lines_) {
        json e = json::parse(std::string_view(arena_.data() + k.offset, k.length), nullptr, false);
        if (!e.is_object()) continue;
        std::string id = e.contains("id") ? text_of(e["id"]) : "";
        std::string evidence;
        if (e.contains("evidence") && e["evidence"].is_array())
            for (const json& v : e["evidence"])
                evidence += (evidence.empty() ? "" : " ") + text_of(v);
        std::string pcap = pcap_cell(e, id, links_.recorder_dir);
        out += fmt::format(
            "<tr id=\"ev-{0}\" data-cause=\"{7}\"><td class=\"n\">{0}</td><td>{1}</td><td>{2}</td>"
            "<td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td><td>{8}</td><td>{9}</td>"
            "<td>{10}</td><td>{11}</td></tr>\n",
            html_escape(id),
            e.contains("ts") && e["ts"].is_number() ? utc_text(e["ts"].get<double>()) : "",
            html_escape(endpoint_text(e, "orig_h", "orig_p")),
            html_escape(endpoint_text(e, "resp_h", "resp_p")), html_escape(member(e, "rst_by")),
            html_escape(member(e, "conn_state")), html_escape(member(e, "history")),
            html_escape(member(e, "cause")), html_escape(member(e, "confidence")),
            html_escape(member(e, "rst_origin")), html_escape(evidence), pcap);
    }
    out += "</tbody></table>\n";
    out += fmt::format("<script>{}</script>\n</body></html>\n", search_script);
    return out;
}

bool HtmlReport::write(const std::string& path, std::string& error) const {
    std::string page = render();
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(page.data(), static_cast<std::streamsize>(page.size()));
    file.close();
    if (!file) {
        error = "cannot write the report " + path;
        return false;
    }
    return true;
}

}  // namespace rstscope
