#pragma once
// The DNS message codec: parse one query, write one response. Nothing here allocates, so it can
// run on the query path; every buffer belongs to the caller.

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <span>

#include "dns/name.h"
#include "dns/types.h"
#include "dns/wire.h"

namespace clusterdns {

// What a query parse concluded. Anything but Ok and Drop still gets a response carrying that
// RCODE; Drop gets none (too short to answer, or a response rather than a query).
enum class ParseStatus : uint8_t { Ok, Drop, FormErr, NotImp, BadVers };

struct Query {
    uint16_t id = 0;
    uint16_t flags = 0;  // the query's header flags word, as received
    Opcode opcode = Opcode::Query;
    bool has_question = false;
    Name qname;        // as the client wrote it: the response repeats its case
    Name qname_lower;  // lookup key
    RrType qtype = RrType::A;
    uint16_t qclass = 1;
    bool has_edns = false;
    uint8_t edns_version = 0;
    bool dnssec_ok = false;
    uint16_t udp_payload_size = kClassicUdpSize;  // what the client can take over UDP

    bool rd() const noexcept { return (flags & 0x0100) != 0; }
    bool cd() const noexcept { return (flags & 0x0010) != 0; }
};

// Parses a query. Fills as much of `q` as it could read, so an error response can still echo the
// id, the opcode and, where it parsed, the question.
ParseStatus parse_query(std::span<const uint8_t> packet, Query& q) noexcept;

// Room for the RDATA of any type whose names read_rdata() decompresses: two names and 20 octets.
constexpr size_t kMaxNamedRdata = 2 * kMaxNameWire + 20;

// Reads the RDATA (RDLENGTH `length`) at the reader's position: for the types that hold names
// (NS, CNAME, PTR, DNAME, SOA, MX, SRV) into `buf`, the names decompressed; for the others as it
// lies in the message. Fails the reader when it is malformed or does not fill `length` exactly.
std::span<const uint8_t> read_rdata(WireReader& r, RrType type, uint16_t length,
                                    std::span<uint8_t, kMaxNamedRdata> buf) noexcept;

// A resource record of a message: its owner, type, TTL and RDATA as read_rdata gives it.
struct WireRecord {
    Name owner;
    RrType type = RrType::A;
    uint32_t ttl = 0;
    std::span<const uint8_t> rdata;
};

// Reads the record at the reader's position (the RDATA into `buf` where it holds names); false,
// the reader failed, when it is malformed.
bool read_record(WireReader& r, std::span<uint8_t, kMaxNamedRdata> buf, WireRecord& out) noexcept;

// Whether `message` is a well-formed response (to `q`, when given: the same question, names
// compared case-insensitively): QR set, every name decompresses, each RDATA (with the names of
// NS, CNAME, PTR, DNAME, SOA, MX and SRV) fills exactly its RDLENGTH, nothing after the last
// record. What a forwarder checks of an upstream's answer before it relays or keeps it.
bool well_formed_response(std::span<const uint8_t> message, const Query* q = nullptr) noexcept;

// Builds a response in a caller-owned buffer: header, question, then RRs in section order,
// compressing owner names and the names inside NS/CNAME/PTR/SOA RDATA (RFC 3597 4). An RR that
// does not fit is left out; leaving out an answer or authority RR sets TC (RFC 2181 9).
class ResponseWriter {
public:
    // `limit` is the size the response may take (UDP payload size, or 65535 on TCP).
    ResponseWriter(std::span<uint8_t> out, size_t limit) noexcept;

    // Writes the header and (if the query has one) the question. Copies id, opcode, RD and CD.
    void begin(const Query& q) noexcept;
    void set_rcode(Rcode rcode) noexcept { rcode_ = rcode; }
    void set_authoritative(bool aa) noexcept { aa_ = aa; }
    void set_truncated() noexcept { tc_ = true; }

    // Appends one RR whose RDATA is in uncompressed wire form. Returns false if it did not fit.
    bool add(Section section, WireName owner, RrType type, uint32_t ttl,
             std::span<const uint8_t> rdata) noexcept;

    // Where the message ends now, to take back what was added after it: an RRset that does not
    // fit whole in the additional section is left out whole (RFC 2181 9).
    struct Mark {
        size_t pos;
        size_t compression_count;
        uint16_t counts[3];
        Section last_section;
    };
    Mark mark() const noexcept {
        return {w_.pos(), compression_count_, {counts_[0], counts_[1], counts_[2]}, last_section_};
    }
    void rewind(const Mark& m) noexcept {
        w_.rewind(m.pos);
        compression_count_ = m.compression_count;
        std::copy(std::begin(m.counts), std::end(m.counts), std::begin(counts_));
        last_section_ = m.last_section;
    }

    bool truncated() const noexcept { return tc_; }
    Rcode rcode() const noexcept { return rcode_; }
    uint16_t count(Section s) const noexcept { return counts_[static_cast<size_t>(s)]; }

    // Writes counts, flags and the OPT record; returns the message length.
    size_t finish() noexcept;

private:
    // A name written earlier (or a suffix of one) that later names can point to.
    struct CompressionEntry {
        uint16_t offset;
        uint8_t labels;  // labels from there to the root: only equal counts can match
    };

    void write_name(WireName name) noexcept;
    void write_labels(std::span<const uint8_t> labels_bytes, size_t labels) noexcept;
    void remember(size_t offset, size_t labels) noexcept;
    bool matches(size_t offset, WireName name) const noexcept;

    static constexpr size_t kMaxCompressionEntries = 48;

    WireWriter w_;
    size_t limit_;
    const Query* query_ = nullptr;
    Rcode rcode_ = Rcode::NoError;
    bool aa_ = false;
    bool tc_ = false;
    uint16_t counts_[3] = {0, 0, 0};
    Section last_section_ = Section::Answer;
    CompressionEntry compression_[kMaxCompressionEntries];
    size_t compression_count_ = 0;
};

// The largest UDP response we send, whatever the client offers: the DNS flag day 2020 value,
// which avoids IP fragmentation on common paths.
constexpr uint16_t kMaxUdpResponse = 1232;

// How a message travels: over UDP the client's payload size bounds a response, over TCP 64 KiB.
enum class Transport : uint8_t { Udp, Tcp };

// The most a response to `q` may take: over UDP the client's payload size (512 without EDNS).
size_t response_limit(const Query& q, Transport transport) noexcept;

// The response to a forwarded query: the upstream's `response` with the client's ID, or, when it
// does not fit `transport`'s limit for this client, an empty one with TC set (the client retries
// over TCP). With an empty `response` (no upstream answered), or one that does not answer
// `query` (QR clear, another question or opcode, malformed), SERVFAIL. Returns the size in
// `out`, 0 if `query` cannot be answered at all.
size_t forwarded_response(std::span<const uint8_t> query, std::span<const uint8_t> response,
                          std::span<uint8_t> out, Transport transport) noexcept;

// An empty response to `query` with `rcode` (REFUSED when too many queries are forwarded).
size_t error_response(std::span<const uint8_t> query, Rcode rcode, std::span<uint8_t> out,
                      Transport transport) noexcept;

// The query a resolver sends for `name` on behalf of `like`: its type, RD, and EDNS (1232 bytes)
// with its DO bit; ID 0. Returns its size in `out`, 0 if it does not fit.
size_t query_for(const Query& like, WireName name, std::span<uint8_t> out) noexcept;

}  // namespace clusterdns
