# Uniform targets: stoa_cc_library, stoa_cc_binary, stoa_cc_test.
set(STOA_WARNINGS -Wall -Wextra -Werror)
# The fuzz preset builds with clang, whose warnings the gcc presets do not
# gate; there they are reported, not fatal.
option(STOA_FUZZ "Build tests/fuzz with libFuzzer (the fuzz preset)" OFF)
if(STOA_FUZZ)
  set(STOA_WARNINGS -Wall -Wextra)
endif()

function(_stoa_common_options target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${STOA_WARNINGS}>)
endfunction()

# stoa_cc_library(NAME common SRCS a.cc DEPS x y [PUBLIC_DEPS ...])
# makes target stoa_<NAME> with alias stoa::<NAME>; the include root is the
# source tree, so headers are included as "common/status_macros.h".
function(stoa_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target stoa_${ARG_NAME})
  if(ARG_SRCS)
    add_library(${target} STATIC ${ARG_SRCS})
    target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
    _stoa_common_options(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
  add_library(stoa::${ARG_NAME} ALIAS ${target})
endfunction()

# stoa_cc_binary(NAME stoa-gateway SRCS main.cc DEPS ...)
function(stoa_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  _stoa_common_options(${ARG_NAME})
endfunction()

# stoa_cc_test(NAME foo_test SRCS foo_test.cc DEPS stoa::x LABELS unit [ENV K=V ...])
function(stoa_cc_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  _stoa_common_options(${ARG_NAME})
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  set_tests_properties(${ARG_NAME} PROPERTIES
    LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "STOA_SOURCE_DIR=${CMAKE_SOURCE_DIR};STOA_BIN_DIR=${CMAKE_BINARY_DIR}/bin;${ARG_ENV}")
endfunction()
