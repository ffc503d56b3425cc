// Fuzz target: policy YAML. A bad policy must end in PolicyLoadError and nothing else
// (any other exception escapes and is reported as a crash).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)tenantwall::policy::loadPolicyText(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  } catch (const tenantwall::policy::PolicyLoadError&) {
  }
  return 0;
}
