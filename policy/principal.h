// Who is connected: fixed at authentication and never changed for the life of a session.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tenantwall::policy {

struct Principal {
  std::string tenant;  // tenant id, the value of protected tables' tenant column
  std::string user;
  std::string role;
  std::vector<std::string> groups;
  std::map<std::string, std::string> attributes;
};

}  // namespace tenantwall::policy
