// Request bodies for the fleet, taken from real data.
//
// DigitsPayloads: one KServe v2 JSON body per row of the digits held-out
// split (functions/examples/digits/test_split.csv: 64 pixel columns then a
// label), input "pixels", shape [1, 64], FP32.
// FilePayloads: a file with one request body per non-empty line (JSON
// lines, e.g. any example model's KServe input), or a whole file that is a
// single body when it does not parse as lines of JSON objects.
// Errors: NOT_FOUND for a missing file, INVALID_ARGUMENT naming the file and
// line for a malformed row or an empty file.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::bench {

absl::StatusOr<std::vector<std::string>> DigitsPayloads(const std::string& csv_path,
                                                        const std::string& input_name = "pixels");
absl::StatusOr<std::vector<std::string>> FilePayloads(const std::string& path);

}  // namespace stoa::bench
