#include "plugins/rewrite/rewrite.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <pcre2.h>

namespace clusterdns {

namespace {

// CoreDNS's bound on a pattern's length: compiling a huge one costs memory and time.
constexpr size_t kMaxPattern = 10000;
// A name in presentation form, with room for what a rule adds: a longer result is no name.
constexpr size_t kMaxText = 2048;
constexpr uint16_t kFlagTc = 0x0200;

// PCRE2 allocates through these, so a test can tell that a match did not.
std::atomic<uint64_t> regex_allocated{0};

void* counted_malloc(PCRE2_SIZE size, void*) {
    regex_allocated.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size);
}

void counted_free(void* p, void*) {
    std::free(p);
}

pcre2_general_context* general_context() {
    static pcre2_general_context* const context =
        pcre2_general_context_create(counted_malloc, counted_free, nullptr);
    return context;
}

char lower_char(char c) noexcept {
    return static_cast<char>(lower_ascii(static_cast<uint8_t>(c)));
}

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lower_char);
    return out;
}

// CoreDNS's plugin.Name(x).Normalize(): lowercased, with the final dot.
std::string normalized(std::string_view text) {
    std::string out = lowered(text);
    if (out.empty() || out.back() != '.') {
        out.push_back('.');
    }
    return out;
}

std::vector<std::string_view> split(std::string_view text) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::strchr(" \t\r\n", text[i]) != nullptr) {
            ++i;
        }
        const size_t start = i;
        while (i < text.size() && std::strchr(" \t\r\n", text[i]) == nullptr) {
            ++i;
        }
        if (i > start) {
            out.push_back(text.substr(start, i - start));
        }
    }
    return out;
}

// The highest {N} a replacement refers to; -1 for none.
int highest_group(std::string_view replacement) {
    int highest = -1;
    for (size_t i = 0; i < replacement.size(); ++i) {
        if (replacement[i] != '{') {
            continue;
        }
        size_t j = i + 1;
        int n = 0;
        while (j < replacement.size() && j - i <= 3 && replacement[j] >= '0' &&
               replacement[j] <= '9') {
            n = n * 10 + (replacement[j] - '0');
            ++j;
        }
        if (j > i + 1 && j < replacement.size() && replacement[j] == '}') {
            highest = std::max(highest, n);
        }
    }
    return highest;
}

// Appends to out[size..cap) without overflowing; false once it would.
bool append(char* out, size_t& size, size_t cap, std::string_view text) noexcept {
    if (cap - size < text.size()) {
        return false;
    }
    std::memcpy(out + size, text.data(), text.size());
    size += text.size();
    return true;
}

// `replacement` with each {N} the subject's group N (nothing for a group that took no part).
bool substitute(std::string_view replacement, std::string_view subject,
                std::span<const size_t> offsets, char* out, size_t& size) noexcept {
    size = 0;
    const size_t groups = offsets.size() / 2;
    size_t i = 0;
    while (i < replacement.size()) {
        if (replacement[i] == '{') {
            size_t j = i + 1;
            size_t n = 0;
            while (j < replacement.size() && j - i <= 3 && replacement[j] >= '0' &&
                   replacement[j] <= '9') {
                n = n * 10 + static_cast<size_t>(replacement[j] - '0');
                ++j;
            }
            if (j > i + 1 && j < replacement.size() && replacement[j] == '}' && n < groups) {
                const size_t begin = offsets[2 * n];
                const size_t end = offsets[2 * n + 1];
                if (begin != SIZE_MAX &&
                    !append(out, size, kMaxText, subject.substr(begin, end - begin))) {
                    return false;
                }
                i = j + 1;
                continue;
            }
        }
        if (!append(out, size, kMaxText, replacement.substr(i, 1))) {
            return false;
        }
        ++i;
    }
    return true;
}

// A wire name in presentation form, lowercased, with the escapes of CoreDNS's (miekg/dns's)
// names: a dot or one of  '@;()"\  inside a label after a backslash, other bytes outside
// printable ASCII as \DDD. Returns its length; 0 if it does not fit `cap`.
size_t to_text(WireName name, char* out, size_t cap) noexcept {
    size_t size = 0;
    if (name.size() <= 1) {
        out[0] = '.';
        return 1;
    }
    for (size_t pos = 0; pos < name.size() && name[pos] != 0; pos += 1 + name[pos]) {
        for (size_t k = 1; k <= name[pos] && pos + k < name.size(); ++k) {
            const uint8_t c = lower_ascii(name[pos + k]);
            if (cap - size < 5) {
                return 0;
            }
            if (std::strchr(". '@;()\"\\", c) != nullptr && c != 0) {
                out[size++] = '\\';
                out[size++] = static_cast<char>(c);
            } else if (c < 0x21 || c > 0x7E) {
                out[size++] = '\\';
                out[size++] = static_cast<char>('0' + c / 100);
                out[size++] = static_cast<char>('0' + c / 10 % 10);
                out[size++] = static_cast<char>('0' + c % 10);
            } else {
                out[size++] = static_cast<char>(c);
            }
        }
        if (size == cap) {
            return 0;
        }
        out[size++] = '.';
    }
    return size;
}

// Presentation form (escapes read, the final dot optional) to a wire name: false if it is not
// a domain name (an empty label, a label over 63 octets, over 255 octets in all).
bool from_text(std::string_view text, Name& out) noexcept {
    if (text == ".") {
        out = Name();
        return true;
    }
    uint8_t wire[kMaxNameWire];
    size_t size = 1;      // after the first label's length octet, set when the label ends
    size_t label_at = 0;  // where the open label's length goes
    bool open = false;    // a label has begun and not ended
    const auto close_label = [&]() {
        const size_t length = size - label_at - 1;
        if (length == 0 || length > kMaxLabel || size >= kMaxNameWire) {
            return false;
        }
        wire[label_at] = static_cast<uint8_t>(length);
        label_at = size++;
        open = false;
        return true;
    };
    for (size_t i = 0; i < text.size();) {
        uint8_t byte = static_cast<uint8_t>(text[i]);
        if (byte == '.') {
            if (!close_label()) {
                return false;
            }
            ++i;
            continue;
        }
        if (byte == '\\') {
            const auto digit = [&](size_t k) {
                return k < text.size() && text[k] >= '0' && text[k] <= '9';
            };
            if (digit(i + 1) && digit(i + 2) && digit(i + 3)) {
                const int value =
                    (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
                if (value > 255) {
                    return false;
                }
                byte = static_cast<uint8_t>(value);
                i += 4;
            } else if (i + 1 < text.size()) {
                byte = static_cast<uint8_t>(text[i + 1]);
                i += 2;
            } else {
                return false;
            }
        } else {
            ++i;
        }
        if (size >= kMaxNameWire) {
            return false;
        }
        wire[size++] = byte;
        open = true;
    }
    if (open && !close_label()) {  // the last label had no dot after it
        return false;
    }
    if (size == 1) {
        return false;  // empty
    }
    wire[label_at] = 0;  // the root label
    return Name::from_wire({wire, label_at + 1}, out);
}

// The name `name` would be with its last labels, `zone`, replaced by `by`; false if too long.
bool replace_zone(const Name& name, const Name& zone, const Name& by, Name& out) noexcept {
    const size_t prefix = name.size() - zone.size();
    if (prefix + by.size() > kMaxNameWire) {
        return false;
    }
    uint8_t wire[kMaxNameWire];
    std::memcpy(wire, name.wire().data(), prefix);
    std::memcpy(wire + prefix, by.wire().data(), by.size());
    return Name::from_wire({wire, prefix + by.size()}, out);
}

// Where a name lies in the RDATA of `type`, as read_rdata gives it: its offset, or -1.
int value_name_offset(RrType type) noexcept {
    switch (type) {
        case RrType::Ns:
        case RrType::Cname:
        case RrType::Ptr:
        case RrType::Dname:
        case RrType::Soa:  // MNAME, as CoreDNS
            return 0;
        case RrType::Mx:
            return 2;
        case RrType::Srv:
            return 6;
        default:
            return -1;
    }
}

Result<Regex> compile_checked(std::string_view pattern, std::string_view replacement,
                              std::string_view what) {
    if (pattern.size() > kMaxPattern) {
        return Error{fmt::format("{}: regex pattern too long: {} > {}", what, pattern.size(),
                                 kMaxPattern)};
    }
    auto regex = Regex::compile(pattern);
    if (!regex) {
        return Error{fmt::format("{}: {}", what, regex.error().message)};
    }
    if (const int highest = highest_group(replacement);
        highest > static_cast<int>(regex->groups())) {
        return Error{fmt::format("{}: {} uses group {{{}}}, and {} has {} group{}", what,
                                 replacement, highest, pattern, regex->groups(),
                                 regex->groups() == 1 ? "" : "s")};
    }
    return regex;
}

}  // namespace

// --- Regex ----------------------------------------------------------------------------------

Result<Regex> Regex::compile(std::string_view pattern) {
    pcre2_compile_context* context = pcre2_compile_context_create(general_context());
    int error = 0;
    PCRE2_SIZE offset = 0;
    // RE2's `$` is the end of the text, never before a final newline.
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_DOLLAR_ENDONLY, &error, &offset, context);
    pcre2_compile_context_free(context);
    if (code == nullptr) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        return Error{fmt::format("invalid regex {} at offset {}: {}", quoted(pattern), offset,
                                 reinterpret_cast<const char*>(message))};
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // without JIT, the interpreter
    Regex out;
    out.code_ = code;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &out.groups_);
    return out;
}

Regex::Regex(Regex&& other) noexcept
    : code_(std::exchange(other.code_, nullptr)), groups_(other.groups_) {
}

Regex& Regex::operator=(Regex&& other) noexcept {
    if (this != &other) {
        pcre2_code_free(static_cast<pcre2_code*>(code_));
        code_ = std::exchange(other.code_, nullptr);
        groups_ = other.groups_;
    }
    return *this;
}

Regex::~Regex() {
    pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::search(std::string_view subject, void* match_data,
                   std::span<size_t> offsets) const noexcept {
    auto* data = static_cast<pcre2_match_data*>(match_data);
    const int rc = pcre2_match(static_cast<const pcre2_code*>(code_),
                               reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                               0, data, nullptr);
    if (rc <= 0) {
        return false;
    }
    const PCRE2_SIZE* vector = pcre2_get_ovector_pointer(data);
    const size_t pairs = std::min<size_t>(groups_ + 1, offsets.size() / 2);
    for (size_t i = 0; i < pairs; ++i) {
        const bool set = i < static_cast<size_t>(rc) && vector[2 * i] != PCRE2_UNSET;
        offsets[2 * i] = set ? vector[2 * i] : SIZE_MAX;
        offsets[2 * i + 1] = set ? vector[2 * i + 1] : SIZE_MAX;
    }
    return true;
}

uint64_t regex_allocations() noexcept {
    return regex_allocated.load(std::memory_order_relaxed);
}

// --- Parsing ------------------------------------------------------------------------------

Result<RewriteRule> parse_rewrite_rule(std::string_view text) {
    const std::vector<std::string_view> tokens = split(text);
    const auto fail = [&](std::string_view why) {
        return Error{fmt::format("rule {}: {}", quoted(text), why)};
    };
    if (tokens.empty()) {
        return fail("empty rule");
    }
    RewriteRule rule;
    rule.text = std::string(text);
    size_t at = 0;
    const std::string first = lowered(tokens[0]);
    if (first == "stop" || first == "continue") {
        rule.stop = first == "stop";
        if (tokens.size() < 2) {
            return fail(fmt::format("{} must be followed by a rule type", first));
        }
        at = 1;
    }
    const std::string type = lowered(tokens[at]);
    if (type == "answer") {
        return fail("response rewrites must follow a name rule (name ... answer ...)");
    }
    if (type == "type" || type == "class" || type == "edns0" || type == "ttl" ||
        type == "cname" || type == "rcode") {
        return fail(fmt::format("{} rules are not supported: only name rules are "
                                "(rewrite name ...)",
                                type));
    }
    if (type != "name") {
        return fail(fmt::format("unknown rule type {} (only name rules are supported)",
                                quoted(tokens[at])));
    }
    const std::span<const std::string_view> args(tokens.begin() + static_cast<long>(at) + 1,
                                                 tokens.end());
    if (args.size() < 2) {
        return fail("too few arguments for a name rule (name [TYPE] FROM TO)");
    }
    std::string_view from = args[0];
    std::string_view to = args[1];
    if (args.size() >= 3) {
        const std::string match = lowered(args[0]);
        if (match == "exact") {
            rule.match = NameMatch::Exact;
        } else if (match == "prefix") {
            rule.match = NameMatch::Prefix;
        } else if (match == "suffix") {
            rule.match = NameMatch::Suffix;
        } else if (match == "substring") {
            rule.match = NameMatch::Substring;
        } else if (match == "regex") {
            rule.match = NameMatch::Regex;
        } else {
            return fail(fmt::format("name rules match exact, prefix, suffix, substring or regex, "
                                    "not {}",
                                    quoted(args[0])));
        }
        from = args[1];
        to = args[2];
    }
    rule.to = normalized(to);
    if (rule.match == NameMatch::Regex) {
        rule.from = std::string(from);
        auto regex = compile_checked(from, rule.to, "name regex");
        if (!regex) {
            return fail(regex.error().message);
        }
        rule.regex = std::make_unique<Regex>(std::move(*regex));
    } else {
        rule.from = normalized(from);
    }
    // Exact rules always write the answer back (CoreDNS).
    rule.answer_auto = rule.match == NameMatch::Exact;
    if (args.size() > 3) {
        const std::span<const std::string_view> options = args.subspan(3);
        if (options.size() < 2) {
            return fail("answer options: want answer auto, answer name FROM TO or answer value "
                        "FROM TO");
        }
        bool named_answers = false;
        bool answer_auto = false;
        size_t i = 0;
        while (i < options.size()) {
            // `answer` opens the options; after the first it may be left out.
            if (lowered(options[i]) == "answer") {
                ++i;
            } else if (i == 0) {
                return fail(fmt::format("unexpected {} after the name rule (answer options "
                                        "begin with answer)",
                                        quoted(options[i])));
            }
            if (i == options.size()) {
                return fail("answer: auto, name or value missing");
            }
            const std::string kind = lowered(options[i++]);
            if (kind == "auto") {
                answer_auto = true;
                continue;
            }
            if (kind != "name" && kind != "value") {
                return fail(fmt::format("answer {}: want auto, name or value",
                                        quoted(options[i - 1])));
            }
            if (options.size() - i < 2) {
                return fail(fmt::format("answer {} needs FROM and TO", kind));
            }
            const std::string replacement = normalized(options[i + 1]);
            auto pattern = compile_checked(options[i], replacement, "answer " + kind);
            if (!pattern) {
                return fail(pattern.error().message);
            }
            rule.answers.push_back({.value = kind == "value",
                                    .pattern = std::move(*pattern),
                                    .replacement = replacement});
            named_answers = named_answers || kind == "name";
            i += 2;
        }
        if (answer_auto && named_answers) {
            return fail("answer auto cannot be combined with answer name");
        }
        rule.answer_auto = rule.answer_auto || answer_auto;
    }
    return rule;
}

Result<std::shared_ptr<const RewriteRules>> RewriteRules::parse(
    const std::vector<std::string>& rules) {
    auto out = std::make_shared<RewriteRules>();
    for (const std::string& text : rules) {
        auto rule = parse_rewrite_rule(text);
        if (!rule) {
            return rule.error();
        }
        if (rule->regex) {
            out->max_groups_ = std::max(out->max_groups_, rule->regex->groups());
        }
        for (const AnswerRewrite& answer : rule->answers) {
            out->max_groups_ = std::max(out->max_groups_, answer.pattern.groups());
        }
        out->rules_.push_back(std::move(*rule));
    }
    return std::shared_ptr<const RewriteRules>(std::move(out));
}

// --- Rewriting ----------------------------------------------------------------------------

Rewriter::Rewriter() = default;

Rewriter::~Rewriter() {
    pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
}

void Rewriter::configure(std::shared_ptr<const RewriteRules> rules) {
    pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
    match_data_ = nullptr;
    rules_ = std::move(rules);
    steps_.clear();
    if (!active()) {
        return;
    }
    const uint32_t pairs = rules_->max_groups() + 1;
    match_data_ = pcre2_match_data_create(pairs, general_context());
    offsets_.reset(new size_t[2 * pairs]);
    offsets_size_ = 2 * pairs;
    steps_.reserve(rules_->rules().size());
    if (!query_) {
        query_.reset(new uint8_t[kMaxMessageSize + kMaxNameWire]);
        scratch_.reset(new uint8_t[kMaxMessageSize]);
        text_.reset(new char[2 * kMaxText]);
    }
}

// The rule applied to `name` (presentation form, lowercase): false if it does not match, else
// the rewritten name in `out`, in `buffer` (kMaxText), empty when it would not fit there.
bool Rewriter::rewrite_text(const RewriteRule& rule, std::string_view name,
                            std::string_view& out, char* buffer) noexcept {
    size_t size = 0;
    bool fits = true;
    switch (rule.match) {
        case NameMatch::Exact:
            if (name != rule.from) {
                return false;
            }
            fits = append(buffer, size, kMaxText, rule.to);
            break;
        case NameMatch::Prefix:
            if (!name.starts_with(rule.from)) {
                return false;
            }
            fits = append(buffer, size, kMaxText, rule.to) &&
                   append(buffer, size, kMaxText, name.substr(rule.from.size()));
            break;
        case NameMatch::Suffix:
            if (!name.ends_with(rule.from)) {
                return false;
            }
            fits = append(buffer, size, kMaxText, name.substr(0, name.size() - rule.from.size())) &&
                   append(buffer, size, kMaxText, rule.to);
            break;
        case NameMatch::Substring: {
            size_t at = name.find(rule.from);
            if (at == std::string_view::npos) {
                return false;
            }
            size_t done = 0;
            while (at != std::string_view::npos && fits) {
                fits = append(buffer, size, kMaxText, name.substr(done, at - done)) &&
                       append(buffer, size, kMaxText, rule.to);
                done = at + rule.from.size();
                at = name.find(rule.from, done);
            }
            fits = fits && append(buffer, size, kMaxText, name.substr(done));
            break;
        }
        case NameMatch::Regex: {
            const std::span<size_t> offsets(offsets_.get(), 2 * (rule.regex->groups() + 1));
            if (!rule.regex->search(name, match_data_, offsets)) {
                return false;
            }
            fits = substitute(rule.to, name, offsets, buffer, size);
            break;
        }
    }
    out = fits ? std::string_view(buffer, size) : std::string_view();
    return true;
}

bool Rewriter::apply(const Name& asked) noexcept {
    steps_.clear();
    invalid_ = false;
    if (!active()) {
        return false;
    }
    char* const name_text = text_.get();
    char* const rewritten_text = text_.get() + kMaxText;
    Name current;
    current.assign_lower(asked);
    for (const RewriteRule& rule : rules_->rules()) {
        const size_t length = to_text(current.wire(), name_text, kMaxText);
        std::string_view rewritten;
        if (!rewrite_text(rule, {name_text, length}, rewritten, rewritten_text)) {
            continue;
        }
        Name next;
        if (!from_text(rewritten, next)) {
            invalid_ = true;  // CoreDNS: "invalid name after rewrite", SERVFAIL
            steps_.clear();
            return false;
        }
        // The first step goes back to the name as the client wrote it, case and all.
        steps_.push_back({&rule, steps_.empty() ? asked : current, next});
        current = next;
        if (rule.stop) {
            break;
        }
    }
    return !steps_.empty();
}

Rewriter::Outcome Rewriter::rewrite_query(std::span<const uint8_t> packet) noexcept {
    if (!active() || packet.size() < kHeaderSize || packet[4] != 0 || packet[5] != 1) {
        return Outcome::Unchanged;  // no single question: the chain answers what it is
    }
    WireReader r(packet, kHeaderSize);
    const Name asked = Name::read(r);
    const size_t question_end = r.pos();
    qtype_ = r.u16();
    r.skip(2);
    if (!r.ok()) {
        return Outcome::Unchanged;
    }
    if (!apply(asked)) {
        return invalid_ ? Outcome::Invalid : Outcome::Unchanged;
    }
    asked_ = asked;
    const Name& name = steps_.back().after;
    uint8_t* out = query_.get();
    std::memcpy(out, packet.data(), kHeaderSize);
    std::memcpy(out + kHeaderSize, name.wire().data(), name.size());
    const size_t rest = packet.size() - question_end;
    std::memcpy(out + kHeaderSize + name.size(), packet.data() + question_end, rest);
    query_size_ = kHeaderSize + name.size() + rest;
    return Outcome::Rewritten;
}

bool Rewriter::replay(const Name& asked) noexcept {
    asked_ = asked;
    return apply(asked);
}

// A record's name (its owner, or with `value` the name in its RDATA) through the answer
// rewrites of the rules that matched, the last rule first; false if the result is no name.
bool Rewriter::revert_name(Name& name, bool value) noexcept {
    char* const name_text = text_.get();
    char* const rewritten_text = text_.get() + kMaxText;
    for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
        const RewriteRule& rule = *step->rule;
        for (auto answer = rule.answers.rbegin(); answer != rule.answers.rend(); ++answer) {
            if (answer->value != value) {
                continue;
            }
            const size_t length = to_text(name.wire(), name_text, kMaxText);
            const std::string_view text(name_text, length);
            const std::span<size_t> offsets(offsets_.get(), 2 * (answer->pattern.groups() + 1));
            if (!answer->pattern.search(text, match_data_, offsets)) {
                continue;
            }
            size_t size = 0;
            if (!substitute(answer->replacement, text, offsets, rewritten_text, size) ||
                !from_text({rewritten_text, size}, name)) {
                return false;
            }
        }
        if (!rule.answer_auto) {
            continue;
        }
        if (rule.match == NameMatch::Suffix) {
            // CoreDNS reverses a suffix rule as a suffix: TO back to FROM, label bounds or not.
            const size_t length = to_text(name.wire(), name_text, kMaxText);
            const std::string_view text(name_text, length);
            if (!text.ends_with(rule.to)) {
                continue;
            }
            size_t size = 0;
            if (!append(rewritten_text, size, kMaxText, text.substr(0, length - rule.to.size())) ||
                !append(rewritten_text, size, kMaxText, rule.from) ||
                !from_text({rewritten_text, size}, name)) {
                return false;
            }
        } else if (name_equal(name.wire(), step->after.wire())) {
            name = step->before;
        } else if (name_in_zone(name.wire(), step->after.wire())) {
            Name below;
            if (!replace_zone(name, step->after, step->before, below)) {
                return false;
            }
            name = below;
        }
    }
    return true;
}

size_t Rewriter::revert(std::span<const uint8_t> rewritten_query, std::span<uint8_t> response,
                        size_t size, Transport transport) noexcept {
    // An error answer too (BADVERS, NOTIMP) repeats the question: as much of the query as was
    // read is enough to write it back.
    Query q;
    if (size < kHeaderSize || parse_query(rewritten_query, q) == ParseStatus::Drop ||
        !q.has_question) {
        return size;
    }
    q.qname = asked_;
    q.qname_lower.assign_lower(asked_);
    std::memcpy(scratch_.get(), response.data(), size);
    const std::span<const uint8_t> message(scratch_.get(), size);
    ResponseWriter w(response, response_limit(q, transport));
    w.begin(q);
    const auto servfail = [&]() {
        ResponseWriter failed(response, response_limit(q, transport));
        failed.begin(q);
        failed.set_rcode(Rcode::ServFail);
        return failed.finish();
    };
    WireReader r(message);
    r.skip(2);
    const uint16_t flags = r.u16();
    const uint16_t questions = r.u16();
    const uint16_t counts[3] = {r.u16(), r.u16(), r.u16()};
    for (uint16_t i = 0; i < questions; ++i) {
        (void)Name::read(r);
        r.skip(4);
    }
    unsigned rcode = flags & 0xF;
    uint8_t rdata_buffer[kMaxNamedRdata];
    uint8_t rebuilt[kMaxNamedRdata];
    for (size_t section = 0; section < 3; ++section) {
        for (uint16_t i = 0; i < counts[section]; ++i) {
            WireRecord record;
            if (!read_record(r, rdata_buffer, record)) {
                return servfail();
            }
            if (record.type == RrType::Opt) {
                rcode |= (record.ttl >> 24) << 4;  // the extended RCODE's upper bits
                continue;                          // the writer adds its own
            }
            if (!revert_name(record.owner, false)) {
                return servfail();
            }
            std::span<const uint8_t> rdata = record.rdata;
            if (const int at = value_name_offset(record.type); at >= 0 &&
                                                              rdata.size() > static_cast<size_t>(at)) {
                const auto offset = static_cast<size_t>(at);
                Name target;
                const size_t old_size = name_wire_size(rdata.subspan(offset));
                if (!Name::from_wire(rdata.subspan(offset, old_size), target) ||
                    !revert_name(target, true)) {
                    return servfail();
                }
                const size_t tail = rdata.size() - offset - old_size;
                std::memcpy(rebuilt, rdata.data(), offset);
                std::memcpy(rebuilt + offset, target.wire().data(), target.size());
                std::memcpy(rebuilt + offset + target.size(), rdata.data() + offset + old_size,
                            tail);
                rdata = {rebuilt, offset + target.size() + tail};
            }
            w.add(static_cast<Section>(section), record.owner.wire(), record.type, record.ttl,
                  rdata);
        }
    }
    w.set_rcode(static_cast<Rcode>(rcode));
    const bool truncated = w.truncated();
    const size_t written = w.finish();
    if (written == 0) {
        return servfail();
    }
    // The response's own flags (RA, AD, AA, TC and the rest), with TC if records were left out.
    const uint16_t out_flags = static_cast<uint16_t>(flags | (truncated ? kFlagTc : 0));
    response[2] = static_cast<uint8_t>(out_flags >> 8);
    response[3] = static_cast<uint8_t>(out_flags);
    return written;
}

}  // namespace clusterdns
