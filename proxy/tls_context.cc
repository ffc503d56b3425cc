// Building TLS contexts from PEM files, reloading them when the files change, and reading the
// identity of a verified peer certificate.
#include "proxy/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include "proxy/log.h"

namespace tenantwall::proxy {
namespace {

// OpenSSL's reason for the most recent failure, or the error code's message.
std::string reason(const boost::system::error_code& ec) {
  std::string text = ec.message();
  if (const unsigned long e = ERR_peek_last_error(); e != 0) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

std::optional<std::string> unreadable(const std::string& setting, const std::string& path) {
  if (std::ifstream(path, std::ios::binary)) return std::nullopt;
  return setting + " '" + path + "': cannot be read: " + std::strerror(errno);
}

// Keys must not be encrypted: OpenSSL's default would prompt on the terminal for a passphrase.
int noPassphrase(char*, int, int, void*) { return 0; }

void commonOptions(SSL_CTX* native, bool tls13_only) {
  SSL_CTX_set_min_proto_version(native, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_default_passwd_cb(native, noPassphrase);
}

}  // namespace

std::expected<TlsContextPtr, std::string> buildServerContext(const TlsConfig& config) {
  ERR_clear_error();
  for (const auto& [setting, path] :
       {std::pair<std::string, std::string>{"tls.cert_file", config.cert_file},
        {"tls.key_file", config.key_file},
        {"tls.ca_file", config.ca_file}}) {
    if (path.empty()) continue;
    if (auto error = unreadable(setting, path)) return std::unexpected(*error);
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  commonOptions(native, config.tls13_only);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  context->use_certificate_chain_file(config.cert_file, ec);
  if (ec) return std::unexpected("tls.cert_file '" + config.cert_file + "': " + reason(ec));
  context->use_private_key_file(config.key_file, ssl::context::pem, ec);
  // OpenSSL checks the key against the certificate while loading it ("key values mismatch").
  const bool mismatch =
      ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (ec && !mismatch)
    return std::unexpected("tls.key_file '" + config.key_file + "': " + reason(ec));
  if (mismatch || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return std::unexpected("tls.key_file '" + config.key_file +
                           "' does not belong to the certificate in tls.cert_file");
  }
  if (config.client_certificates != ClientCertificates::kNone) {
    context->load_verify_file(config.ca_file, ec);
    if (ec) return std::unexpected("tls.ca_file '" + config.ca_file + "': " + reason(ec));
    // The CA names sent in CertificateRequest, so clients pick a fitting certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.ca_file.c_str());
    if (!names) {
      ERR_clear_error();
      return std::unexpected("tls.ca_file '" + config.ca_file + "' holds no CA certificate");
    }
    SSL_CTX_set_client_CA_list(native, names);
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (config.client_certificates == ClientCertificates::kRequired)
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(native, mode, nullptr);
    // Resumed sessions keep their verified certificate; OpenSSL needs an id context for that.
    static constexpr unsigned char kSessionContext[] = "tenantwall";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return context;
}

std::expected<TlsContextPtr, std::string> buildBackendContext(const BackendTlsConfig& config) {
  ERR_clear_error();
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  commonOptions(native, false);
  if (config.mode == BackendTlsMode::kVerifyCa || config.mode == BackendTlsMode::kVerifyFull) {
    boost::system::error_code ec;
    if (config.ca_file.empty()) {
      context->set_default_verify_paths(ec);
      if (ec) return std::unexpected("the system trust store: " + reason(ec));
    } else {
      if (auto error = unreadable("backend.tls.ca_file", config.ca_file))
        return std::unexpected(*error);
      context->load_verify_file(config.ca_file, ec);
      if (ec) return std::unexpected("backend.tls.ca_file '" + config.ca_file + "': " + reason(ec));
    }
  }
  return context;
}

TlsContextSource::TlsContextSource(std::string what, std::vector<std::string> files, Build build)
    : what_(std::move(what)), files_(std::move(files)), build_(std::move(build)) {
  loaded_ = stamp();
  auto built = build_();
  if (!built) throw std::runtime_error(what_ + ": " + built.error());
  context_ = std::move(*built);
}

std::vector<TlsContextSource::FileStamp> TlsContextSource::stamp() const {
  std::vector<FileStamp> out;
  for (const auto& file : files_) {
    FileStamp s;
    struct stat info {};
    // stat follows symlinks, so a Kubernetes secret's swapped ..data link counts as a change.
    if (::stat(file.c_str(), &info) == 0) {
      s.exists = true;
      s.mtime_ns =
          static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
      s.size = info.st_size;
      s.inode = info.st_ino;
      s.device = info.st_dev;
    }
    out.push_back(s);
  }
  return out;
}

TlsContextPtr TlsContextSource::current() {
  std::lock_guard lock(mutex_);
  auto now = stamp();
  if (now == loaded_ || now == failed_) return context_;
  auto built = build_();
  if (!built) {
    failed_ = std::move(now);
    logLine(LogLevel::kError, what_ + " not reloaded, keeping the running one: " + built.error());
    return context_;
  }
  context_ = std::move(*built);
  loaded_ = std::move(now);
  failed_.clear();
  logLine(LogLevel::kInfo, what_ + " reloaded: its files changed; new connections use it");
  return context_;
}

std::shared_ptr<TlsContextSource> makeServerTls(const TlsConfig& config) {
  if (!config.enabled()) return nullptr;
  std::vector<std::string> files{config.cert_file, config.key_file};
  if (!config.ca_file.empty()) files.push_back(config.ca_file);
  return std::make_shared<TlsContextSource>("client TLS (tls.cert_file, tls.key_file, tls.ca_file)",
                                            std::move(files),
                                            [config] { return buildServerContext(config); });
}

std::shared_ptr<TlsContextSource> makeBackendTls(const BackendTlsConfig& config) {
  if (config.mode == BackendTlsMode::kDisable) return nullptr;
  std::vector<std::string> files;
  if (!config.ca_file.empty()) files.push_back(config.ca_file);
  BackendTlsConfig copy = config;
  copy.context = nullptr;
  return std::make_shared<TlsContextSource>("backend TLS (backend.tls.ca_file)", std::move(files),
                                            [copy] { return buildBackendContext(copy); });
}

std::optional<policy::CertificateIdentity> verifiedPeerIdentity(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  policy::CertificateIdentity identity;
  // RFC 2253 with UTF-8 kept as is, as PostgreSQL prints DNs for clientname=DN.
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio, &data);
      if (size > 0) identity.subject.assign(data, static_cast<std::size_t>(size));
    }
    BIO_free(bio);
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      std::vector<std::string>* into = nullptr;
      const ASN1_STRING* value = nullptr;
      switch (name->type) {
        case GEN_DNS:
          into = &identity.san_dns;
          value = name->d.dNSName;
          break;
        case GEN_EMAIL:
          into = &identity.san_email;
          value = name->d.rfc822Name;
          break;
        case GEN_URI:
          into = &identity.san_uri;
          value = name->d.uniformResourceIdentifier;
          break;
        default:
          continue;
      }
      const auto* bytes = reinterpret_cast<const char*>(ASN1_STRING_get0_data(value));
      const auto length = static_cast<std::size_t>(ASN1_STRING_length(value));
      if (!bytes || std::memchr(bytes, '\0', length)) continue;  // "a.example\0.evil" tricks
      into->emplace_back(bytes, length);
    }
    GENERAL_NAMES_free(names);
  }
  ERR_clear_error();
  return identity;
}

std::string describeTls(SSL* ssl) {
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

HandshakeFailure describeHandshakeFailure(SSL* ssl, const boost::system::error_code& ec) {
  HandshakeFailure failure{ec.message(), false};
  if (!ssl) return failure;
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
          SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    failure.text = "the client sent no certificate (tls.client_certificates: required)";
    failure.certificate = true;
    return failure;
  }
  const long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_OK) return failure;
  // OpenSSL keeps no peer certificate after a failed verification: the error is what is known.
  failure.text =
      "client certificate did not verify: " + std::string(X509_verify_cert_error_string(verify));
  failure.certificate = true;
  return failure;
}

}  // namespace tenantwall::proxy
