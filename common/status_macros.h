// Status propagation macros, until Abseil ships its own (20220623 does not).
//
// RETURN_IF_ERROR(expr): evaluates an absl::Status expression and returns it
// from the enclosing function when it is not OK.
// ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr<T> expression; on
// error returns its status, otherwise moves the value into `lhs` (which may
// be a declaration, e.g. `auto x`).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define STOA_CONCAT_INNER_(a, b) a##b
#define STOA_CONCAT_(a, b) STOA_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status stoa_status_ = (expr);        \
    if (!stoa_status_.ok()) return stoa_status_; \
  } while (0)

#define STOA_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                \
  if (!var.ok()) return std::move(var).status();    \
  lhs = std::move(var).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  STOA_ASSIGN_OR_RETURN_IMPL_(STOA_CONCAT_(stoa_statusor_, __LINE__), lhs, expr)
