// SPDX-License-Identifier: BSD-3-Clause
// The vocabularies users see are defined once (counters.h, verdict.h); the docs must list every
// name, so a new cause, evidence or drop reason cannot ship undocumented.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/analysis/verdict.h"
#include "rstscope/common/counters.h"
#include "rstscope/decode/decoded_packet.h"
#include "rstscope/mgmt/control_protocol.h"
#include "rstscope/mgmt/findings.h"
#include "rstscope/mgmt/stats.h"
#include "rstscope/mgmt/vocabulary.h"

namespace rstscope {
namespace {

std::string read_doc(const std::string& name) {
    const char* root = std::getenv("RSTSCOPE_SOURCE_ROOT");
    std::ifstream file(std::string(root ? root : ".") + "/docs/" + name);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

template <size_t N>
void expect_table_rows(const std::string& doc, const std::array<std::string_view, N>& names,
                       const char* what) {
    ASSERT_FALSE(doc.empty()) << "cannot read the document for " << what;
    for (std::string_view name : names) {
        std::string row = "| `" + std::string(name) + "` |";
        EXPECT_NE(doc.find(row), std::string::npos) << what << " " << name << " has no table row";
    }
}

// The memory the docs and --help state per kept event is the event's real size.
TEST(Docs, StatedEventSizesAreTheRealOnes) {
    std::string each = std::to_string(sizeof(ResetEvent)) + " bytes each";
    EXPECT_NE(read_doc("control.md").find("ring allocated at start: " + each), std::string::npos)
        << "docs/control.md, recent events: " << each;
    EXPECT_NE(read_doc("performance.md").find(std::to_string(sizeof(PendingReset)) + " B, "),
              std::string::npos)
        << "docs/performance.md, the linger queue's entry: " << sizeof(PendingReset) << " B";
}

TEST(Docs, CausesDocumentEveryCauseEvidenceStateAndSeqCheck) {
    std::string doc = read_doc("causes.md");
    for (std::string_view cause : reset_cause_names) {
        bool has_section = false;
        std::istringstream lines(doc);
        for (std::string line; std::getline(lines, line);) {
            if (line.rfind("### ", 0) == 0 && line.find(cause) != std::string::npos)
                has_section = true;
        }
        EXPECT_TRUE(has_section) << "cause " << cause << " has no ### section";
    }
    expect_table_rows(doc, evidence_names, "evidence");
    expect_table_rows(doc, conn_state_names, "conn_state");
    expect_table_rows(doc, seq_check_names, "seq_check");
    expect_table_rows(doc, rst_origin_names, "rst_origin");
}

// Every finding kind has its section (what, when raised, false positives) in docs/findings.md.
TEST(Docs, FindingsDocumentEveryKind) {
    std::string doc = read_doc("findings.md");
    ASSERT_FALSE(doc.empty()) << "cannot read docs/findings.md";
    for (std::string_view kind : finding_kind_names) {
        std::string heading = "### `" + std::string(kind) + "`";
        size_t at = doc.find(heading);
        ASSERT_NE(at, std::string::npos) << "finding kind " << kind << " has no section";
        size_t end = doc.find("\n### ", at + heading.size());
        std::string section =
            doc.substr(at, end == std::string::npos ? std::string::npos : end - at);
        EXPECT_NE(section.find("**False positives**"), std::string::npos) << kind;
        EXPECT_NE(section.find("**Raised**"), std::string::npos) << kind;
    }
}

TEST(Docs, ReliabilityDocumentsEveryDropReason) {
    expect_table_rows(read_doc("reliability.md"), drop_reason_names, "drop reason");
}

// Every key of `stats` besides the drop reasons: an operator who reads one there must find what
// it counts in the reliability document, which lists the counters (control.md only names them).
template <size_t N>
void expect_list_entries(const std::string& doc, const std::array<std::string_view, N>& names,
                         const char* what) {
    ASSERT_FALSE(doc.empty()) << "cannot read the document for " << what;
    for (std::string_view name : names) {
        bool listed = false;
        std::istringstream lines(doc);
        for (std::string line; std::getline(lines, line);) {
            bool item = line.rfind("- ", 0) == 0;
            if (item && line.find("`" + std::string(name) + "`") != std::string::npos)
                listed = true;
        }
        EXPECT_TRUE(listed) << what << " " << name << " is in no list of docs/reliability.md";
    }
}

TEST(Docs, ReliabilityDocumentsEveryWorkerCounter) {
    expect_list_entries(read_doc("reliability.md"), worker_counter_names, "worker counter");
}

TEST(Docs, ReliabilityDocumentsEveryManagementCounter) {
    expect_list_entries(read_doc("reliability.md"), management_counter_names, "management counter");
}

// The commands come from the table rstscope registers (control_protocol.cc), not from a copy.
TEST(Docs, ControlDocumentsEveryRegisteredCommand) {
    ControlCommands commands;
    const bool ready = true;
    register_control_commands(commands, ControlHandlers{}, ready);
    std::string doc = read_doc("control.md");
    ASSERT_FALSE(doc.empty()) << "cannot read docs/control.md";
    for (const ControlCommands::Command& c : commands.commands()) {
        std::string row = "| `" + c.name + "` |";
        EXPECT_NE(doc.find(row), std::string::npos) << "command " << c.name << " has no table row";
    }
}

// Whether a table row of `doc` names `name` in its first cell; rows may document two fields at
// once ("| `orig_h`, `orig_p` |").
bool has_row_naming(const std::string& doc, const std::string& name) {
    std::istringstream lines(doc);
    for (std::string line; std::getline(lines, line);) {
        size_t name_cell_end = line.find(" | ", 2);
        if (line.rfind("| `", 0) == 0 && name_cell_end != std::string::npos &&
            line.substr(0, name_cell_end).find("`" + name + "`") != std::string::npos)
            return true;
    }
    return false;
}

// Every field of the event schema (what event_json writes, test_vocabulary.cc) has a row in
// docs/events.md, and every member of an object field a row of its own ("tunnel.type").
TEST(Docs, EventsDocumentEveryField) {
    std::string doc = read_doc("events.md");
    ASSERT_FALSE(doc.empty()) << "cannot read docs/events.md";
    for (const EventField& field : event_fields) {
        EXPECT_TRUE(has_row_naming(doc, std::string(field.name)))
            << "event field " << field.name << " has no row in docs/events.md";
        for (const EventField& member : field.members) {
            std::string name = std::string(field.name) + "." + std::string(member.name);
            EXPECT_TRUE(has_row_naming(doc, name))
                << "member " << name << " has no row in docs/events.md";
        }
    }
}

// Every tunnel type the `tunnel` object may name has a row, with the description of the list.
TEST(Docs, EventsDocumentEveryTunnelType) {
    std::string doc = read_doc("events.md");
    ASSERT_FALSE(doc.empty()) << "cannot read docs/events.md";
    for (size_t i = 1; i < tunnel_type_count; ++i) {
        std::string row = "| `" + std::string(tunnel_type_names[i]) + "` | " +
                          std::string(tunnel_type_descriptions[i]) + " |";
        EXPECT_NE(doc.find(row), std::string::npos) << "no row " << row;
    }
}

}  // namespace
}  // namespace rstscope
