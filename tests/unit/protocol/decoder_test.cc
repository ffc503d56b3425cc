// Tests for protocol/decoder: framing of tagged messages and startup-phase packets.
#include "protocol/decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "protocol/encoder.h"

namespace tenantwall::protocol {
namespace {

using namespace std::string_literals;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A startup-phase packet: length word, then code, then payload.
std::string packet(std::uint32_t code, const std::string& payload) {
  return be32(static_cast<std::uint32_t>(8 + payload.size())) + be32(code) + payload;
}

void expectProtocolViolation(const PgError& error) {
  EXPECT_EQ(error.sqlstate, "08P01") << error.message;
  EXPECT_FALSE(error.message.empty());
}

// ---- tagged frames ----

TEST(DecodeFrame, ReadsOneCompleteMessage) {
  const std::string buf = "Q"s + be32(4 + 9) + "select 1\0"s;
  const FrameResult r = decodeFrame(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.frame.tag, 'Q');
  EXPECT_EQ(r.frame.body, "select 1\0"s);
  EXPECT_EQ(r.frame.size, buf.size());
  // The body is a view into the caller's buffer, not a copy.
  EXPECT_EQ(r.frame.body.data(), buf.data() + 5);
}

TEST(DecodeFrame, EmptyBodyIsValid) {
  const std::string buf = "X"s + be32(4);
  const FrameResult r = decodeFrame(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.frame.tag, 'X');
  EXPECT_TRUE(r.frame.body.empty());
  EXPECT_EQ(r.frame.size, 5u);
}

TEST(DecodeFrame, EveryPrefixNeedsMoreUntilComplete) {
  const std::string buf = "D"s + be32(4 + 12) + "\0\1\0\0\0\4abcd\0\0"s;
  for (std::size_t n = 0; n < buf.size(); ++n) {
    const FrameResult r = decodeFrame(std::string_view(buf).substr(0, n));
    EXPECT_EQ(r.status, DecodeStatus::kNeedMore) << "prefix of " << n << " bytes";
  }
  EXPECT_EQ(decodeFrame(buf).status, DecodeStatus::kReady);
}

TEST(DecodeFrame, FeedingOneByteAtATime) {
  std::string wire;
  appendQuery(wire, "select 42");
  appendTerminate(wire);
  std::string received;
  std::vector<char> tags;
  for (char c : wire) {
    received.push_back(c);
    for (;;) {
      const FrameResult r = decodeFrame(received);
      ASSERT_NE(r.status, DecodeStatus::kInvalid);
      if (r.status == DecodeStatus::kNeedMore) break;
      tags.push_back(r.frame.tag);
      received.erase(0, r.frame.size);
    }
  }
  EXPECT_EQ(tags, (std::vector<char>{'Q', 'X'}));
  EXPECT_TRUE(received.empty());
}

TEST(DecodeFrame, DecodesOnlyTheFirstOfSeveralMessages) {
  const std::string buf = "Z"s + be32(5) + "I" + "Z"s + be32(5) + "T";
  const FrameResult first = decodeFrame(buf);
  ASSERT_EQ(first.status, DecodeStatus::kReady);
  EXPECT_EQ(first.frame.body, "I");
  EXPECT_EQ(first.frame.size, 6u);
  const FrameResult second = decodeFrame(std::string_view(buf).substr(first.frame.size));
  ASSERT_EQ(second.status, DecodeStatus::kReady);
  EXPECT_EQ(second.frame.body, "T");
}

TEST(DecodeFrame, LengthBelowFourIsInvalid) {
  for (std::uint32_t length : {0u, 1u, 2u, 3u}) {
    const FrameResult r = decodeFrame("Q"s + be32(length) + "abcdefgh");
    EXPECT_EQ(r.status, DecodeStatus::kInvalid) << "length " << length;
    expectProtocolViolation(r.error);
  }
}

TEST(DecodeFrame, NegativeLengthIsInvalid) {
  for (std::uint32_t length : {0xffffffffu, 0x80000000u, 0xfffffffcu}) {
    const FrameResult r = decodeFrame("Q"s + be32(length));
    EXPECT_EQ(r.status, DecodeStatus::kInvalid) << "length " << length;
    expectProtocolViolation(r.error);
  }
}

TEST(DecodeFrame, HugeLengthIsInvalidAsSoonAsTheHeaderArrives) {
  // Must not wait for 2 GB that will never be accepted.
  const FrameResult r = decodeFrame("Q"s + be32(0x7fffffff));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
  EXPECT_EQ(r.error.message, "message too large");
}

TEST(DecodeFrame, BodyAboveMaxBodyIsInvalid) {
  const std::string at_limit = "d"s + be32(4 + 10) + std::string(10, 'x');
  EXPECT_EQ(decodeFrame(at_limit, 10).status, DecodeStatus::kReady);
  const std::string above = "d"s + be32(4 + 11) + std::string(11, 'x');
  const FrameResult r = decodeFrame(above, 10);
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
  EXPECT_EQ(r.error.message, "message too large");
  EXPECT_EQ(r.error.severity, "FATAL");
}

TEST(DecodeFrame, DefaultBoundIsKDefaultMaxMessage) {
  const std::string header = "d"s + be32(static_cast<std::uint32_t>(4 + kDefaultMaxMessage));
  EXPECT_EQ(decodeFrame(header).status, DecodeStatus::kNeedMore);
  const std::string over = "d"s + be32(static_cast<std::uint32_t>(5 + kDefaultMaxMessage));
  EXPECT_EQ(decodeFrame(over).status, DecodeStatus::kInvalid);
}

// ---- startup packets ----

TEST(DecodeStartup, StartupMessageWithParameters) {
  const std::string buf = packet(196608, "user\0alice\0database\0sales\0application_name\0\0\0"s);
  const StartupResult r = decodeStartup(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady) << r.error.message;
  EXPECT_EQ(r.packet.kind, StartupKind::kStartup);
  EXPECT_EQ(r.packet.protocol_version, 196608);
  EXPECT_EQ(r.consumed, buf.size());
  ASSERT_EQ(r.packet.params.size(), 3u);
  EXPECT_EQ(r.packet.params[0], (std::pair<std::string, std::string>{"user", "alice"}));
  EXPECT_EQ(r.packet.params[1], (std::pair<std::string, std::string>{"database", "sales"}));
  // Empty values are allowed; only names must be non-empty.
  EXPECT_EQ(r.packet.params[2], (std::pair<std::string, std::string>{"application_name", ""}));
  EXPECT_EQ(r.packet.param("database"), "sales");
  EXPECT_EQ(r.packet.param("options"), "");
}

TEST(DecodeStartup, ConsumesOnlyThePacket) {
  const std::string first = packet(196608, "user\0bob\0\0"s);
  const std::string buf = first + "Q"s + be32(4);
  const StartupResult r = decodeStartup(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.consumed, first.size());
}

TEST(DecodeStartup, FeedingOneByteAtATime) {
  std::string wire;
  appendStartup(wire, {{"user", "bob"}, {"database", "db"}});
  for (std::size_t n = 0; n < wire.size(); ++n) {
    const StartupResult r = decodeStartup(std::string_view(wire).substr(0, n));
    EXPECT_EQ(r.status, DecodeStatus::kNeedMore) << "prefix of " << n << " bytes";
  }
  const StartupResult r = decodeStartup(wire);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.param("user"), "bob");
}

TEST(DecodeStartup, MinorVersionAboveZeroIsServedAsThreeZero) {
  const StartupResult r = decodeStartup(packet(196608 + 2, "user\0bob\0\0"s));
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.kind, StartupKind::kStartup);
  // The requested version is kept so the caller can answer with NegotiateProtocolVersion.
  EXPECT_EQ(r.packet.protocol_version, 196610);
}

TEST(DecodeStartup, OtherMajorVersionIsFeatureNotSupported) {
  for (std::uint32_t version : {0x00020000u, 0x00040000u, 0x12345678u}) {
    const StartupResult r = decodeStartup(packet(version, "user\0bob\0\0"s));
    EXPECT_EQ(r.status, DecodeStatus::kInvalid);
    EXPECT_EQ(r.error.sqlstate, "0A000");
    EXPECT_NE(r.error.message.find("unsupported frontend protocol"), std::string::npos);
  }
}

TEST(DecodeStartup, SslRequest) {
  const std::string buf = be32(8) + be32(80877103);
  const StartupResult r = decodeStartup(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.kind, StartupKind::kSslRequest);
  EXPECT_EQ(r.consumed, 8u);
}

TEST(DecodeStartup, GssEncRequest) {
  const StartupResult r = decodeStartup(be32(8) + be32(80877104));
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.kind, StartupKind::kGssEncRequest);
}

TEST(DecodeStartup, EncryptionRequestWithExtraBytesIsInvalid) {
  const StartupResult r = decodeStartup(packet(80877103, "junk"));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
}

TEST(DecodeStartup, CancelRequest) {
  const std::string buf = be32(16) + be32(80877102) + be32(4242) + be32(0xdeadbeef);
  const StartupResult r = decodeStartup(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.kind, StartupKind::kCancelRequest);
  EXPECT_EQ(r.packet.cancel_pid, 4242);
  EXPECT_EQ(r.packet.cancel_key, static_cast<std::int32_t>(0xdeadbeef));
  EXPECT_EQ(r.consumed, 16u);
}

TEST(DecodeStartup, CancelRequestOfWrongLengthIsInvalid) {
  for (const std::string& payload : {std::string(4, 'x'), std::string(12, 'x')}) {
    const StartupResult r = decodeStartup(packet(80877102, payload));
    EXPECT_EQ(r.status, DecodeStatus::kInvalid) << payload.size();
    expectProtocolViolation(r.error);
  }
}

TEST(DecodeStartup, LengthBelowEightIsInvalid) {
  for (std::uint32_t length : {0u, 4u, 7u}) {
    const StartupResult r = decodeStartup(be32(length) + be32(196608));
    EXPECT_EQ(r.status, DecodeStatus::kInvalid) << length;
    expectProtocolViolation(r.error);
  }
}

TEST(DecodeStartup, LengthAboveMaximumIsInvalidWithoutWaiting) {
  const StartupResult r = decodeStartup(be32(kMaxStartupPacket + 1));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
  EXPECT_EQ(decodeStartup(be32(0xffffffff)).status, DecodeStatus::kInvalid);
}

TEST(DecodeStartup, PacketOfExactlyMaximumLengthIsAccepted) {
  const std::string head = "user\0bob\0options\0"s;
  const std::size_t filler = kMaxStartupPacket - 8 - head.size() - 2;  // value NUL, final NUL
  const std::string buf = packet(196608, head + std::string(filler, 'x') + "\0\0"s);
  ASSERT_EQ(buf.size(), kMaxStartupPacket);
  const StartupResult r = decodeStartup(buf);
  ASSERT_EQ(r.status, DecodeStatus::kReady) << r.error.message;
  EXPECT_EQ(r.packet.param("options").size(), filler);
}

TEST(DecodeStartup, MissingFinalTerminatorIsInvalid) {
  const StartupResult r = decodeStartup(packet(196608, "user\0bob\0"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
}

TEST(DecodeStartup, UnterminatedValueIsInvalid) {
  const StartupResult r = decodeStartup(packet(196608, "user\0bob"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
}

TEST(DecodeStartup, UnterminatedNameIsInvalid) {
  const StartupResult r = decodeStartup(packet(196608, "user\0bob\0database"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
}

TEST(DecodeStartup, EmptyNameBeforeTheEndIsInvalid) {
  const StartupResult r = decodeStartup(packet(196608, "user\0bob\0\0database\0x\0\0"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
}

TEST(DecodeStartup, DuplicateParameterIsInvalid) {
  const StartupResult r = decodeStartup(packet(196608, "user\0bob\0user\0root\0\0"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  expectProtocolViolation(r.error);
  EXPECT_NE(r.error.message.find("duplicate"), std::string::npos);
}

// Missing or empty "user" is 08P01 (the header's contract), not PostgreSQL's 28000.
TEST(DecodeStartup, MissingUserIsProtocolViolation) {
  const StartupResult r = decodeStartup(packet(196608, "database\0sales\0\0"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  EXPECT_EQ(r.error.sqlstate, "08P01");
  EXPECT_NE(r.error.message.find("user name"), std::string::npos);
}

TEST(DecodeStartup, EmptyUserIsProtocolViolation) {
  const StartupResult r = decodeStartup(packet(196608, "user\0\0\0"s));
  EXPECT_EQ(r.status, DecodeStatus::kInvalid);
  EXPECT_EQ(r.error.sqlstate, "08P01");
}

TEST(DecodeStartup, NoParametersAtAllIsInvalid) {
  EXPECT_EQ(decodeStartup(packet(196608, "")).status, DecodeStatus::kInvalid);
  EXPECT_EQ(decodeStartup(packet(196608, "\0"s)).status, DecodeStatus::kInvalid);
}

// ---- robustness ----

// Random buffers, and valid packets with random bytes flipped, must never crash, read out of
// bounds (run under -DTENANTWALL_SANITIZE=ON to check) or report more than they were given.
TEST(DecoderRobustness, RandomBytesMustNotCrash) {
  std::mt19937 rng(20240601);
  std::string valid_frame;
  appendQuery(valid_frame, "select 1");
  std::string valid_startup;
  appendStartup(valid_startup, {{"user", "u"}, {"database", "d"}});
  const std::string seeds[] = {valid_frame, valid_startup,
                               be32(16) + be32(80877102) + be32(1) + be32(2)};
  for (int i = 0; i < 5000; ++i) {
    std::string buf;
    if (i % 2 == 0) {
      buf.resize(rng() % 64);
      for (char& c : buf) c = static_cast<char>(rng());
    } else {
      buf = seeds[rng() % 3];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) buf[rng() % buf.size()] = static_cast<char>(rng());
      buf.resize(rng() % (buf.size() + 1));
    }
    const FrameResult f = decodeFrame(buf, 1024);
    if (f.status == DecodeStatus::kReady) {
      EXPECT_LE(f.frame.size, buf.size());
      EXPECT_EQ(f.frame.size, 5 + f.frame.body.size());
    }
    if (f.status == DecodeStatus::kInvalid) {
      EXPECT_FALSE(f.error.sqlstate.empty());
    }
    const StartupResult s = decodeStartup(buf);
    if (s.status == DecodeStatus::kReady) {
      EXPECT_LE(s.consumed, buf.size());
    }
    if (s.status == DecodeStatus::kInvalid) {
      EXPECT_FALSE(s.error.sqlstate.empty());
    }
  }
}

}  // namespace
}  // namespace tenantwall::protocol
