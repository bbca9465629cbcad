// A minimal JSON reader (objects, arrays, strings, numbers, true/false/null) for manifest.json.
// Enough for a model manifest; not a general-purpose parser (no \u escapes beyond ASCII).
#pragma once

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mini_json {

struct Value {
    enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
    bool boolean = false;
    double number = 0.0;
    std::string string;
    std::vector<Value> array;
    std::map<std::string, Value> object;

    bool is_null() const { return type == Type::Null; }
    const Value& operator[](const std::string& key) const {
        auto it = object.find(key);
        if (type != Type::Object || it == object.end()) throw std::runtime_error("manifest: missing key '" + key + "'");
        return it->second;
    }
    const Value& operator[](size_t i) const {
        if (type != Type::Array || i >= array.size()) throw std::runtime_error("manifest: index out of range");
        return array[i];
    }
    bool has(const std::string& key) const { return type == Type::Object && object.count(key) > 0; }
    size_t size() const { return type == Type::Array ? array.size() : object.size(); }
    double num() const {
        if (type != Type::Number) throw std::runtime_error("manifest: number expected");
        return number;
    }
    const std::string& str() const {
        if (type != Type::String) throw std::runtime_error("manifest: string expected");
        return string;
    }
};

class Parser {
public:
    explicit Parser(const std::string& text) : s_(text) {}
    Value parse() {
        Value v = value();
        skip();
        if (i_ != s_.size()) fail("trailing characters");
        return v;
    }

private:
    const std::string& s_;
    size_t i_ = 0;
    int depth_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("manifest.json: " + what + " at offset " + std::to_string(i_));
    }
    void skip() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    char peek() {
        skip();
        if (i_ >= s_.size()) fail("unexpected end");
        return s_[i_];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++i_;
    }
    Value value() {
        if (++depth_ > 64) fail("nesting too deep");
        Value v;
        char c = peek();
        if (c == '{') {
            v.type = Value::Type::Object;
            ++i_;
            if (peek() == '}') { ++i_; } else {
                while (true) {
                    std::string key = string_literal();
                    expect(':');
                    v.object[key] = value();
                    if (peek() == ',') { ++i_; continue; }
                    expect('}');
                    break;
                }
            }
        } else if (c == '[') {
            v.type = Value::Type::Array;
            ++i_;
            if (peek() == ']') { ++i_; } else {
                while (true) {
                    v.array.push_back(value());
                    if (peek() == ',') { ++i_; continue; }
                    expect(']');
                    break;
                }
            }
        } else if (c == '"') {
            v.type = Value::Type::String;
            v.string = string_literal();
        } else if (s_.compare(i_, 4, "true") == 0) {
            v.type = Value::Type::Bool; v.boolean = true; i_ += 4;
        } else if (s_.compare(i_, 5, "false") == 0) {
            v.type = Value::Type::Bool; i_ += 5;
        } else if (s_.compare(i_, 4, "null") == 0) {
            i_ += 4;
        } else {
            const char* start = s_.c_str() + i_;
            char* end = nullptr;
            v.number = std::strtod(start, &end);
            if (end == start) fail("invalid value");
            v.type = Value::Type::Number;
            i_ += static_cast<size_t>(end - start);
        }
        --depth_;
        return v;
    }
    std::string string_literal() {
        expect('"');
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c == '\\') {
                if (i_ >= s_.size()) fail("bad escape");
                char e = s_[i_++];
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'u': {
                        if (i_ + 4 > s_.size()) fail("bad \\u escape");
                        long code = std::strtol(s_.substr(i_, 4).c_str(), nullptr, 16);
                        out += code < 128 ? static_cast<char>(code) : '?';
                        i_ += 4;
                        break;
                    }
                    default: out += e;
                }
            } else {
                out += c;
            }
        }
        if (i_ >= s_.size()) fail("unterminated string");
        ++i_;
        return out;
    }
};

inline Value parse(const std::string& text) { return Parser(text).parse(); }

// JSON string literal for output.
inline std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

}  // namespace mini_json
