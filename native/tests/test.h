// A minimal test registry for the native unit tests (no framework dependency).
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace vmmtest {
struct Case { const char* name; std::function<void()> fn; };
std::vector<Case>& cases();
struct Reg { Reg(const char* n, std::function<void()> f) { cases().push_back({n, std::move(f)}); } };
extern int failures;
}  // namespace vmmtest

#define TEST(name) static void name(); static ::vmmtest::Reg reg_##name(#name, name); static void name()
#define CHECK(cond) do { if (!(cond)) { std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); ::vmmtest::failures++; } } while (0)
