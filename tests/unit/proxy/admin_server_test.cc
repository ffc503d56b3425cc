// The admin endpoint's pure parts: request parsing, the bearer check, response rendering, and
// the admin section of the configuration.
#include "proxy/admin_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tenantwall::proxy {
namespace {

TEST(AdminServerTest, ParsesRequestLineAndHeaders) {
  const auto request = parseAdminRequest(
      "POST /reload?x=1 HTTP/1.1\r\nHost: a\r\nAUTHORIZATION:  Bearer abc \r\n"
      "Content-Length: 12\r\n\r\n");
  ASSERT_TRUE(request);
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->path, "/reload");
  EXPECT_EQ(request->authorization, "Bearer abc");
  EXPECT_EQ(request->content_length, 12u);
}

TEST(AdminServerTest, RefusesMalformedRequests) {
  EXPECT_FALSE(parseAdminRequest("GET /healthz\r\n\r\n"));
  EXPECT_FALSE(parseAdminRequest("GET healthz HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(parseAdminRequest("GET / SPDY/3\r\n\r\n"));
  EXPECT_FALSE(parseAdminRequest("GET / HTTP/1.1\r\nno colon\r\n\r\n"));
  EXPECT_FALSE(parseAdminRequest("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"));
  EXPECT_FALSE(parseAdminRequest("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

TEST(AdminServerTest, QueryStringParameters) {
  const auto request = parseAdminRequest("GET /schema?user=al%69ce&format=text HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(request);
  EXPECT_EQ(request->path, "/schema");
  EXPECT_EQ(request->query, "user=al%69ce&format=text");
  EXPECT_EQ(queryParameter(request->query, "user"), "alice");
  EXPECT_EQ(queryParameter(request->query, "format"), "text");
  EXPECT_EQ(queryParameter(request->query, "role"), "");
  EXPECT_EQ(queryParameter("a=x+y%2Bz", "a"), "x y+z");
  EXPECT_EQ(queryParameter("a=%zz", "a"), "");  // malformed escapes give nothing
  EXPECT_EQ(queryParameter("a=%4", "a"), "%4");
}

TEST(AdminServerTest, BearerMatchesOnlyTheToken) {
  EXPECT_TRUE(bearerMatches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearerMatches("bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearerMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearerMatches("Bearer s3cretx", "s3cret"));
  EXPECT_FALSE(bearerMatches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(bearerMatches("", "s3cret"));
  EXPECT_FALSE(bearerMatches("Bearer ", ""));
}

TEST(AdminServerTest, RendersResponse) {
  AdminResponse response{405, "text/plain", "no\n", "Allow: GET\r\n"};
  const std::string out = renderAdminResponse(response);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << out;
  EXPECT_NE(out.find("Content-Length: 3\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Allow: GET\r\n"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\nno\n")) << out;
}

TEST(AdminServerTest, ConfigReadsTheAdminSection) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tw-admin-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "tok-from-file\n";
  std::ofstream(dir / "tenantwall.yaml")
      << "backend: {database: app, user: svc}\npolicy: p.yaml\n"
         "admin: {listen_host: 0.0.0.0, port: 0, token_file: token}\n";
  ::unsetenv("TENANTWALL_ADMIN_TOKEN");
  Config c = loadConfigFile((dir / "tenantwall.yaml").string());
  EXPECT_EQ(c.admin.listen_host, "0.0.0.0");
  ASSERT_TRUE(c.admin.port);
  EXPECT_EQ(*c.admin.port, 0);
  EXPECT_EQ(c.admin.token, "tok-from-file");
  ::setenv("TENANTWALL_ADMIN_TOKEN", "tok-from-env", 1);
  c = loadConfigFile((dir / "tenantwall.yaml").string());
  ::unsetenv("TENANTWALL_ADMIN_TOKEN");
  EXPECT_EQ(c.admin.token, "tok-from-env");
  std::ofstream(dir / "tenantwall.yaml") << "backend: {database: app, user: svc}\npolicy: p\n";
  EXPECT_FALSE(loadConfigFile((dir / "tenantwall.yaml").string()).admin.port);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tenantwall::proxy
