// SIMT build: the cuDNN stand-in of tests/simt/dnn.h.
#pragma once
#include "tests/simt/dnn.h"
