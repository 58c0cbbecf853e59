// `stoa replay`: replays a decision trace (stoa-gateway --trace-file,
// stoa-sim --trace-file) offline through one or more placement policies and
// prints accuracy and regret per policy next to the live run's
// (scheduler/trace_replay.h).
//
//   stoa replay FILE [FILE...] --policy P[,Q...] [--param KEY=VALUE...]
//               [--seed N]
//
// Each policy starts from the recorded run's global policy document with
// "policy" set to P; --param sets a field of that document (KEY as in PUT
// /v1/policy, nested with a dot: circuit.failures=3; VALUE read as JSON when
// it parses, else as a string) and is validated like PUT /v1/policy. Give a
// rotated trace as FILE.1 FILE.
// Exit codes: 0 success, 1 an unreadable or malformed trace, 2 bad flags or
// an invalid policy/param (the message names it).
#pragma once

#include <ostream>

namespace stoa::tools {

int RunReplay(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace stoa::tools
