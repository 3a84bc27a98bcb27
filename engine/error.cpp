#include "engine/error.h"

#include <cstring>

namespace mm {

void throw_error(const char* file, int line, const std::string& msg) {
  // Keep only the path below the project root so messages are short and stable.
  const char* short_file = file;
  for (const char* top : {"/engine/", "/kernels/", "/models/", "/boosting/", "/data/", "/tools/"}) {
    if (const char* p = std::strstr(file, top)) {
      short_file = p + 1;
      break;
    }
  }
  throw Error(msg + " [" + short_file + ":" + std::to_string(line) + "]");
}

}  // namespace mm
