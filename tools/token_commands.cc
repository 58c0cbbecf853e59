#include "tools/token_commands.h"

#include <openssl/rand.h>

#include <array>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_text.h"
#include "common/sha256.h"

namespace stoa::tools {
namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64Url(const unsigned char* data, size_t size) {
  std::string out;
  for (size_t i = 0; i < size; i += 3) {
    const uint32_t n = (uint32_t{data[i]} << 16) | (i + 1 < size ? uint32_t{data[i + 1]} << 8 : 0) |
                       (i + 2 < size ? uint32_t{data[i + 2]} : 0);
    const size_t chars = i + 2 < size ? 4 : i + 1 < size ? 3 : 2;
    for (size_t c = 0; c < chars; ++c) out += kBase64Url[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

bool Matches(const std::string& s, size_t max, bool (*first)(char), bool (*rest)(char)) {
  if (s.empty() || s.size() > max || !first(s[0])) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!rest(s[i])) return false;
  }
  return true;
}
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsTenantChar(char c) { return IsLowerAlnum(c) || c == '_' || c == '.' || c == '-'; }
bool IsNameChar(char c) {
  return IsAlnum(c) || c == '_' || c == '.' || c == '@' || c == ':' || c == '-';
}
bool IsPatternChar(char c) { return IsNameChar(c) || c == '*'; }

absl::Status Validate(const TokenRequest& r) {
  if (r.role != "admin" && r.role != "developer" && r.role != "operator" && r.role != "invoker") {
    return absl::InvalidArgumentError(
        absl::StrCat("--role '", r.role, "': expected admin, developer, operator or invoker"));
  }
  if (!r.tenant.empty() && !Matches(r.tenant, 63, IsLowerAlnum, IsTenantChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tenant '", r.tenant, "': expected [a-z0-9][a-z0-9_.-]{0,62}"));
  }
  if (!r.name.empty() && !Matches(r.name, 128, IsAlnum, IsNameChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--name '", r.name, "': expected [A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}"));
  }
  if (!r.functions.empty() && r.role != "invoker") {
    return absl::InvalidArgumentError(
        "--functions limits invokers only: use it with --role invoker");
  }
  for (const std::string& pattern : r.functions) {
    if (!Matches(pattern, 128, IsPatternChar, IsPatternChar)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--functions '", pattern, "': expected a function name, '*' matching any characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> NewToken() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return absl::InternalError("the random number generator failed (OpenSSL RAND_bytes)");
  }
  return absl::StrCat("stoa_", Base64Url(bytes.data(), bytes.size()));
}

absl::StatusOr<std::string> TokenYamlEntry(const TokenRequest& request, const std::string& token) {
  if (absl::Status s = Validate(request); !s.ok()) return s;
  const std::string digest = common::Sha256Hex(token);
  const std::string name =
      request.name.empty() ? absl::StrCat(request.role, "-", digest.substr(0, 8)) : request.name;
  std::string out = absl::StrCat("  - name: ", name, "\n    sha256: ", digest,
                                 "\n    role: ", request.role, "\n");
  if (!request.tenant.empty()) absl::StrAppend(&out, "    tenant: ", request.tenant, "\n");
  if (!request.functions.empty()) {
    std::vector<std::string> quoted;
    for (const std::string& pattern : request.functions) {
      std::string q;
      common::AppendJsonString(q, pattern);
      quoted.push_back(std::move(q));
    }
    absl::StrAppend(&out, "    functions: [", absl::StrJoin(quoted, ", "), "]\n");
  }
  return out;
}

int CreateToken(const TokenRequest& request, std::ostream& out, std::ostream& err) {
  if (absl::Status s = Validate(request); !s.ok()) {
    err << "stoa tokens create: " << s.message() << "\n";
    return 2;
  }
  absl::StatusOr<std::string> token = NewToken();
  if (!token.ok()) {
    err << "stoa tokens create: " << token.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::string> entry = TokenYamlEntry(request, *token);
  if (!entry.ok()) {
    err << "stoa tokens create: " << entry.status().message() << "\n";
    return 2;
  }
  out << *token << "\n" << *entry;
  err << "stoa: the token is shown only this once; add the entry under `tokens:` in the auth "
         "file\n";
  return 0;
}

}  // namespace stoa::tools
