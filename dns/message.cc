#include "dns/message.h"

#include <algorithm>

namespace clusterdns {
namespace {

constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagAa = 0x0400;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagCd = 0x0010;
constexpr uint16_t kEdnsDoBit = 0x8000;
constexpr size_t kOptSize = 11;  // root owner, type, class, ttl, rdlength

// Skips one resource record; returns true if it was an OPT record (its fields are then parsed).
bool skip_rr(WireReader& r, Query& q, bool& bad_opt) noexcept {
    const size_t owner_at = r.pos();
    Name::read(r);
    const bool root_owner = r.ok() && r.pos() == owner_at + 1;
    const auto type = static_cast<RrType>(r.u16());
    const uint16_t rrclass = r.u16();
    const uint32_t ttl = r.u32();
    const uint16_t rdlength = r.u16();
    r.skip(rdlength);
    if (!r.ok() || type != RrType::Opt) {
        return false;
    }
    if (!root_owner || q.has_edns) {  // RFC 6891 6.1.1: one OPT, owned by the root
        bad_opt = true;
        return true;
    }
    q.has_edns = true;
    q.udp_payload_size = std::max(rrclass, kClassicUdpSize);  // RFC 6891 6.2.5
    q.edns_version = static_cast<uint8_t>(ttl >> 16);
    q.dnssec_ok = (ttl & kEdnsDoBit) != 0;
    return true;
}

}  // namespace

bool well_formed_response(std::span<const uint8_t> message, const Query* q) noexcept {
    WireReader r(message);
    r.skip(2);
    const uint16_t flags = r.u16();
    const uint16_t questions = r.u16();
    const uint32_t records = uint32_t{r.u16()} + r.u16() + r.u16();
    if (!r.ok() || (flags & 0x8000) == 0 || questions > 1 || (q != nullptr && questions != 1)) {
        return false;
    }
    if (questions == 1) {
        const Name name = Name::read(r);
        const uint16_t type = r.u16();
        const uint16_t qclass = r.u16();
        if (q != nullptr && (!name_equal(name.wire(), q->qname.wire()) ||
                             type != static_cast<uint16_t>(q->qtype) || qclass != q->qclass)) {
            return false;
        }
    }
    for (uint32_t i = 0; i < records && r.ok(); ++i) {
        uint8_t buf[kMaxNamedRdata];
        WireRecord record;
        read_record(r, buf, record);
    }
    return r.ok() && r.remaining() == 0;
}

bool read_record(WireReader& r, std::span<uint8_t, kMaxNamedRdata> buf, WireRecord& out) noexcept {
    out.owner = Name::read(r);
    out.type = static_cast<RrType>(r.u16());
    r.skip(2);  // class
    out.ttl = r.u32();
    const uint16_t length = r.u16();
    out.rdata = read_rdata(r, out.type, length, buf);
    return r.ok();
}

std::span<const uint8_t> read_rdata(WireReader& r, RrType type, uint16_t length,
                                    std::span<uint8_t, kMaxNamedRdata> buf) noexcept {
    const size_t start = r.pos();
    if (r.remaining() < length) {
        r.fail();
        return {};
    }
    size_t size = 0;
    const auto name = [&] {
        const Name n = Name::read(r);
        std::memcpy(buf.data() + size, n.wire().data(), n.size());
        size += n.size();
    };
    const auto fixed = [&](size_t octets) {
        for (size_t k = 0; k < octets; ++k) {
            buf[size++] = r.u8();
        }
    };
    switch (type) {
        case RrType::Ns:
        case RrType::Cname:
        case RrType::Ptr:
        case RrType::Dname:
            name();
            break;
        case RrType::Soa:
            name();
            name();
            fixed(20);
            break;
        case RrType::Mx:
            fixed(2);
            name();
            break;
        case RrType::Srv:
            fixed(6);
            name();
            break;
        default:  // no names inside: as it is
            r.skip(length);
            return r.ok() ? r.data().subspan(start, length) : std::span<const uint8_t>();
    }
    if (!r.ok() || r.pos() != start + length) {
        r.fail();
        return {};
    }
    return buf.first(size);
}

ParseStatus parse_query(std::span<const uint8_t> packet, Query& q) noexcept {
    WireReader r(packet);
    q.id = r.u16();
    q.flags = r.u16();
    const uint16_t qdcount = r.u16();
    const uint16_t ancount = r.u16();
    const uint16_t nscount = r.u16();
    const uint16_t arcount = r.u16();
    if (!r.ok() || (q.flags & kFlagQr) != 0) {
        return ParseStatus::Drop;
    }
    q.opcode = static_cast<Opcode>((q.flags >> 11) & 0xF);
    if (qdcount == 1) {
        q.qname = Name::read(r);
        q.qtype = static_cast<RrType>(r.u16());
        q.qclass = r.u16();
        if (!r.ok()) {
            return ParseStatus::FormErr;
        }
        q.has_question = true;
        q.qname_lower.assign_lower(q.qname);
    }
    if (qdcount > 1) {
        return q.opcode != Opcode::Query ? ParseStatus::NotImp : ParseStatus::FormErr;
    }
    // With no question the records are still read: an RFC 7873 5.4 cookie probe is a query
    // with QDCOUNT=0 and an OPT, and its FORMERR (we keep no cookies) carries our OPT.
    bool bad_opt = false;
    const uint32_t records = static_cast<uint32_t>(ancount) + nscount + arcount;
    for (uint32_t i = 0; i < records && r.ok(); ++i) {
        const bool in_additional = i >= static_cast<uint32_t>(ancount) + nscount;
        if (skip_rr(r, q, bad_opt) && !in_additional) {
            bad_opt = true;  // OPT belongs in the additional section only
        }
    }
    if (!r.ok() || bad_opt) {
        q.has_edns = false;  // RFC 6891 7: no OPT in a FORMERR caused by a broken one
    }
    if (q.opcode != Opcode::Query) {
        // RFC 1035 4.1.1; the question is echoed, and the OPT too when it parsed (RFC 6891 7).
        return ParseStatus::NotImp;
    }
    if (!r.ok() || bad_opt) {
        return ParseStatus::FormErr;
    }
    if (q.has_question && q.qtype == RrType::Opt) {
        return ParseStatus::FormErr;  // a meta type: never a question (RFC 6891 6.1.1)
    }
    if (q.has_edns && q.edns_version > 0) {
        return ParseStatus::BadVers;  // RFC 6891 6.1.3
    }
    return q.has_question ? ParseStatus::Ok : ParseStatus::FormErr;
}

ResponseWriter::ResponseWriter(std::span<uint8_t> out, size_t limit) noexcept
    : w_(out), limit_(std::min(limit, out.size())) {
}

void ResponseWriter::begin(const Query& q) noexcept {
    query_ = &q;
    if (q.has_edns) {
        limit_ = limit_ > kOptSize ? limit_ - kOptSize : 0;  // room for the OPT record
    }
    w_.u16(q.id);
    w_.u16(0);  // flags, written by finish()
    w_.u16(q.has_question ? 1 : 0);
    w_.u16(0);
    w_.u16(0);
    w_.u16(0);
    if (q.has_question) {
        write_name(q.qname.wire());
        w_.u16(static_cast<uint16_t>(q.qtype));
        w_.u16(q.qclass);
    }
}

bool ResponseWriter::add(Section section, WireName owner, RrType type, uint32_t ttl,
                         std::span<const uint8_t> rdata) noexcept {
    if (tc_ || section < last_section_) {
        return false;  // once an answer is cut, nothing after it may follow; sections in order
    }
    const size_t start = w_.pos();
    const size_t compression_mark = compression_count_;
    write_name(owner);
    w_.u16(static_cast<uint16_t>(type));
    w_.u16(static_cast<uint16_t>(RrClass::In));
    w_.u32(ttl);
    const size_t rdlength_at = w_.pos();
    w_.u16(0);
    switch (type) {
        case RrType::Ns:
        case RrType::Cname:
        case RrType::Ptr:
            write_name(rdata);
            break;
        case RrType::Soa: {
            // MNAME and RNAME are stored back to back, each a complete wire name.
            const size_t mname_size = name_wire_size(rdata);
            const size_t rname_size = name_wire_size(rdata.subspan(mname_size));
            write_name(rdata.first(mname_size));
            write_name(rdata.subspan(mname_size, rname_size));
            w_.bytes(rdata.subspan(mname_size + rname_size));
            break;
        }
        default:
            w_.bytes(rdata);
            break;
    }
    if (!w_.ok() || w_.pos() > limit_) {
        w_.rewind(start);
        compression_count_ = compression_mark;
        if (section != Section::Additional) {
            tc_ = true;
        }
        return false;
    }
    w_.patch_u16(rdlength_at, static_cast<uint16_t>(w_.pos() - rdlength_at - 2));
    ++counts_[static_cast<size_t>(section)];
    last_section_ = section;
    return true;
}

size_t ResponseWriter::finish() noexcept {
    const Query& q = *query_;
    const auto rcode = static_cast<uint16_t>(rcode_);
    uint16_t flags =
        static_cast<uint16_t>(kFlagQr | (q.flags & (0x7800 | kFlagRd | kFlagCd)) | (rcode & 0xF));
    if (aa_) {
        flags |= kFlagAa;
    }
    if (tc_) {
        flags |= kFlagTc;
    }
    w_.patch_u16(2, flags);
    w_.patch_u16(6, counts_[0]);
    w_.patch_u16(8, counts_[1]);
    uint16_t additional = counts_[2];
    if (q.has_edns) {
        // The limit reserved these bytes, so the OPT record always fits.
        w_.u8(0);
        w_.u16(static_cast<uint16_t>(RrType::Opt));
        w_.u16(kMaxUdpResponse);
        w_.u8(static_cast<uint8_t>(rcode >> 4));  // extended RCODE, upper 8 bits
        w_.u8(0);                                 // we speak EDNS version 0
        w_.u16(q.dnssec_ok ? kEdnsDoBit : 0);     // RFC 3225 3: DO is copied
        w_.u16(0);
        ++additional;
    }
    w_.patch_u16(10, additional);
    return w_.ok() ? w_.pos() : 0;
}

bool ResponseWriter::matches(size_t offset, WireName name) const noexcept {
    const std::span<const uint8_t> msg = w_.buffer().first(w_.pos());
    size_t pos = 0;  // in name
    for (int hops = 0; hops < 64;) {
        if (offset >= msg.size()) {
            return false;
        }
        const uint8_t len = msg[offset];
        if ((len & 0xC0) == 0xC0) {
            if (offset + 1 >= msg.size()) {
                return false;
            }
            offset = static_cast<size_t>(len & 0x3F) << 8 | msg[offset + 1];
            ++hops;
            continue;
        }
        if (pos >= name.size() || name[pos] != len || offset + 1 + len > msg.size()) {
            return false;
        }
        if (len == 0) {
            return true;
        }
        for (size_t i = 1; i <= len; ++i) {
            if (lower_ascii(msg[offset + i]) != lower_ascii(name[pos + i])) {
                return false;
            }
        }
        offset += 1 + len;
        pos += 1 + len;
    }
    return false;
}

void ResponseWriter::remember(size_t offset, size_t labels) noexcept {
    if (offset < 0x4000 && compression_count_ < kMaxCompressionEntries) {
        compression_[compression_count_++] = {static_cast<uint16_t>(offset),
                                              static_cast<uint8_t>(labels)};
    }
}

// Writes whole labels in one copy and remembers where each starts, for later names to point to.
void ResponseWriter::write_labels(std::span<const uint8_t> labels_bytes, size_t labels) noexcept {
    size_t index = 0;
    for (size_t p = 0; p < labels_bytes.size(); p += 1 + labels_bytes[p], ++index) {
        remember(w_.pos() + p, labels - index);
    }
    w_.bytes(labels_bytes);
}

void ResponseWriter::write_name(WireName name) noexcept {
    // Most names we write are the question's name: point at it without a search.
    if (query_ != nullptr && query_->has_question && w_.pos() > kHeaderSize &&
        name_equal(name, query_->qname.wire())) {
        w_.u16(0xC000 | kHeaderSize);
        return;
    }
    const size_t labels = name_label_count(name);
    // Longest suffix first, so the first match is the best one.
    size_t index = 0;
    for (size_t s = 0; s < name.size() && name[s] != 0; s += 1 + name[s], ++index) {
        const WireName suffix = name.subspan(s);
        for (size_t e = 0; e < compression_count_; ++e) {
            if (compression_[e].labels != labels - index ||
                !matches(compression_[e].offset, suffix)) {
                continue;
            }
            write_labels(name.first(s), labels);
            w_.u16(static_cast<uint16_t>(0xC000 | compression_[e].offset));
            return;
        }
    }
    write_labels(name.first(name.size() - 1), labels);
    w_.u8(0);
}

// RFC 6891 6.2.5: over UDP the client's payload size bounds the response (512 without EDNS).
size_t response_limit(const Query& q, Transport transport) noexcept {
    return transport == Transport::Tcp ? kMaxMessageSize
           : q.has_edns                ? std::min<size_t>(q.udp_payload_size, kMaxUdpResponse)
                                       : kClassicUdpSize;
}

size_t forwarded_response(std::span<const uint8_t> query, std::span<const uint8_t> response,
                          std::span<uint8_t> out, Transport transport) noexcept {
    Query q;
    if (parse_query(query, q) != ParseStatus::Ok) {
        return 0;  // it parsed when it was forwarded: cannot happen
    }
    // The ID and the question were matched by c-ares, QR and the question again by
    // well_formed_response; a reply to another opcode answers some other request (RFC 1035 4.1.1:
    // the opcode is copied into the response).
    if (!well_formed_response(response, &q) ||
        ((response[2] >> 3) & 0x0F) != static_cast<uint8_t>(q.opcode)) {
        return error_response(query, Rcode::ServFail, out, transport);  // none, or not a DNS answer
    }
    const size_t limit = response_limit(q, transport);
    if (response.size() <= limit && response.size() <= out.size()) {
        std::copy(response.begin(), response.end(), out.begin());
        out[0] = static_cast<uint8_t>(q.id >> 8);  // c-ares sent it under an ID of its own
        out[1] = static_cast<uint8_t>(q.id);
        return response.size();
    }
    // Too big for this client over UDP: no partial answer, TC so it asks again over TCP.
    ResponseWriter w(out, limit);
    w.begin(q);
    w.set_rcode(static_cast<Rcode>(response[3] & 0x0F));
    w.set_truncated();
    return w.finish();
}

size_t error_response(std::span<const uint8_t> query, Rcode rcode, std::span<uint8_t> out,
                      Transport transport) noexcept {
    Query q;
    if (parse_query(query, q) != ParseStatus::Ok) {
        return 0;
    }
    ResponseWriter w(out, response_limit(q, transport));
    w.begin(q);
    w.set_rcode(rcode);
    return w.finish();
}

size_t query_for(const Query& like, WireName name, std::span<uint8_t> out) noexcept {
    WireWriter w(out);
    const uint8_t header[] = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};  // RD, QD 1, AR 1
    w.bytes(header);
    w.bytes(name);
    w.u16(static_cast<uint16_t>(like.qtype));
    w.u16(1);
    const uint8_t opt[] = {0, 0, 41, 0x04, 0xD0, 0, 0,
                           static_cast<uint8_t>(like.dnssec_ok ? 0x80 : 0), 0, 0, 0};
    w.bytes(opt);
    return w.ok() ? w.pos() : 0;
}

}  // namespace clusterdns
