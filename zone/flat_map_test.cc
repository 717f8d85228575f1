#include "zone/flat_map.h"

#include <map>
#include <random>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

struct Counter : Counted {
    static inline int alive = 0;
    int key;
    int value;
    Counter(int k, int v) : key(k), value(v) { ++alive; }
    ~Counter() { --alive; }
};

auto is(int key) {
    return [key](const Counter& c) { return c.key == key; };
}

uint64_t hash(int key) {
    return mix_hash(static_cast<uint64_t>(key));
}

// The value of `key` in `map`, or -1.
int value_of(const FlatMap<Counter>& map, int key) {
    const Counter* c = map.find(hash(key), is(key));
    return c == nullptr ? -1 : c->value;
}

}  // namespace

TEST_CASE("flat map: an empty map finds nothing") {
    FlatMap<Counter> map;
    CHECK(map.find(hash(1), is(1)) == nullptr);
    CHECK_FALSE(map.erase(hash(1), is(1)));
    int visits = 0;
    map.for_each_with_hash(hash(1), [&](const Counter&) { ++visits; });
    map.for_each([&](const Counter&) { ++visits; });
    CHECK(visits == 0);
    CHECK(map.size() == 0);
}

TEST_CASE("flat map: versions share structure and never see each other's changes") {
    {
        FlatMap<Counter> a;
        for (int i = 0; i < 5000; ++i) {
            a.set(hash(i), is(i), new Counter(i, i));
        }
        CHECK(a.size() == 5000);
        FlatMap<Counter> b = a;  // a version
        for (int i = 0; i < 5000; i += 2) {
            CHECK(b.erase(hash(i), is(i)));
        }
        b.set(hash(7), is(7), new Counter(7, 70));  // replaces
        CHECK(a.size() == 5000);
        CHECK(b.size() == 2500);
        for (int i = 0; i < 5000; ++i) {
            CHECK(value_of(a, i) == i);
            CHECK(value_of(b, i) == (i % 2 == 0 ? -1 : i == 7 ? 70 : i));
        }
        CHECK(Counter::alive == 5001);  // 7 exists twice: one per version
        CHECK_FALSE(b.erase(hash(0), is(0)));
        a = b;
        CHECK(Counter::alive == 2500);  // a's old version is gone
        size_t visited = 0;
        a.for_each([&](const Counter& c) {
            CHECK(c.key % 2 == 1);
            ++visited;
        });
        CHECK(visited == 2500);
    }
    CHECK(Counter::alive == 0);
}

TEST_CASE("flat map: values of one hash are all found, past full groups and tombstones") {
    {
        FlatMap<Counter> map;
        // 40 values share a hash (an index by address holds a Service per address), more than
        // a few groups hold: the ones put after them overflow into the next groups.
        const uint64_t shared = hash(12345);
        for (int i = 0; i < 40; ++i) {
            map.set(shared, is(i), new Counter(i, i));
        }
        for (int i = 100; i < 140; ++i) {
            map.set(hash(i), is(i), new Counter(i, i));
        }
        for (int i = 0; i < 40; i += 3) {
            CHECK(map.erase(shared, is(i)));
        }
        std::vector<bool> seen(40);
        map.for_each_with_hash(shared, [&](const Counter& c) {
            REQUIRE(c.key < 40);
            CHECK_FALSE(seen[c.key]);
            seen[c.key] = true;
        });
        for (int i = 0; i < 40; ++i) {
            CHECK(seen[i] == (i % 3 != 0));
            CHECK((map.find(shared, is(i)) != nullptr) == (i % 3 != 0));
        }
        for (int i = 100; i < 140; ++i) {
            CHECK(value_of(map, i) == i);
        }
        CHECK(map.size() == 40 - 14 + 40);
    }
    CHECK(Counter::alive == 0);
}

TEST_CASE("flat map: a map that loses most of its values gives its table back") {
    {
        FlatMap<Counter> map;
        for (int i = 0; i < 20000; ++i) {
            map.set(hash(i), is(i), new Counter(i, i));
        }
        const size_t full = map.node_bytes();
        FlatMap<Counter> before = map;  // a version keeps its table and its values
        for (int i = 10; i < 20000; ++i) {
            CHECK(map.erase(hash(i), is(i)));
        }
        CHECK(map.node_bytes() * 100 < full);
        CHECK(map.size() == 10);
        for (int i = 0; i < 20000; ++i) {
            CHECK(value_of(map, i) == (i < 10 ? i : -1));
            CHECK(value_of(before, i) == i);
        }
        CHECK(Counter::alive == 20000);
    }
    CHECK(Counter::alive == 0);
}

TEST_CASE("flat map: room reserved for a load is not built again while it fills") {
    {
        FlatMap<Counter> map;
        map.set(hash(-1), is(-1), new Counter(-1, 0));
        map.reserve(10000);
        const size_t reserved = map.node_bytes();
        for (int i = 0; i < 9999; ++i) {
            map.set(hash(i), is(i), new Counter(i, i));
        }
        CHECK(map.node_bytes() == reserved);
        CHECK(map.size() == 10000);
        CHECK(value_of(map, -1) == 0);
        CHECK(value_of(map, 9998) == 9998);
        map.reserve(10);  // never smaller
        CHECK(map.node_bytes() == reserved);
    }
    CHECK(Counter::alive == 0);
}

TEST_CASE("flat map: random changes, growth and removals agree with a std::map; old versions "
          "keep what they held") {
    {
        std::mt19937 rng(7);
        FlatMap<Counter> map;
        std::map<int, int> model;
        std::vector<std::pair<FlatMap<Counter>, std::map<int, int>>> versions;
        for (int step = 0; step < 60000; ++step) {
            // Keys from a range that grows then shrinks: the table grows, then fills with
            // tombstones and is rebuilt.
            const int range = step < 30000 ? 1 + step / 4 : 1 + (60000 - step) / 4;
            const int key = static_cast<int>(rng() % range);
            if (rng() % 3 == 0) {
                CHECK(map.erase(hash(key), is(key)) == (model.erase(key) == 1));
            } else {
                map.set(hash(key), is(key), new Counter(key, step));
                model[key] = step;
            }
            if (step % 5000 == 0) {
                versions.emplace_back(map, model);
            }
        }
        CHECK(map.size() == model.size());
        versions.emplace_back(map, model);
        for (const auto& [version, expected] : versions) {
            CHECK(version.size() == expected.size());
            for (int key = 0; key < 7500; ++key) {
                const auto it = expected.find(key);
                CHECK(value_of(version, key) == (it == expected.end() ? -1 : it->second));
            }
        }
    }
    CHECK(Counter::alive == 0);
}

}  // namespace clusterdns
