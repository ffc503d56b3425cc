// Tests for protocol/scram: RFC 7677 vector on both sides, refusals, verifiers, md5, base64.
#include "protocol/scram.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>

namespace tenantwall::protocol {
namespace {

using namespace std::string_literals;

// RFC 7677 section 3.
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNoncePart = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
// As published in RFC 7677 and recomputed with Python's hashlib/hmac.
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::string rfcSalt() { return *base64Decode(kSaltB64); }

ScramVerifier rfcVerifier() {
  auto v = parseScramVerifier(makeScramVerifier("pencil", rfcSalt(), 4096));
  EXPECT_TRUE(v.has_value());
  return *v;
}

// Runs a whole exchange between our client and our server; returns the server's verdict on
// the client-final message.
std::expected<std::string, PgError> exchange(const ScramVerifier& verifier,
                                             const std::string& password) {
  ScramServer server(verifier);
  ScramClient client(password);
  auto server_first = server.handleClientFirst(client.clientFirst());
  EXPECT_TRUE(server_first.has_value());
  auto client_final = client.handleServerFirst(*server_first);
  EXPECT_TRUE(client_final.has_value());
  return server.handleClientFinal(*client_final);
}

// ---- RFC 7677 vector ----

TEST(ScramVerifierFormat, MatchesIndependentComputation) {
  // Computed with Python: hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096), then
  // ClientKey = HMAC(salted, "Client Key"), StoredKey = SHA256(ClientKey),
  // ServerKey = HMAC(salted, "Server Key"), each base64-encoded.
  EXPECT_EQ(makeScramVerifier("pencil", rfcSalt(), 4096),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
}

TEST(ScramServerTest, Rfc7677Vector) {
  ScramServer server(rfcVerifier(), std::string(kServerNoncePart));
  auto server_first = server.handleClientFirst(kClientFirst);
  ASSERT_TRUE(server_first.has_value()) << server_first.error().message;
  EXPECT_EQ(*server_first, kServerFirst);
  auto server_final = server.handleClientFinal(kClientFinal);
  ASSERT_TRUE(server_final.has_value()) << server_final.error().message;
  EXPECT_EQ(*server_final, kServerFinal);
}

TEST(ScramClientTest, Rfc7677Vector) {
  ScramClient client("pencil", std::string(kClientNonce));
  EXPECT_EQ(client.clientFirst("user"), kClientFirst);
  auto client_final = client.handleServerFirst(kServerFirst);
  ASSERT_TRUE(client_final.has_value()) << client_final.error();
  EXPECT_EQ(*client_final, kClientFinal);
  auto ok = client.handleServerFinal(kServerFinal);
  EXPECT_TRUE(ok.has_value()) << ok.error();
}

TEST(ScramClientTest, DefaultClientFirstHasEmptyUserName) {
  ScramClient client("pencil", "abc");
  EXPECT_EQ(client.clientFirst(), "n,,n=,r=abc");
  // Asking twice returns the same message instead of restarting the exchange.
  EXPECT_EQ(client.clientFirst(), "n,,n=,r=abc");
}

TEST(ScramClientTest, UserNameIsEscaped) {
  ScramClient client("pencil", "abc");
  EXPECT_EQ(client.clientFirst("a,b=c"), "n,,n=a=2Cb=3Dc,r=abc");
}

// ---- whole exchanges ----

TEST(ScramExchange, RightPasswordWithRandomNonces) {
  const auto verifier = *parseScramVerifier(makeScramVerifier("s3cret!"));
  ScramServer server(verifier);
  ScramClient client("s3cret!");
  auto server_first = server.handleClientFirst(client.clientFirst());
  ASSERT_TRUE(server_first.has_value());
  auto client_final = client.handleServerFirst(*server_first);
  ASSERT_TRUE(client_final.has_value());
  auto server_final = server.handleClientFinal(*client_final);
  ASSERT_TRUE(server_final.has_value()) << server_final.error().message;
  EXPECT_TRUE(client.handleServerFinal(*server_final).has_value());
}

TEST(ScramExchange, WrongPasswordIsInvalidPassword) {
  auto result = exchange(rfcVerifier(), "pencil2");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "28P01");
  EXPECT_EQ(result.error().message, "password authentication failed");
  EXPECT_EQ(result.error().severity, "FATAL");
}

TEST(ScramExchange, ImpossibleVerifierNeverAccepts) {
  for (const std::string password : {"", "pencil", "postgres", "password"}) {
    auto result = exchange(impossibleScramVerifier(), password);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().sqlstate, "28P01");
    auto per_user = exchange(impossibleScramVerifier("mallory"), password);
    ASSERT_FALSE(per_user.has_value());
    EXPECT_EQ(per_user.error().sqlstate, "28P01");
  }
}

TEST(ScramExchange, ImpossibleVerifierLooksRealistic) {
  const ScramVerifier a = impossibleScramVerifier();
  const ScramVerifier b = impossibleScramVerifier();
  EXPECT_EQ(a.iterations, 4096);
  EXPECT_EQ(a.salt.size(), 16u);
  EXPECT_EQ(a.stored_key.size(), 32u);
  EXPECT_EQ(a.server_key.size(), 32u);
  EXPECT_NE(a.stored_key, b.stored_key);
  // The salt does not change between attempts, as a real user's would not.
  EXPECT_EQ(a.salt, b.salt);
  EXPECT_EQ(impossibleScramVerifier("mallory").salt, impossibleScramVerifier("mallory").salt);
  EXPECT_NE(impossibleScramVerifier("mallory").salt, impossibleScramVerifier("trudy").salt);
  EXPECT_EQ(impossibleScramVerifier("mallory").salt.size(), 16u);
}

// ---- server refusals ----

TEST(ScramServerTest, TamperedNonceIsRefused) {
  ScramServer server(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(server.handleClientFirst(kClientFirst).has_value());
  std::string tampered(kClientFinal);
  tampered[10] = tampered[10] == 'x' ? 'y' : 'x';  // inside r=
  auto result = server.handleClientFinal(tampered);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "08P01");
}

TEST(ScramServerTest, TamperedProofIsInvalidPassword) {
  ScramServer server(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(server.handleClientFirst(kClientFirst).has_value());
  std::string tampered(kClientFinal);
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  auto result = server.handleClientFinal(tampered);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "28P01");
}

// The vector's proof signs a client-first with "n=user"; any other bare message must not pass.
TEST(ScramServerTest, ProofIsBoundToTheWholeConversation) {
  ScramServer server(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(server.handleClientFirst("n,,n=other,r=rOprNGfwEbeRWgbNEkqO").has_value());
  auto result = server.handleClientFinal(kClientFinal);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "28P01");
}

TEST(ScramServerTest, ChannelBindingIsRefusedAsProtocolViolation) {
  ScramServer server(rfcVerifier());
  auto result = server.handleClientFirst("p=tls-server-end-point,,n=,r=abc");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "08P01");
}

TEST(ScramServerTest, MalformedClientFirstIsProtocolViolation) {
  const std::string cases[] = {
      "",
      "n,",
      "n,,",
      "n,a=admin,n=,r=abc",  // authorization identity
      "x,,n=,r=abc",         // unknown gs2 flag
      "n,,r=abc",            // missing user attribute
      "n,,n=,",              // missing nonce
      "n,,n=,r=",            // empty nonce
      "n,,n=,r=a b",         // nonce not printable
      "n,,n=,r=abc\x7f",     // nonce not printable
      "n,,m=ext,n=,r=abc",   // mandatory extension
      "n,,n=,r=abc,",        // dangling comma
      "n,,n=,r=abc,1=x",     // bad extension name
      "n,,n=,r=ab\0c"s,      // NUL
  };
  for (const std::string& message : cases) {
    ScramServer server(rfcVerifier());
    auto result = server.handleClientFirst(message);
    ASSERT_FALSE(result.has_value()) << message;
    EXPECT_EQ(result.error().sqlstate, "08P01") << message;
  }
}

TEST(ScramServerTest, OverlongMessagesAreRefused) {
  ScramServer first(rfcVerifier());
  auto r1 = first.handleClientFirst("n,,n=,r=" + std::string(70000, 'a'));
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().sqlstate, "08P01");

  ScramServer final_too_long(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(final_too_long.handleClientFirst(kClientFirst).has_value());
  auto r2 = final_too_long.handleClientFinal(std::string(kClientFinal) + std::string(70000, 'x'));
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().sqlstate, "08P01");
}

TEST(ScramServerTest, ExtensionsInClientFirstAreIgnored) {
  ScramServer server(rfcVerifier(), "srv");
  auto result = server.handleClientFirst("n,,n=,r=abc,x=whatever");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, "r=abcsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
}

TEST(ScramServerTest, MalformedClientFinalIsProtocolViolation) {
  const std::string nonce = std::string(kClientNonce) + std::string(kServerNoncePart);
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const std::string cases[] = {
      "",
      "c=biws",
      "c=biws,r=" + nonce,                // no proof
      "c=eSws,r=" + nonce + "," + proof,  // binding does not match "n,,"
      "c=cD10bHMtdW5pcXVlLCw=,r=" + nonce + "," + proof,
      "r=" + nonce + ",c=biws," + proof,           // order
      "c=biws,r=" + nonce + "," + proof + ",x=1",  // proof not last
      "c=biws,r=" + nonce + ",p=AAAA",             // proof too short
      "c=biws,r=" + nonce + ",p=not base64!",
      "c=biws,r=" + nonce + ",," + proof,
  };
  for (const std::string& message : cases) {
    ScramServer server(rfcVerifier(), std::string(kServerNoncePart));
    ASSERT_TRUE(server.handleClientFirst(kClientFirst).has_value());
    auto result = server.handleClientFinal(message);
    ASSERT_FALSE(result.has_value()) << message;
    EXPECT_EQ(result.error().sqlstate, "08P01") << message;
  }
}

TEST(ScramServerTest, YFlagExpectsMatchingBinding) {
  // A client that could bind but was not offered SCRAM-SHA-256-PLUS sends "y,," and must echo
  // it ("c=eSws"). Our client always sends "n,,", so build the final message by hand.
  ScramServer server(rfcVerifier(), "srv");
  ASSERT_TRUE(server.handleClientFirst("y,,n=,r=abc").has_value());
  auto result = server.handleClientFinal("c=biws,r=abcsrv,p=" + base64Encode(std::string(32, 'x')));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "08P01");

  ScramServer server2(rfcVerifier(), "srv");
  ASSERT_TRUE(server2.handleClientFirst("y,,n=,r=abc").has_value());
  auto wrong_proof =
      server2.handleClientFinal("c=eSws,r=abcsrv,p=" + base64Encode(std::string(32, 'x')));
  ASSERT_FALSE(wrong_proof.has_value());
  EXPECT_EQ(wrong_proof.error().sqlstate, "28P01");  // binding accepted, proof checked
}

TEST(ScramServerTest, CallsOutOfOrderAreErrors) {
  ScramServer early(rfcVerifier());
  EXPECT_FALSE(early.handleClientFinal(kClientFinal).has_value());

  ScramServer twice(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(twice.handleClientFirst(kClientFirst).has_value());
  EXPECT_FALSE(twice.handleClientFirst(kClientFirst).has_value());
  // The failed call ends the exchange: a correct final message is no longer accepted.
  EXPECT_FALSE(twice.handleClientFinal(kClientFinal).has_value());

  ScramServer done(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(done.handleClientFirst(kClientFirst).has_value());
  ASSERT_TRUE(done.handleClientFinal(kClientFinal).has_value());
  EXPECT_FALSE(done.handleClientFinal(kClientFinal).has_value());
  EXPECT_FALSE(done.handleClientFirst(kClientFirst).has_value());
}

TEST(ScramServerTest, NoSecondTryAfterWrongProof) {
  ScramServer server(rfcVerifier(), std::string(kServerNoncePart));
  ASSERT_TRUE(server.handleClientFirst(kClientFirst).has_value());
  std::string wrong(kClientFinal);
  wrong[wrong.size() - 5] = wrong[wrong.size() - 5] == 'A' ? 'B' : 'A';
  ASSERT_FALSE(server.handleClientFinal(wrong).has_value());
  EXPECT_FALSE(server.handleClientFinal(kClientFinal).has_value());
}

// ---- client refusals ----

TEST(ScramClientTest, WrongServerSignatureIsRefused) {
  ScramClient client("pencil", std::string(kClientNonce));
  client.clientFirst("user");
  ASSERT_TRUE(client.handleServerFirst(kServerFirst).has_value());
  std::string forged(kServerFinal);
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(client.handleServerFinal(forged).has_value());
}

// A server that does not know the password cannot produce the signature.
TEST(ScramClientTest, ServerWithoutThePasswordIsRefused) {
  ScramClient client("pencil", std::string(kClientNonce));
  client.clientFirst("user");
  ASSERT_TRUE(client.handleServerFirst(kServerFirst).has_value());
  EXPECT_FALSE(client.handleServerFinal("v=" + base64Encode(std::string(32, '\0'))).has_value());
}

TEST(ScramClientTest, ServerErrorIsRefused) {
  ScramClient client("pencil", std::string(kClientNonce));
  client.clientFirst("user");
  ASSERT_TRUE(client.handleServerFirst(kServerFirst).has_value());
  auto result = client.handleServerFinal("e=invalid-proof");
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().find("invalid-proof"), std::string::npos);
}

TEST(ScramClientTest, MalformedServerFinalIsRefused) {
  for (const std::string& message :
       {std::string(kServerFinal) + ",x=1", std::string(""), std::string("v="),
        std::string("x") + std::string(kServerFinal)}) {
    ScramClient client("pencil", std::string(kClientNonce));
    client.clientFirst("user");
    ASSERT_TRUE(client.handleServerFirst(kServerFirst).has_value());
    EXPECT_FALSE(client.handleServerFinal(message).has_value()) << message;
  }
}

TEST(ScramClientTest, ServerNonceMustExtendClientNonce) {
  const std::string cases[] = {
      "r=XXXXNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // nothing added
      "r=rOprNGfwEbeRWgbNEkqO\x01,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  };
  for (const std::string& message : cases) {
    ScramClient client("pencil", std::string(kClientNonce));
    client.clientFirst("user");
    EXPECT_FALSE(client.handleServerFirst(message).has_value()) << message;
  }
}

TEST(ScramClientTest, MalformedServerFirstIsRefused) {
  const std::string nonce = "r=rOprNGfwEbeRWgbNEkqOsrv";
  const std::string cases[] = {
      "",
      nonce,
      nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==",
      nonce + ",s=,i=4096",
      nonce + ",s=!!!!,i=4096",
      nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
      nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
      nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
      nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
      nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
      "m=x," + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "s=W22ZaJ0SNY7soEsUEjb6gQ==," + nonce + ",i=4096",
  };
  for (const std::string& message : cases) {
    ScramClient client("pencil", std::string(kClientNonce));
    client.clientFirst("user");
    EXPECT_FALSE(client.handleServerFirst(message).has_value()) << message;
  }
}

TEST(ScramClientTest, CallsOutOfOrderAreErrors) {
  ScramClient no_first("pencil", std::string(kClientNonce));
  EXPECT_FALSE(no_first.handleServerFirst(kServerFirst).has_value());
  ScramClient no_final("pencil", std::string(kClientNonce));
  no_final.clientFirst("user");
  EXPECT_FALSE(no_final.handleServerFinal(kServerFinal).has_value());

  ScramClient twice("pencil", std::string(kClientNonce));
  twice.clientFirst("user");
  ASSERT_TRUE(twice.handleServerFirst(kServerFirst).has_value());
  EXPECT_FALSE(twice.handleServerFirst(kServerFirst).has_value());
  EXPECT_FALSE(twice.handleServerFinal(kServerFinal).has_value());
}

// ---- verifiers ----

TEST(ScramVerifierFormat, ParseRoundTrip) {
  const std::string text = makeScramVerifier("pencil", rfcSalt(), 4096);
  auto v = parseScramVerifier(text);
  ASSERT_TRUE(v.has_value()) << v.error();
  EXPECT_EQ(v->iterations, 4096);
  EXPECT_EQ(v->salt, rfcSalt());
  EXPECT_EQ(v->stored_key.size(), 32u);
  EXPECT_EQ(v->server_key.size(), 32u);
}

TEST(ScramVerifierFormat, RandomSaltIsSixteenBytes) {
  auto a = parseScramVerifier(makeScramVerifier("pencil"));
  auto b = parseScramVerifier(makeScramVerifier("pencil"));
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->salt.size(), 16u);
  EXPECT_NE(a->salt, b->salt);
  EXPECT_EQ(a->iterations, 4096);
}

TEST(ScramVerifierFormat, MalformedVerifiersAreRejectedWithAMessage) {
  const std::string key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
  const std::string cases[] = {
      "",
      "md5abcdef",
      "SCRAM-SHA-256$",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + key,
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$" + key + ":" + key,
      "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$" + key + ":" + key,
      "SCRAM-SHA-256$abc:W22ZaJ0SNY7soEsUEjb6gQ==$" + key + ":" + key,
      "SCRAM-SHA-256$4096:$" + key + ":" + key,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$" + key + ":" + key,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$c2hvcnQ=:" + key,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + key + ":c2hvcnQ=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + key + ":" + key + "x",
      "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + key + ":" + key,
  };
  for (const std::string& text : cases) {
    auto v = parseScramVerifier(text);
    ASSERT_FALSE(v.has_value()) << text;
    EXPECT_FALSE(v.error().empty());
  }
}

TEST(ScramVerifierFormat, NonPositiveIterationsThrowWhenMakingAVerifier) {
  EXPECT_THROW(makeScramVerifier("pencil", "salt", 0), std::invalid_argument);
}

// ---- md5 ----

TEST(Md5Password, KnownValue) {
  // Computed with Python:
  //   "md5" + md5(md5(b"postgrespostgres").hexdigest().encode() + b"\x01\x02\x03\x04").hexdigest()
  EXPECT_EQ(md5PasswordResponse("postgres", "postgres", "\x01\x02\x03\x04"),
            "md568be9ed08db75f318087ab337aaea044");
}

TEST(Md5Password, DependsOnUserAndSalt) {
  const std::string base = md5PasswordResponse("alice", "pw", "abcd");
  EXPECT_EQ(base.size(), 35u);
  EXPECT_NE(base, md5PasswordResponse("bob", "pw", "abcd"));
  EXPECT_NE(base, md5PasswordResponse("alice", "pw", "abce"));
}

// ---- base64 ----

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [raw, text] : vectors) {
    EXPECT_EQ(base64Encode(raw), text);
    auto decoded = base64Decode(text);
    ASSERT_TRUE(decoded.has_value()) << text;
    EXPECT_EQ(*decoded, raw);
  }
}

TEST(Base64, BinaryRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  auto decoded = base64Decode(base64Encode(all));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, all);
}

TEST(Base64, StrictDecoding) {
  for (const std::string text : {"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v YmFy", "Zm9v\nYmFy",
                                 "Zh==", "Zm9=", "Zm9v!mFy", "=Zg=", "Zg=a"}) {
    EXPECT_FALSE(base64Decode(text).has_value()) << text;
  }
}

// ---- robustness ----

// Random and mutated inputs to every SCRAM entry point: no crash, no acceptance.
TEST(ScramRobustness, RandomBytesMustNotCrash) {
  std::mt19937 rng(5802);
  const ScramVerifier verifier = rfcVerifier();
  const std::string seeds[] = {std::string(kClientFirst), std::string(kServerFirst),
                               std::string(kClientFinal), std::string(kServerFinal),
                               makeScramVerifier("pencil", rfcSalt(), 4096)};
  const auto randomInput = [&](int i) {
    std::string s;
    if (i % 2 == 0) {
      s.resize(rng() % 40);
      const std::string alphabet = "nyprcsimve=,,,\0abcAZ09+/$:"s;
      for (char& c : s)
        c = rng() % 3 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    } else {
      s = seeds[rng() % std::size(seeds)];
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) s[rng() % s.size()] = static_cast<char>(rng());
      s.resize(rng() % (s.size() + 1));
    }
    return s;
  };
  for (int i = 0; i < 3000; ++i) {
    const std::string input = randomInput(i);
    (void)base64Decode(input);
    (void)parseScramVerifier(input);

    ScramServer server(verifier, std::string(kServerNoncePart));
    auto first = server.handleClientFirst(i % 3 == 0 ? std::string(kClientFirst) : input);
    if (first) {
      auto final_result = server.handleClientFinal(input);
      // Only the genuine proof may pass.
      if (final_result) {
        EXPECT_EQ(input, kClientFinal);
      }
    } else {
      EXPECT_FALSE(first.error().sqlstate.empty());
    }

    ScramClient client("pencil", std::string(kClientNonce));
    client.clientFirst("user");
    if (auto reply = client.handleServerFirst(i % 3 == 0 ? std::string(kServerFirst) : input)) {
      if (client.handleServerFinal(input)) {
        EXPECT_EQ(input, kServerFinal);
      }
    }
  }
}

}  // namespace
}  // namespace tenantwall::protocol
