#include "tests/unit/test_util.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "zone/answer.h"

#ifndef CLUSTERDNS_TEST_DATA
#error "CLUSTERDNS_TEST_DATA must name the tests/data directory"
#endif

namespace clusterdns::test {
namespace {

void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

// A tiny decoder of its own: bounds-checked, follows pointers backwards only.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> m) : m_(m) {}
    bool ok() const { return ok_; }
    size_t pos() const { return pos_; }
    bool at_end() const { return pos_ == m_.size(); }
    uint8_t u8() {
        if (pos_ + 1 > m_.size()) {
            ok_ = false;
            return 0;
        }
        return m_[pos_++];
    }
    uint16_t u16() {
        const uint16_t hi = u8();
        return static_cast<uint16_t>(hi << 8 | u8());
    }
    uint32_t u32() {
        const uint32_t hi = u16();
        return hi << 16 | u16();
    }
    std::string name() { return name_at(pos_, true); }
    // Decodes the name at `at`; if `advance`, moves the cursor past it.
    std::string name_at(size_t at, bool advance) {
        std::string out;
        size_t p = at;
        size_t limit = at;  // a pointer must go before the name it is part of
        bool jumped = false;
        for (int guard = 0; guard < 300; ++guard) {
            if (p >= m_.size()) {
                break;
            }
            const uint8_t len = m_[p];
            if ((len & 0xC0) == 0xC0) {
                if (p + 1 >= m_.size()) {
                    break;
                }
                const size_t target = static_cast<size_t>(len & 0x3F) << 8 | m_[p + 1];
                if (!jumped && advance) {
                    pos_ = p + 2;
                }
                jumped = true;
                if (target >= limit) {
                    break;
                }
                limit = target;
                p = target;
                continue;
            }
            if (len > 63 || p + 1 + len > m_.size()) {
                break;
            }
            if (len == 0) {
                if (!jumped && advance) {
                    pos_ = p + 1;
                }
                return out.empty() ? "." : out;
            }
            out.append(reinterpret_cast<const char*>(m_.data() + p + 1), len);
            out.push_back('.');
            p += 1 + len;
        }
        ok_ = false;
        return {};
    }
    std::span<const uint8_t> message() const { return m_; }

private:
    std::span<const uint8_t> m_;
    size_t pos_ = 0;
    bool ok_ = true;
};

std::string rdata_text(Reader& msg, uint16_t type, size_t start, uint16_t length) {
    const std::span<const uint8_t> rd = msg.message().subspan(start, length);
    char buf[INET6_ADDRSTRLEN];
    switch (type) {
        case 1:
            if (length == 4 && inet_ntop(AF_INET, rd.data(), buf, sizeof buf)) {
                return buf;
            }
            return "<bad A>";
        case 28:
            if (length == 16 && inet_ntop(AF_INET6, rd.data(), buf, sizeof buf)) {
                return buf;
            }
            return "<bad AAAA>";
        case 2:
        case 5:
        case 12:
            return msg.name_at(start, false);
        case 33: {
            if (length < 7) {
                return "<bad SRV>";
            }
            return fmt::format("{} {} {} {}", rd[0] << 8 | rd[1], rd[2] << 8 | rd[3],
                               rd[4] << 8 | rd[5], msg.name_at(start + 6, false));
        }
        case 16: {
            std::string out;
            for (size_t i = 0; i < rd.size(); i += 1 + rd[i]) {
                if (!out.empty()) {
                    out += ' ';
                }
                out += '"';
                out.append(reinterpret_cast<const char*>(rd.data() + i + 1),
                           std::min<size_t>(rd[i], rd.size() - i - 1));
                out += '"';
            }
            return out;
        }
        case 6: {
            Reader r(msg.message());
            const std::string mname = r.name_at(start, false);
            // Find where the MNAME ends inside the RDATA to read RNAME.
            size_t p = start;
            while (p < start + length && msg.message()[p] != 0 &&
                   (msg.message()[p] & 0xC0) != 0xC0) {
                p += 1 + msg.message()[p];
            }
            p += (p < msg.message().size() && (msg.message()[p] & 0xC0) == 0xC0) ? 2 : 1;
            const std::string rname = r.name_at(p, false);
            size_t q = p;
            while (q < start + length && msg.message()[q] != 0 &&
                   (msg.message()[q] & 0xC0) != 0xC0) {
                q += 1 + msg.message()[q];
            }
            q += (q < msg.message().size() && (msg.message()[q] & 0xC0) == 0xC0) ? 2 : 1;
            if (q + 20 != start + length) {
                return "<bad SOA>";
            }
            auto u32at = [&](size_t at) {
                const auto m = msg.message();
                return static_cast<uint32_t>(m[at]) << 24 | m[at + 1] << 16 | m[at + 2] << 8 |
                       m[at + 3];
            };
            return fmt::format("{} {} {} {} {} {} {}", mname, rname, u32at(q), u32at(q + 4),
                               u32at(q + 8), u32at(q + 12), u32at(q + 16));
        }
        default: {
            std::string out;
            for (const uint8_t b : rd) {
                out += fmt::format("{:02x}", b);
            }
            return out;
        }
    }
}

const char* type_name(uint16_t type) {
    switch (type) {
        case 1:
            return "A";
        case 2:
            return "NS";
        case 5:
            return "CNAME";
        case 6:
            return "SOA";
        case 12:
            return "PTR";
        case 16:
            return "TXT";
        case 28:
            return "AAAA";
        case 33:
            return "SRV";
        case 41:
            return "OPT";
        default:
            return "TYPE?";
    }
}

}  // namespace

std::vector<uint8_t> load_hex(std::string_view name) {
    const std::string path = fmt::format("{}/{}", CLUSTERDNS_TEST_DATA, name);
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::vector<uint8_t> out;
    std::string line;
    std::string digits;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '#') {
            continue;
        }
        for (const char c : line) {
            if (std::isxdigit(static_cast<unsigned char>(c))) {
                digits += c;
            }
        }
    }
    if (digits.size() % 2 != 0) {
        throw std::runtime_error("odd number of hex digits in " + path);
    }
    for (size_t i = 0; i < digits.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    }
    return out;
}

std::vector<uint8_t> concat(std::initializer_list<std::span<const uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (const auto part : parts) {
        for (const uint8_t b : part) {
            out.push_back(b);
        }
    }
    return out;
}

std::vector<uint8_t> make_query(const QuerySpec& spec) {
    std::vector<uint8_t> out;
    put16(out, spec.id);
    put16(out, spec.flags);
    put16(out, 1);
    put16(out, 0);
    put16(out, 0);
    put16(out, spec.edns_version >= 0 ? 1 : 0);
    auto name = Name::from_text(spec.name);
    if (!name) {
        throw std::runtime_error("bad test name " + spec.name);
    }
    out.insert(out.end(), name->wire().begin(), name->wire().end());
    put16(out, spec.type);
    put16(out, spec.qclass);
    if (spec.edns_version >= 0) {
        out.push_back(0);
        put16(out, 41);
        put16(out, spec.udp_size);
        out.push_back(0);
        out.push_back(static_cast<uint8_t>(spec.edns_version));
        put16(out, spec.dnssec_ok ? 0x8000 : 0);
        put16(out, 0);
    }
    return out;
}

std::vector<DecodedRr> Decoded::additional_without_opt() const {
    std::vector<DecodedRr> out;
    for (const DecodedRr& rr : additional) {
        if (rr.type != 41) {
            out.push_back(rr);
        }
    }
    return out;
}

const DecodedRr* Decoded::opt() const {
    for (const DecodedRr& rr : additional) {
        if (rr.type == 41) {
            return &rr;
        }
    }
    return nullptr;
}

Decoded decode(std::span<const uint8_t> message) {
    Decoded d;
    Reader r(message);
    d.id = r.u16();
    d.flags = r.u16();
    d.qdcount = r.u16();
    const uint16_t counts[3] = {r.u16(), r.u16(), r.u16()};
    for (uint16_t i = 0; i < d.qdcount; ++i) {
        d.qname = r.name();
        d.qtype = r.u16();
        d.qclass = r.u16();
    }
    std::vector<DecodedRr>* sections[3] = {&d.answer, &d.authority, &d.additional};
    for (size_t s = 0; s < 3; ++s) {
        for (uint16_t i = 0; i < counts[s] && r.ok(); ++i) {
            DecodedRr rr;
            rr.owner_offset = r.pos();
            rr.owner = r.name();
            rr.type = r.u16();
            rr.rrclass = r.u16();
            rr.ttl = r.u32();
            const uint16_t length = r.u16();
            const size_t start = r.pos();
            for (uint16_t b = 0; b < length; ++b) {
                rr.rdata.push_back(r.u8());
            }
            if (!r.ok()) {
                break;
            }
            rr.text = rdata_text(r, rr.type, start, length);
            sections[s]->push_back(std::move(rr));
        }
    }
    d.ok = r.ok() && r.at_end();
    return d;
}

std::vector<std::string> texts(const std::vector<DecodedRr>& rrs) {
    std::vector<std::string> out;
    for (const DecodedRr& rr : rrs) {
        if (rr.type == 41) {
            continue;
        }
        out.push_back(fmt::format("{} {} {} {}", rr.owner, rr.ttl, type_name(rr.type), rr.text));
    }
    return out;
}

Decoded ask(const Snapshot& snapshot, const QuerySpec& spec, size_t limit) {
    const std::vector<uint8_t> packet = make_query(spec);
    Query q;
    if (parse_query(packet, q) != ParseStatus::Ok) {
        throw std::runtime_error("test query did not parse: " + spec.name);
    }
    std::vector<uint8_t> out(65535);
    ResponseWriter w(out, limit);
    w.begin(q);
    if (answer_query(snapshot, q, w) == AnswerStatus::NotOurs) {
        w.set_rcode(Rcode::Refused);  // as the front end does without upstreams
    }
    const size_t size = w.finish();
    return decode(std::span<const uint8_t>(out).first(size));
}

Decoded ask(const Snapshot& snapshot, std::string_view name, uint16_t type, size_t limit) {
    return ask(snapshot, QuerySpec{.name = std::string(name), .type = type}, limit);
}

SnapshotConfig snapshot_config(std::string_view origin) {
    auto name = Name::from_text(origin);
    if (!name) {
        throw std::runtime_error("test origin is no name: " + std::string(origin));
    }
    name->to_lower();
    return {.origin = *name};
}

}  // namespace clusterdns::test
