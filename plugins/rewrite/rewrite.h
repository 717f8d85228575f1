#pragma once
// CoreDNS's `rewrite name` rules: the question's name is rewritten before the chain sees it, and
// the response is written back to the name the client asked. A rule is written as in a Corefile
// after the word `rewrite`:
//
//   [stop|continue] name [exact|prefix|suffix|substring|regex] FROM TO [answer OPTIONS]
//
// Rules apply in order to the lowercased name in presentation form ("api.corp.example."); a
// rule that matches rewrites it and, unless it says `continue`, ends the walk. The response's
// question is the client's, and the rules' answer options rewrite the names of its records,
// the rules that matched taken in reverse order (plugins/rewrite/README.md).
//
// RewriteRules is parsed once and shared by every worker, read only; each worker has its own
// Rewriter with its scratch buffers and regex match data, so rewriting a query or a response
// allocates nothing and takes no lock.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/message.h"
#include "dns/name.h"

namespace clusterdns {

// A compiled regular expression (PCRE2, JIT where the machine has it), in the syntax CoreDNS's
// Go (RE2) expressions are written in. Move-only.
class Regex {
public:
    // Fails with PCRE2's message and the offset where the pattern went wrong.
    static Result<Regex> compile(std::string_view pattern);
    Regex(Regex&& other) noexcept;
    Regex& operator=(Regex&& other) noexcept;
    ~Regex();

    uint32_t groups() const noexcept { return groups_; }  // capturing groups, not counting {0}

    // Searches `subject` (anywhere in it, as Go's FindStringSubmatch does); on a match fills
    // `offsets` with a begin and an end per group, {0} first (SIZE_MAX for a group that took
    // no part). `match_data` comes from RegexMatch, sized for this expression's groups.
    bool search(std::string_view subject, void* match_data,
                std::span<size_t> offsets) const noexcept;

private:
    Regex() = default;
    void* code_ = nullptr;  // pcre2_code_8
    uint32_t groups_ = 0;
};

enum class NameMatch : uint8_t { Exact, Prefix, Suffix, Substring, Regex };

// What a rule does to the names of a response's records.
struct AnswerRewrite {
    bool value = false;  // `answer value`: the names in RDATA; else `answer name`: owners
    Regex pattern;
    std::string replacement;  // {0}..{N} stand for the pattern's groups
};

struct RewriteRule {
    std::string text;  // as written, for messages
    bool stop = true;  // `continue` leaves the name to the rules after
    NameMatch match = NameMatch::Exact;
    std::string from;  // lowercased and fully qualified; a regex's source as written
    std::string to;    // lowercased and fully qualified; for a regex {N} stand for its groups
    std::unique_ptr<Regex> regex;  // NameMatch::Regex
    // `answer auto` (always on for exact rules): a response's names that are the rewritten name,
    // or below it, are written back to the name before the rule. A suffix rule instead writes
    // any name ending in TO back to ending in FROM, as CoreDNS does.
    bool answer_auto = false;
    std::vector<AnswerRewrite> answers;
};

// Parses one rule as written after `rewrite` in a Corefile. Refuses every other kind of rewrite
// (type, class, edns0, ttl, cname, rcode) and malformed rules with a message naming the rule.
Result<RewriteRule> parse_rewrite_rule(std::string_view text);

// The rules of a server, in order; immutable once made.
class RewriteRules {
public:
    // Parses every rule; the first bad one fails it all, its message naming it.
    static Result<std::shared_ptr<const RewriteRules>> parse(const std::vector<std::string>& rules);

    const std::vector<RewriteRule>& rules() const noexcept { return rules_; }
    uint32_t max_groups() const noexcept { return max_groups_; }

private:
    std::vector<RewriteRule> rules_;
    uint32_t max_groups_ = 0;
};

// One worker's rewriting: the rules it applies and everything a query needs, allocated when the
// rules are set. Used from one thread.
class Rewriter {
public:
    Rewriter();
    ~Rewriter();
    Rewriter(const Rewriter&) = delete;
    Rewriter& operator=(const Rewriter&) = delete;

    // Takes up `rules` (null or empty: none). Cold path: allocates the buffers and match data.
    void configure(std::shared_ptr<const RewriteRules> rules);
    bool active() const noexcept { return rules_ != nullptr && !rules_->rules().empty(); }

    enum class Outcome : uint8_t {
        Unchanged,  // no rule matched (or no question to match): serve the packet as it is
        Rewritten,  // rewritten(): the packet with the question's new name
        Invalid,    // a rule made something that is not a domain name: SERVFAIL, as CoreDNS
    };
    // Applies the rules to the question of `packet`. On Rewritten, asked() and rewritten() hold
    // until the next call.
    Outcome rewrite_query(std::span<const uint8_t> packet) noexcept;
    std::span<const uint8_t> rewritten() const noexcept { return {query_.get(), query_size_}; }
    const Name& asked() const noexcept { return asked_; }  // as the client wrote it
    uint16_t qtype() const noexcept { return qtype_; }      // of the last query seen

    // Applies the rules to `asked` again, for a response that comes later (a forwarded query):
    // false if none matches now (the rules changed meanwhile).
    bool replay(const Name& asked) noexcept;

    // Writes `response` (`size` bytes, the answer to `rewritten_query`) back to the client's
    // question, with the matched rules' answer rewrites, in place; `response` is the whole
    // buffer it may use. Returns the new size: within the client's limit over `transport`
    // (records left out set TC), a SERVFAIL if the response cannot be read.
    size_t revert(std::span<const uint8_t> rewritten_query, std::span<uint8_t> response,
                  size_t size, Transport transport) noexcept;

private:
    // A rule that matched: the name before it and after it.
    struct Step {
        const RewriteRule* rule;
        Name before;
        Name after;
    };
    bool apply(const Name& asked) noexcept;
    bool rewrite_text(const RewriteRule& rule, std::string_view name, std::string_view& out,
                      char* buffer) noexcept;
    bool revert_name(Name& name, bool value) noexcept;

    std::shared_ptr<const RewriteRules> rules_;
    void* match_data_ = nullptr;  // pcre2_match_data_8, for the rules' most groups
    std::unique_ptr<size_t[]> offsets_;
    size_t offsets_size_ = 0;
    std::vector<Step> steps_;  // capacity: one per rule, reserved by configure()
    bool invalid_ = false;
    Name asked_;
    uint16_t qtype_ = 0;
    std::unique_ptr<uint8_t[]> query_;  // the rewritten query
    size_t query_size_ = 0;
    std::unique_ptr<uint8_t[]> scratch_;  // a response being rewritten, copied from its buffer
    std::unique_ptr<char[]> text_;        // names in presentation form, two at a time
};

// How often PCRE2 allocated (compiling, match data, a match), for the allocation test: matches
// on the query path must not.
uint64_t regex_allocations() noexcept;

}  // namespace clusterdns
