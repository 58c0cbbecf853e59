#include "bench/loadgen/payloads.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stoa::bench {

absl::StatusOr<std::vector<std::string>> DigitsPayloads(const std::string& csv_path,
                                                        const std::string& input_name) {
  std::ifstream in(csv_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read digits data '", csv_path, "'"));
  std::vector<std::string> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 || absl::StripAsciiWhitespace(line).empty()) continue;  // header
    std::vector<std::string> cells =
        absl::StrSplit(std::string(absl::StripAsciiWhitespace(line)), ',');
    if (cells.size() != 65) {
      return absl::InvalidArgumentError(
          absl::StrCat(csv_path, ":", line_no, ": expected 65 columns, got ", cells.size()));
    }
    std::string data;
    for (size_t i = 0; i < 64; ++i) {
      double v = 0;
      if (!absl::SimpleAtod(cells[i], &v)) {
        return absl::InvalidArgumentError(
            absl::StrCat(csv_path, ":", line_no, ": column ", i, " is not a number"));
      }
      absl::StrAppend(&data, i ? "," : "", v);
    }
    out.push_back(absl::StrCat("{\"inputs\":[{\"name\":\"", input_name,
                               "\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":[", data,
                               "]}]}"));
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(csv_path, ": no data rows"));
  return out;
}

absl::StatusOr<std::vector<std::string>> FilePayloads(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read payload file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("payload file '", path, "' is empty"));
  }
  std::vector<std::string> lines;
  bool all_objects = true;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    absl::string_view t = absl::StripAsciiWhitespace(l);
    if (t.empty()) continue;
    if (t.front() != '{' || t.back() != '}') all_objects = false;
    lines.emplace_back(t);
  }
  if (all_objects) return lines;
  return std::vector<std::string>{text};
}

}  // namespace stoa::bench
