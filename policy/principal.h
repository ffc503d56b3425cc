// Who is connected: fixed at authentication and never changed for the life of a session.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tenantwall::policy {

// A principal attribute: a scalar ("region: eu") or a list ("regions: [eu, us]"); rules compare
// scalars with `=` and lists with `= ANY`, so the two shapes are kept apart.
struct Attribute {
  std::vector<std::string> values;  // exactly one value when !list
  bool list = false;

  friend bool operator==(const Attribute&, const Attribute&) = default;
};

struct Principal {
  std::string tenant;  // tenant id, the value of protected tables' tenant column
  std::string user;
  std::string role;
  std::vector<std::string> groups;
  std::map<std::string, Attribute> attributes;
};

}  // namespace tenantwall::policy
