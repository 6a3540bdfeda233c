#include "device.h"

namespace vmm {

std::vector<std::pair<std::string, DeviceFactory>>& deviceRegistry() {
  static std::vector<std::pair<std::string, DeviceFactory>> r;
  return r;
}

DeviceRegistration::DeviceRegistration(const char* name, DeviceFactory f) { deviceRegistry().emplace_back(name, std::move(f)); }

}  // namespace vmm
