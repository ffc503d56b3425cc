// TLS contexts: the client-facing one (certificate, key, client CAs, TLS 1.2+) and the one
// towards PostgreSQL (CA, TLS 1.2+). Both are rebuilt when their files change, checked on every
// new handshake; a file that does not load keeps the running context and is logged.
#pragma once

#include <openssl/ssl.h>

#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "policy/certificate_map.h"
#include "proxy/asio.h"  // first: Boost 1.74 needs its include order
#include "proxy/config.h"

#include <boost/asio/ssl.hpp>

namespace tenantwall::proxy {

namespace ssl = boost::asio::ssl;

using TlsContextPtr = std::shared_ptr<ssl::context>;

// Builds a context from files; the error names the file and OpenSSL's reason.
std::expected<TlsContextPtr, std::string> buildServerContext(const TlsConfig& config);
std::expected<TlsContextPtr, std::string> buildBackendContext(const BackendTlsConfig& config);

// A context and the files it came from. current() is cheap (a stat per file) and thread-safe;
// contexts handed out stay valid for the connections using them.
class TlsContextSource {
 public:
  using Build = std::function<std::expected<TlsContextPtr, std::string>()>;

  // Throws std::runtime_error when the first build fails (start-up).
  TlsContextSource(std::string what, std::vector<std::string> files, Build build);

  TlsContextPtr current();

 private:
  struct FileStamp {
    bool exists = false;
    std::int64_t mtime_ns = 0;
    std::int64_t size = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  std::vector<FileStamp> stamp() const;

  std::string what_;
  std::vector<std::string> files_;
  Build build_;
  std::mutex mutex_;
  TlsContextPtr context_;
  std::vector<FileStamp> loaded_;  // the files as they were when context_ was built
  std::vector<FileStamp> failed_;  // the last state that failed to build (logged once)
};

// Null when TLS is off (no tls.cert_file; backend.tls.mode disable).
std::shared_ptr<TlsContextSource> makeServerTls(const TlsConfig& config);
std::shared_ptr<TlsContextSource> makeBackendTls(const BackendTlsConfig& config);

// The identity of a peer certificate that verified (SSL_get_verify_result is X509_V_OK);
// nullopt when there is none. Names with embedded NUL bytes are dropped.
std::optional<policy::CertificateIdentity> verifiedPeerIdentity(SSL* ssl);

// The negotiated protocol and cipher, for logs ("TLSv1.3 TLS_AES_256_GCM_SHA384").
std::string describeTls(SSL* ssl);

// Why a handshake as server failed. `certificate`: it failed on the client's certificate (one
// that did not verify, or none where tls.client_certificates is required), which is a failed
// authentication; the text then names the verification error.
struct HandshakeFailure {
  std::string text;
  bool certificate = false;
};
HandshakeFailure describeHandshakeFailure(SSL* ssl, const boost::system::error_code& ec);

}  // namespace tenantwall::proxy
