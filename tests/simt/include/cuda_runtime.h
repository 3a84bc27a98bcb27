// SIMT build: the CUDA runtime of tests/simt/simt.h.
#pragma once
#include "tests/simt/simt.h"
