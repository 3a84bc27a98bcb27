// mmboost engine: errors.
//
// MM_CHECK(cond, message << stream) throws mm::Error with the message and the source location.
// Messages say what was wrong and, where it helps, how to fix it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace mm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);

}  // namespace mm

#define MM_CHECK(cond, msg)                                     \
  do {                                                          \
    if (!(cond)) {                                              \
      std::ostringstream mm_check_os_;                          \
      mm_check_os_ << msg;                                      \
      ::mm::throw_error(__FILE__, __LINE__, mm_check_os_.str()); \
    }                                                           \
  } while (0)

#define MM_FAIL(msg) MM_CHECK(false, msg)
