// Runs every registered native unit test; exit status is the number of failed checks (capped).
#include "test.h"

namespace vmmtest {
std::vector<Case>& cases() { static std::vector<Case> c; return c; }
int failures = 0;
}  // namespace vmmtest

int main() {
  for (auto& c : vmmtest::cases()) {
    int before = vmmtest::failures;
    c.fn();
    std::printf("%s %s\n", vmmtest::failures == before ? "ok  " : "FAIL", c.name);
  }
  std::printf("%zu tests, %d failed checks\n", vmmtest::cases().size(), vmmtest::failures);
  return vmmtest::failures ? 1 : 0;
}
