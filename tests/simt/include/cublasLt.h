// SIMT build: the library stand-ins of tests/simt/libs.h.
#pragma once
#include "tests/simt/libs.h"
