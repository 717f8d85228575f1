// The one main of unit_tests: every foo_test.cc beside its foo.cc links into this binary.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
