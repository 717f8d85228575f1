#include "plugins/corefile/corefile.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/format.h>

namespace clusterdns {
namespace {

struct Token {
    CorefileToken token;
    uint32_t end_line = 0;  // a quoted token may span lines
    bool quoted = false;    // a quoted "{" is text, not a brace
};

using Tokens = std::vector<Token>;

bool is_brace(const Token& t, char brace) {
    return !t.quoted && t.token.text.size() == 1 && t.token.text[0] == brace;
}

// Caddy 1's lexer: tokens split at whitespace; a double quote opens a token only at its start
// and `\"` is the one escape inside it (other backslashes stay); `#` starts a comment anywhere
// outside quotes, to the end of the line.
Result<Tokens> lex(std::string_view text, const std::string& file) {
    Tokens out;
    uint32_t line = 1;
    size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            ++i;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            ++i;
            continue;
        }
        if (c == '#') {
            while (i < text.size() && text[i] != '\n') {
                ++i;
            }
            continue;
        }
        Token t;
        t.token.file = file;
        t.token.line = line;
        if (c == '"') {
            t.quoted = true;
            ++i;
            bool closed = false;
            while (i < text.size()) {
                const char q = text[i++];
                if (q == '\\' && i < text.size() && text[i] == '"') {
                    t.token.text += '"';
                    ++i;
                } else if (q == '"') {
                    closed = true;
                    break;
                } else {
                    line += q == '\n';
                    t.token.text += q;
                }
            }
            if (!closed) {
                return Error{
                    fmt::format("{}:{}: a quote opened here is never closed", file, t.token.line)};
            }
        } else {
            while (i < text.size()) {
                const char p = text[i];
                if (p == ' ' || p == '\t' || p == '\r' || p == '\n' || p == '\v' || p == '\f') {
                    break;
                }
                if (p == '#') {  // the rest of the line is a comment
                    while (i < text.size() && text[i] != '\n') {
                        ++i;
                    }
                    break;
                }
                t.token.text += p;
                ++i;
            }
        }
        t.end_line = line;
        out.push_back(std::move(t));
    }
    return out;
}

// {$NAME} and {%NAME%}: the variable's value, empty when unset. One pass: a value is not
// substituted again (a variable naming itself would never end).
std::string substitute(const std::string& text, const CorefileSources& sources) {
    if (text.find('{') == std::string::npos) {
        return text;
    }
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
        const bool dollar = text.compare(i, 2, "{$") == 0;
        const bool percent = text.compare(i, 2, "{%") == 0;
        if (dollar || percent) {
            const std::string_view close = dollar ? "}" : "%}";
            const size_t end = text.find(close, i + 2);
            if (end != std::string::npos && end > i + 2) {
                const std::string name = text.substr(i + 2, end - i - 2);
                if (auto value = sources.getenv ? sources.getenv(name) : std::nullopt) {
                    out += *value;
                }
                i = end + close.size();
                continue;
            }
        }
        out += text[i++];
    }
    return out;
}

// The tokens still to read: a file's, or an import's spliced in where it stood.
struct Source {
    std::shared_ptr<const Tokens> tokens;
    size_t next = 0;
    unsigned depth = 0;  // imports above it
    unsigned id = 0;     // two tokens are on one line only within one source
};

class Parser {
public:
    Parser(const CorefileSources& sources, Corefile& out) : sources_(sources), out_(out) {}

    void record(const std::string& path) {
        if (std::find(out_.files.begin(), out_.files.end(), path) == out_.files.end()) {
            out_.files.push_back(path);
        }
    }

    Status push_file(std::string_view text, const std::string& path, unsigned depth) {
        record(path);
        auto tokens = lex(text, path);
        if (!tokens) {
            return tokens.error();
        }
        return push(std::make_shared<const Tokens>(std::move(*tokens)), depth);
    }

    Status parse() {
        while (const Token* t = next()) {
            if (starts_line(*t) && is_import(*t)) {
                if (Status s = import(*t); !s) {
                    return s;
                }
                continue;
            }
            if (Status s = server_block(*t); !s) {
                return s;
            }
        }
        return {};
    }

private:
    Status push(std::shared_ptr<const Tokens> tokens, unsigned depth) {
        read_ += tokens->size();
        if (read_ > kMaxTokens) {
            return Error{fmt::format("{}: more than {} tokens, with its imports",
                                     out_.files.front(), kMaxTokens)};
        }
        stack_.push_back(Source{std::move(tokens), 0, depth, ++ids_});
        return {};
    }

    const Token* peek() {
        while (!stack_.empty() && stack_.back().next == stack_.back().tokens->size()) {
            stack_.pop_back();
        }
        return stack_.empty() ? nullptr : &(*stack_.back().tokens)[stack_.back().next];
    }

    // The next token, substituted; nullptr at the end of everything.
    const Token* next() {
        const Token* t = peek();
        if (t == nullptr) {
            return nullptr;
        }
        have_previous_ = have_current_;
        previous_end_line_ = current_.end_line;
        previous_source_ = current_source_;
        raw_text_ = t->token.text;
        current_ = *t;
        current_.token.text = substitute(t->token.text, sources_);
        current_source_ = stack_.back().id;
        current_depth_ = stack_.back().depth;
        ++stack_.back().next;
        have_current_ = true;
        return &current_;
    }

    // Whether the token just read begins a line (the previous one ended on another line, in
    // another file, or came from another import).
    bool starts_line(const Token& t) const {
        return !have_previous_ || previous_source_ != current_source_ ||
               previous_end_line_ != t.token.line;
    }

    // Whether the token peek() shows continues the line of the token just read.
    bool continues_line() {
        const Token* t = peek();
        return t != nullptr && stack_.back().id == current_source_ &&
               t->token.line == current_.end_line;
    }

    static bool is_import(const Token& t) { return !t.quoted && t.token.text == "import"; }

    Error error_at(const Token& t, std::string_view message) const {
        return Error{fmt::format("{}{}", corefile_position(t.token), message)};
    }

    Error end_of_input(std::string_view what) const {
        return Error{fmt::format("{}{} before the end of the file",
                                 corefile_position(current_.token), what)};
    }

    // `import NAME` (a snippet) or `import PATTERN` (files, relative to the importing file).
    Status import(const Token& at) {
        const Token keyword = at;
        const unsigned depth = current_depth_ + 1;
        if (!continues_line()) {
            return error_at(keyword, "import needs a snippet name or a file pattern");
        }
        const Token argument = *next();
        if (continues_line()) {
            return error_at(*peek(), fmt::format("import takes one argument, not also {}",
                                                 quoted(peek()->token.text)));
        }
        const std::string& name = argument.token.text;
        if (depth > kMaxImportDepth) {
            return error_at(argument, fmt::format("import {}: imports nest more than {} deep "
                                                  "(one imports itself?)",
                                                  quoted(name), kMaxImportDepth));
        }
        if (auto snippet = snippets_.find(name); snippet != snippets_.end()) {
            return push(snippet->second, depth);
        }
        if (name.empty()) {
            return error_at(argument, "import of an empty file pattern");
        }
        // Caddy 1's rule: a pattern with many wildcards could take too long to expand.
        if (std::count(name.begin(), name.end(), '*') > 1 ||
            std::count(name.begin(), name.end(), '?') > 1 ||
            (name.find('[') != std::string::npos && name.find(']') != std::string::npos)) {
            return error_at(
                argument,
                fmt::format("import {}: a pattern may hold one wildcard (*) only", quoted(name)));
        }
        std::filesystem::path pattern(name);
        if (pattern.is_relative()) {
            pattern = std::filesystem::path(argument.token.file).parent_path() / pattern;
        }
        const bool wildcard = name.find_first_of("*?") != std::string::npos;
        std::vector<std::string> paths;
        if (wildcard) {
            paths = sources_.glob ? sources_.glob(pattern.string()) : paths;
        } else {
            paths.push_back(pattern.string());
        }
        // Pushed last first: the first file is read first.
        std::vector<std::pair<std::string, std::string>> texts;
        for (const std::string& path : paths) {
            auto text = sources_.read ? sources_.read(path)
                                      : Result<std::string>(Error{path + ": cannot read"});
            if (!text) {
                return error_at(argument,
                                fmt::format("import {}: {}", quoted(name), text.error().message));
            }
            record(path);
            texts.emplace_back(path, std::move(*text));
        }
        for (auto it = texts.rbegin(); it != texts.rend(); ++it) {
            if (Status s = push_file(it->second, it->first, depth); !s) {
                return s;
            }
        }
        return {};
    }

    // The keys (a line of them, or several joined by trailing commas), then `{ ... }`; a
    // snippet is a block whose one key is `(name)`. Without a brace, the rest of the input is
    // the block's (a Corefile of one server block may leave them out).
    Status server_block(const Token first) {
        if (is_brace(first, '}')) {
            return error_at(first, "unexpected '}': no block is open");
        }
        if (is_brace(first, '{')) {
            return error_at(first,
                            "unexpected '{': a server block starts with its keys, "
                            "such as .:53");
        }
        CorefileServerBlock block;
        const Token* t = &first;
        for (;;) {
            std::string key = t->token.text;
            const bool another = !t->quoted && key.ends_with(',');
            if (another) {
                key.pop_back();
            }
            if (!key.empty()) {
                CorefileToken k = t->token;
                k.text = std::move(key);
                block.keys.push_back(std::move(k));
            }
            const Token* following = peek();
            if (following == nullptr) {
                if (another) {
                    return end_of_input("another key was expected after the comma");
                }
                break;
            }
            if (is_brace(*following, '{')) {
                break;
            }
            if (!another && !continues_line()) {
                break;
            }
            t = next();
            if (is_brace(*t, '}')) {
                return error_at(*t, "unexpected '}' among a server block's keys");
            }
        }
        const Token* open = peek();
        const bool braced = open != nullptr && is_brace(*open, '{');
        if (block.keys.size() == 1 && block.keys[0].text.size() > 2 &&
            block.keys[0].text.front() == '(' && block.keys[0].text.back() == ')') {
            return snippet(block.keys[0], braced);
        }
        if (block.keys.empty()) {
            return error_at(first, "a server block without a key");
        }
        if (braced) {
            next();
        }
        if (Status s = lines(block.directives, braced ? &current_ : nullptr); !s) {
            return s;
        }
        out_.blocks.push_back(std::move(block));
        return {};
    }

    // `(name) { tokens }`: kept as tokens, read where imported.
    Status snippet(const CorefileToken& key, bool braced) {
        const std::string name = key.text.substr(1, key.text.size() - 2);
        if (!braced) {
            return Error{fmt::format("{}snippet {} needs a block: ({}) {{ ... }}",
                                     corefile_position(key), quoted(name), name)};
        }
        next();
        const Token open = current_;
        Tokens body;
        unsigned nesting = 0;
        for (;;) {
            const Token* t = next();
            if (t == nullptr) {
                return error_at(
                    open, fmt::format("the block of snippet {} is never closed", quoted(name)));
            }
            if (is_brace(*t, '}') && nesting == 0) {
                break;
            }
            nesting += is_brace(*t, '{');
            nesting -= is_brace(*t, '}');
            Token raw = *t;
            raw.token.text = raw_text_;  // substituted where imported
            body.push_back(std::move(raw));
        }
        snippets_[name] = std::make_shared<const Tokens>(std::move(body));
        return {};
    }

    // Lines of a block until its `}` (`open` given) or the end of the input.
    Status lines(std::vector<CorefileDirective>& out, const Token* open, unsigned depth = 0) {
        const std::optional<Token> opened = open ? std::optional<Token>(*open) : std::nullopt;
        for (;;) {
            const Token* t = next();
            if (t == nullptr) {
                if (opened) {
                    return error_at(*opened, "this '{' is never closed");
                }
                return {};
            }
            if (is_brace(*t, '}')) {
                if (opened) {
                    return {};
                }
                return error_at(*t, "unexpected '}': no block is open");
            }
            if (is_brace(*t, '{')) {
                return error_at(*t,
                                "unexpected '{': a block opens at the end of the line of "
                                "its plugin or option");
            }
            if (starts_line(*t) && is_import(*t)) {
                if (Status s = import(*t); !s) {
                    return s;
                }
                continue;
            }
            CorefileDirective directive;
            directive.name = t->token;
            while (continues_line()) {
                const Token* arg = peek();
                if (is_brace(*arg, '}')) {
                    break;  // `option }` closes the block on the option's line
                }
                next();
                if (is_brace(current_, '{')) {
                    directive.has_block = true;
                    if (depth == kMaxBlockDepth) {
                        return error_at(
                            current_, fmt::format("blocks nest more than {} deep", kMaxBlockDepth));
                    }
                    if (Status s = lines(directive.block, &current_, depth + 1); !s) {
                        return s;
                    }
                    break;
                }
                directive.args.push_back(current_.token);
            }
            out.push_back(std::move(directive));
        }
    }

    const CorefileSources& sources_;
    Corefile& out_;
    std::vector<Source> stack_;
    std::map<std::string, std::shared_ptr<const Tokens>> snippets_;
    Token current_;
    std::string raw_text_;  // current_'s text before substitution
    bool have_current_ = false;
    bool have_previous_ = false;
    uint32_t previous_end_line_ = 0;
    unsigned previous_source_ = 0;
    unsigned current_source_ = 0;
    unsigned current_depth_ = 0;
    unsigned ids_ = 0;
    size_t read_ = 0;
};

}  // namespace

std::string corefile_position(const CorefileToken& token) {
    return fmt::format("{}:{}: {}: ", token.file, token.line, quoted(token.text));
}

CorefileSources system_corefile_sources() {
    CorefileSources sources;
    sources.read = [](const std::string& path) -> Result<std::string> {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            return Error{fmt::format("{}: cannot read: a directory, not a file", path)};
        }
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            return Error{fmt::format("{}: cannot read", path)};
        }
        std::string text;
        char buffer[65536];
        while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
            text.append(buffer, static_cast<size_t>(in.gcount()));
            if (text.size() > kMaxCorefileBytes) {
                return Error{fmt::format("{}: larger than {} bytes", path, kMaxCorefileBytes)};
            }
        }
        if (in.bad()) {
            return Error{fmt::format("{}: cannot read", path)};
        }
        return text;
    };
    sources.glob = [](const std::string& pattern) {
        std::vector<std::string> paths;
        glob_t matches{};
        if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
            for (size_t i = 0; i < matches.gl_pathc; ++i) {
                paths.emplace_back(matches.gl_pathv[i]);
            }
        }
        globfree(&matches);
        return paths;  // glob(3) sorts them
    };
    sources.getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        return value ? std::optional<std::string>(value) : std::nullopt;
    };
    return sources;
}

Result<Corefile> parse_corefile(std::string_view text, const std::string& path,
                                const CorefileSources& sources) {
    Corefile out;
    Parser parser(sources, out);
    if (Status s = parser.push_file(text, path, 0); !s) {
        return s.error();
    }
    if (Status s = parser.parse(); !s) {
        return s.error();
    }
    return out;
}

Result<Corefile> read_corefile(const std::string& path, const CorefileSources& sources) {
    auto text = sources.read(path);
    if (!text) {
        return text.error();
    }
    return parse_corefile(*text, path, sources);
}

}  // namespace clusterdns
