// The executors' name for common::CancelSignal (common/cancel_signal.h).
#pragma once

#include "common/cancel_signal.h"

namespace stoa::executors {

using common::CancelSignal;
using common::CancelSignalPtr;

}  // namespace stoa::executors
