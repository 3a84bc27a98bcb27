// Every CUDA backend op against the CPU backend on odd shapes (1, 7, 129; K = 6, 31, 309 and a
// row long enough for the one-block-per-row path), plus runtime checks (allocator reuse,
// copies, error on an unmergeable view) and determinism of the reductions. Every test skips
// without a CUDA device.
//
// Tolerances: elementwise transcendental functions differ by a few ulp between libm and CUDA's
// math library (rtol 1e-5); sums accumulate in double on both sides (rtol 1e-6); GEMM and
// convolution sums of up to ~250 FP32 products in different orders (rtol/atol 1e-4).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/upload.h"
#include "tests/bn_act_reference.h"
#include "tests/cuda_testing.h"
#include "tests/sgd_reference.h"
#include "tests/testing.h"

using namespace mm;
using namespace mmtest;  // randn, dev, cuda_empty, ... (tests/testing.h, tests/cuda_testing.h)

namespace {

void close(const Tensor& got_cuda, const Tensor& want_cpu, double rtol, double atol,
           const std::string& what) {
  mmtest::require_close(got_cuda, want_cpu, rtol, atol, what);
}

void same_ints(const Tensor& a, const Tensor& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.to_int_vector() == b.to_int_vector());
}

}  // namespace

// ---- runtime ---------------------------------------------------------------------------------

TEST_CASE("cuda_version_name and cudnn_version_name decode the libraries' version numbers",
          "[cpu]") {
  // cudaRuntimeGetVersion / cudaDriverGetVersion: 1000 major + 10 minor.
  CHECK(cuda::cuda_version_name(13000) == "13.0");
  CHECK(cuda::cuda_version_name(12080) == "12.8");
  CHECK(cuda::cuda_version_name(11020) == "11.2");
  // cudnnGetVersion: from cuDNN 9 on 10000 major + 100 minor + patch, before it 1000 major +
  // 100 minor + patch.
  CHECK(cuda::cudnn_version_name(91400) == "9.14.0");
  CHECK(cuda::cudnn_version_name(91900) == "9.19.0");
  CHECK(cuda::cudnn_version_name(90102) == "9.1.2");
  CHECK(cuda::cudnn_version_name(8907) == "8.9.7");
  CHECK(cuda::cudnn_version_name(8100) == "8.1.0");
}

TEST_CASE("cuda settings name the CUDA runtime and the loaded cuDNN", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  const cuda::Settings s = cuda::settings();
  REQUIRE_FALSE(s.gpu.empty());
  if (cuda::emulated()) {  // the CPU backend: no CUDA or cuDNN library behind it
    CHECK(s.cuda_runtime == 0);
    CHECK(s.cudnn == 0);
    return;
  }
  CHECK(s.cuda_runtime >= 12000);
  CHECK(s.cuda_driver >= 12000);
  CHECK(s.cudnn >= 90000);  // the build needs cuDNN 9
  CHECK(s.cudnn_built >= 90000);
}

TEST_CASE("cuda runtime: device count, allocator reuse and host/device copies", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  REQUIRE(cuda::device_count() >= 1);
  void* p = cuda::device_alloc(1000);
  cuda::device_free(p);
  void* q = cuda::device_alloc(900);  // same 1024-byte bucket: the cached block comes back
  // (the caching allocator's promise; the emulated device has plain host allocations)
  const char* no_cache = std::getenv("MMBOOST_CUDA_NO_CACHE");
  if (!cuda::emulated() && (!no_cache || std::string(no_cache) != "1")) REQUIRE(q == p);
  cuda::device_free(q);

  std::vector<float> host(1029);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f - 3.0f;
  void* a = cuda::device_alloc(host.size() * 4);
  void* b = cuda::device_alloc(host.size() * 4);
  cuda::memcpy_h2d(a, host.data(), host.size() * 4);
  cuda::memcpy_d2d(b, a, host.size() * 4);
  std::vector<float> back(host.size(), 0.0f);
  cuda::memcpy_d2h(back.data(), b, host.size() * 4);
  cuda::synchronize();
  REQUIRE(back == host);
  cuda::device_free(a);
  cuda::device_free(b);
}

TEST_CASE("cuda uploads from page-locked memory overlap (no host wait) and land before the "
          "kernels queued after get(); from pageable memory they are ordinary copies",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  Tensor x = Tensor::empty_pinned({7, 129});
  REQUIRE(x.is_pinned());
  const Tensor xr = randn({7, 129}, 5);
  std::memcpy(x.data_f32(), xr.data_f32(), static_cast<size_t>(x.numel()) * sizeof(float));
  Tensor y = Tensor::empty_pinned({7}, DType::I64);
  for (int64_t i = 0; i < 7; ++i) y.data_i64()[i] = 3 * i - 1;
  const Tensor pageable = randn({1, 31}, 6);
  REQUIRE_FALSE(pageable.is_pinned());
  {
    const int64_t before = cuda::host_waits();
    Upload up({x, y}, Device::CUDA);
    CHECK(up.overlapped());
    const std::vector<Tensor>& d = up.get();
    CHECK(cuda::host_waits() == before);  // queued, joined: the host never waited
    REQUIRE(d.size() == 2);
    CHECK(d[0].device() == Device::CUDA);
    // A kernel queued after get() reads the data (on the SIMT build the copy would otherwise not
    // have run yet: its buffer would read as NaN).
    const Tensor doubled = mul_scalar(d[0], 2.0f);
    close(doubled, mul_scalar(xr, 2.0f), 0.0, 0.0, "uploaded x, doubled on the device");
    same_ints(d[1], y, "uploaded labels");
  }
  {
    const int64_t before = cuda::host_waits();
    Upload up({pageable}, Device::CUDA);
    CHECK_FALSE(up.overlapped());
    close(up.get()[0], pageable, 0.0, 0.0, "copied from pageable memory");
    if (!cuda::emulated()) CHECK(cuda::host_waits() - before >= 1);  // to() waited for the copy
  }
  // An upload dropped before get() (an error between the two) waits for its copy first, so the
  // page-locked buffer goes back to its cache only when nothing reads it.
  { Upload dropped({x}, Device::CUDA); }
  CHECK_THROWS_WITH(Upload({dev(xr)}, Device::CUDA), Catch::Contains("must be a host tensor"));
}

TEST_CASE("cuda tensors: zeros, to(), clone of a permuted view", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  Tensor z = Tensor::zeros({7, 3}, DType::F32, Device::CUDA);
  REQUIRE(z.to_vector() == std::vector<float>(21, 0.0f));
  Tensor x = randn({4, 7, 5}, 1);
  Tensor xd = dev(x);
  REQUIRE(xd.device() == Device::CUDA);
  require_same_bits(xd, x, "round trip");
  require_same_bits(xd.permute({2, 0, 1}).clone(), x.permute({2, 0, 1}).clone(), "permuted clone");
}

// ---- fill and strided copies -----------------------------------------------------------------

TEST_CASE("cuda fill and copy_strided match the CPU on permuted, sliced, expanded views",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  {
    Tensor t = cuda_empty({129, 7});
    cuda::fill(t, 2.5f);
    REQUIRE(t.to_vector() == std::vector<float>(129 * 7, 2.5f));
  }
  Tensor x = randn({4, 7, 129}, 2);
  Tensor xd = dev(x);
  auto check = [](const Tensor& src_cpu, const Tensor& src_cuda, const std::string& what) {
    Tensor want = cpu_empty(src_cpu.shape(), src_cpu.dtype());
    cpu::copy_strided(src_cpu, want);
    Tensor got = cuda_empty(src_cuda.shape(), src_cuda.dtype());
    cuda::copy_strided(src_cuda, got);
    if (src_cpu.dtype() == DType::F32) require_same_bits(got, want, what);
    else same_ints(got, want, what);
  };
  check(x.permute({2, 0, 1}), xd.permute({2, 0, 1}), "permute");
  check(x.slice(1, 2, 5), xd.slice(1, 2, 5), "slice");
  check(x.slice(2, 1, 128).transpose(0, 2), xd.slice(2, 1, 128).transpose(0, 2), "slice+transpose");
  Tensor row = randn({1, 129}, 3);
  check(expand(row, {7, 129}), expand(dev(row), {7, 129}), "expand rows");
  Tensor col = randn({7, 1}, 4);
  check(expand(col, {7, 129}), expand(dev(col), {7, 129}), "expand cols");
  Tensor s = Tensor::scalar(3.25f);
  check(s, dev(s), "0-dim");
  std::vector<int64_t> iv(6 * 31);
  for (size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<int64_t>(i) * 1000003 - 77;
  Tensor xi = Tensor::from_ints(iv, {6, 31});
  check(xi.transpose(0, 1), dev(xi).transpose(0, 1), "i64 transpose");

  // Into a non-contiguous destination.
  Tensor src = randn({7, 129}, 5);
  Tensor want = Tensor::zeros({129, 7});
  Tensor want_view = want.transpose(0, 1);
  cpu::copy_strided(src, want_view);
  Tensor got = Tensor::zeros({129, 7}, DType::F32, Device::CUDA);
  Tensor got_view = got.transpose(0, 1);
  cuda::copy_strided(dev(src), got_view);
  require_same_bits(got, want, "strided destination");
}

TEST_CASE("cuda copy_strided rejects views with more than 8 unmergeable dimensions", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  SKIP_ON_EMULATED_CUDA("the 8-dimension limit is the CUDA kernel's");
  Shape s(9, 2);
  Tensor x = Tensor::zeros(s, DType::F32, Device::CUDA);
  std::vector<int64_t> rev = {8, 7, 6, 5, 4, 3, 2, 1, 0};
  Tensor v = x.permute(rev);
  Tensor out = cuda_empty(v.shape());
  REQUIRE_THROWS_AS(cuda::copy_strided(v, out), mm::Error);
}

// ---- elementwise -----------------------------------------------------------------------------

TEST_CASE("cuda unary ops and their backward match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    UnaryOp op;
    const char* name;
    float alpha;
    bool positive;  // domain (0.1, 3) instead of N(0,1)
  };
  const Case cases[] = {
      {UnaryOp::Neg, "neg", 0.0f, false},         {UnaryOp::Relu, "relu", 0.0f, false},
      {UnaryOp::Sigmoid, "sigmoid", 0.0f, false}, {UnaryOp::Tanh, "tanh", 0.0f, false},
      {UnaryOp::Exp, "exp", 0.0f, false},         {UnaryOp::Log, "log", 0.0f, true},
      {UnaryOp::Sqrt, "sqrt", 0.0f, true},        {UnaryOp::Abs, "abs", 0.0f, false},
      {UnaryOp::AddScalar, "add", 0.7f, false},   {UnaryOp::MulScalar, "mul", -1.3f, false},
      {UnaryOp::PowScalar, "pow", 1.7f, true}};
  for (const Shape& shape : {Shape{1}, Shape{7}, Shape{129, 7}}) {
    for (const Case& c : cases) {
      const std::string what = std::string(c.name) + " " + shape_str(shape);
      Tensor x = c.positive ? randu(shape, 10, 0.1f, 3.0f) : randn(shape, 10);
      Tensor y = cpu_empty(shape);
      cpu::unary(c.op, x, y, c.alpha);
      Tensor yd = cuda_empty(shape);
      cuda::unary(c.op, dev(x), yd, c.alpha);
      close(yd, y, 1e-5, 1e-6, what);

      Tensor gy = randn(shape, 11);
      Tensor gx = cpu_empty(shape);
      cpu::unary_backward(c.op, x, y, gy, gx, c.alpha);
      Tensor gxd = cuda_empty(shape);
      cuda::unary_backward(c.op, dev(x), dev(y), dev(gy), gxd, c.alpha);
      close(gxd, gx, 1e-5, 1e-6, what + " backward");
    }
  }
  // In place (the optimizers scale buffers with mul_).
  Tensor x = randn({129}, 12);
  Tensor xd = dev(x);
  cuda::unary(UnaryOp::MulScalar, xd, xd, 0.5f);
  Tensor want = cpu_empty({129});
  cpu::unary(UnaryOp::MulScalar, x, want, 0.5f);
  require_same_bits(xd, want, "in-place mul");
}

TEST_CASE("cuda binary ops with broadcast strides match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
  const Shape out_shape = {7, 5, 129};
  Tensor a3 = randn({7, 1, 129}, 20);
  Tensor b1 = randu({129}, 21, 0.5f, 2.0f);
  Tensor af = randn(out_shape, 22);
  Tensor bf = randu(out_shape, 23, 0.5f, 2.0f);
  for (BinaryOp op : ops) {
    const std::string what = "op " + std::to_string(static_cast<int>(op));
    {  // both broadcast
      Tensor want = cpu_empty(out_shape);
      cpu::binary(op, expand(a3, out_shape), expand(b1, out_shape), want);
      Tensor got = cuda_empty(out_shape);
      cuda::binary(op, expand(dev(a3), out_shape), expand(dev(b1), out_shape), got);
      require_same_bits(got, want, what + " broadcast");
    }
    {  // contiguous
      Tensor want = cpu_empty(out_shape);
      cpu::binary(op, af, bf, want);
      Tensor got = cuda_empty(out_shape);
      cuda::binary(op, dev(af), dev(bf), got);
      require_same_bits(got, want, what + " contiguous");
    }
    {  // transposed operand
      Tensor at = randn({129, 7}, 24);
      Tensor bt = randu({7, 129}, 25, 0.5f, 2.0f);
      Tensor want = cpu_empty({7, 129});
      cpu::binary(op, at.transpose(0, 1), bt, want);
      Tensor got = cuda_empty({7, 129});
      cuda::binary(op, dev(at).transpose(0, 1), dev(bt), got);
      require_same_bits(got, want, what + " transposed");
    }
    {  // scalars
      Tensor sa = Tensor::scalar(1.5f), sb = Tensor::scalar(-0.25f);
      Tensor want = cpu_empty({});
      cpu::binary(op, sa, sb, want);
      Tensor got = cuda_empty({});
      cuda::binary(op, dev(sa), dev(sb), got);
      require_same_bits(got, want, what + " 0-dim");
    }
  }
}

TEST_CASE("cuda axpy matches the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (int64_t n : {1, 7, 129, 100003}) {
    Tensor x = randn({n}, 30), y = randn({n}, 31);
    Tensor yd = dev(y);
    cpu::axpy(-0.37f, x, y);
    cuda::axpy(-0.37f, dev(x), yd);
    close(yd, y, 1e-6, 1e-7, "axpy n=" + std::to_string(n));
  }
}

TEST_CASE("cuda multi-tensor SGD has the bits of per-tensor device ops and matches the CPU",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  // Sizes across the kernel's 8192-element chunks, an empty tensor, and more tensors than one
  // launch's 48 slots (so the step takes several launches).
  std::vector<int64_t> sizes = {1, 7, 129, 0, 8192, 8193, 70001};
  for (int i = 0; i < 100; ++i) sizes.push_back(1 + (i * 37) % 300);
  for (const mmtest::SgdRule& r : {mmtest::SgdRule{0.9f, 0.0f, false}, mmtest::SgdRule{0.9f, 0.0f, true},
                                   mmtest::SgdRule{0.9f, 0.3f, false}, mmtest::SgdRule{}}) {
    INFO("momentum " << r.momentum << ", dampening " << r.dampening << ", nesterov " << r.nesterov);
    mmtest::require_sgd_matches_reference(Device::CUDA, sizes, r);
  }
  // Against the CPU twin: the two backends' axpy may round differently (an FMA or not).
  std::vector<SgdSlot> host, device;
  for (size_t i = 0; i < 5; ++i) {
    const int64_t n = sizes[i + 2];
    SgdSlot s;
    s.param = randn({n}, 40 + i);
    s.grad = randn({n}, 50 + i);
    s.buf = randn({n}, 60 + i);
    s.lr = 0.1f;
    s.weight_decay = 5e-4f;
    s.first = i == 1;
    host.push_back(s);
    s.param = dev(s.param);
    s.grad = dev(s.grad);
    s.buf = dev(s.buf);
    device.push_back(s);
  }
  cpu::sgd_step(host, 0.9f, 0.1f, true);
  cuda::sgd_step(device, 0.9f, 0.1f, true);
  for (size_t i = 0; i < host.size(); ++i) {
    close(device[i].param, host[i].param, 1e-6, 1e-7, "param " + std::to_string(i));
    close(device[i].buf, host[i].buf, 1e-6, 1e-7, "momentum buffer " + std::to_string(i));
  }
}

// ---- reductions ------------------------------------------------------------------------------

TEST_CASE("cuda reduce_dim sum and max match the CPU; sums are deterministic", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Dims {
    int64_t outer, n, inner;
  };
  // Covers: warp rows, chunked long rows (n > 4096), thread-per-column, chunked columns.
  const Dims dims[] = {{1, 1, 1},    {7, 129, 1},  {129, 7, 1},   {3, 5000, 1}, {1, 100003, 1},
                       {7, 129, 3},  {2, 3000, 7}, {1, 64, 4096}, {5, 1, 9},    {1, 7, 129}};
  for (const Dims& d : dims) {
    const std::string what = "(" + std::to_string(d.outer) + "," + std::to_string(d.n) + "," +
                             std::to_string(d.inner) + ")";
    Tensor x = randn({d.outer, d.n, d.inner}, 40);
    Tensor xd = dev(x);
    Tensor s = cpu_empty({d.outer, d.inner});
    cpu::reduce_dim(ReduceOp::Sum, x, d.outer, d.n, d.inner, s, nullptr);
    Tensor sd = cuda_empty({d.outer, d.inner});
    cuda::reduce_dim(ReduceOp::Sum, xd, d.outer, d.n, d.inner, sd, nullptr);
    close(sd, s, 1e-6, 1e-6, "sum " + what);
    Tensor sd2 = cuda_empty({d.outer, d.inner});
    cuda::reduce_dim(ReduceOp::Sum, xd, d.outer, d.n, d.inner, sd2, nullptr);
    require_same_bits(sd2, sd, "sum run twice " + what);

    Tensor m = cpu_empty({d.outer, d.inner});
    Tensor mi = cpu_empty({d.outer, d.inner}, DType::I64);
    cpu::reduce_dim(ReduceOp::Max, x, d.outer, d.n, d.inner, m, &mi);
    Tensor md = cuda_empty({d.outer, d.inner});
    Tensor mid = cuda_empty({d.outer, d.inner}, DType::I64);
    cuda::reduce_dim(ReduceOp::Max, xd, d.outer, d.n, d.inner, md, &mid);
    require_same_bits(md, m, "max " + what);
    same_ints(mid, mi, "argmax " + what);

    Tensor g = randn({d.outer, d.inner}, 41);
    Tensor gx = cpu_empty({d.outer, d.n, d.inner});
    cpu::reduce_max_backward(g, mi, d.outer, d.n, d.inner, gx);
    Tensor gxd = cuda_empty({d.outer, d.n, d.inner});
    cuda::reduce_max_backward(dev(g), mid, d.outer, d.n, d.inner, gxd);
    require_same_bits(gxd, gx, "max backward " + what);
  }
}

TEST_CASE("cuda max picks the first maximal index on ties, as the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  // Rows of 129 with the maximum 5.0 at several positions, one of them past lane 31.
  std::vector<float> v(3 * 129, 1.0f);
  v[0 * 129 + 40] = 5.0f;
  v[0 * 129 + 72] = 5.0f;
  v[1 * 129 + 100] = 5.0f;
  v[1 * 129 + 3] = 5.0f;
  v[2 * 129 + 128] = 5.0f;
  Tensor x = Tensor::from_vector(v, {3, 129});
  Tensor md = cuda_empty({3});
  Tensor mid = cuda_empty({3}, DType::I64);
  cuda::reduce_dim(ReduceOp::Max, dev(x), 3, 129, 1, md, &mid);
  REQUIRE(mid.to_int_vector() == std::vector<int64_t>{40, 3, 128});
  REQUIRE(md.to_vector() == std::vector<float>{5.0f, 5.0f, 5.0f});
}

// ---- GEMM ------------------------------------------------------------------------------------

TEST_CASE("cuda gemm matches the CPU for every transpose, padded leading dims, batches",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t M, N, K;
  };
  const Case cases[] = {{1, 1, 1}, {7, 129, 31}, {129, 7, 6}, {33, 65, 129}, {5, 3, 0}};
  for (const Case& c : cases) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (float beta : {0.0f, 0.5f}) {
          const int64_t batch = 3;
          // Stored A is (M,K) or (K,M), with 3 columns of padding; likewise B and C.
          const int64_t ar = ta ? c.K : c.M, ac = ta ? c.M : c.K;
          const int64_t br = tb ? c.N : c.K, bc = tb ? c.K : c.N;
          const int64_t lda = ac + 3, ldb = bc + 3, ldc = c.N + 3;
          const int64_t sa = ar * lda + 5, sb = br * ldb + 5, sc = c.M * ldc + 5;
          Tensor A = randn({batch * sa}, 50), B = randn({batch * sb}, 51);
          Tensor C = randn({batch * sc}, 52);
          Tensor Ad = dev(A), Bd = dev(B), Cd = dev(C);
          cpu::gemm(ta, tb, c.M, c.N, c.K, 0.75f, A.data_f32(), lda, B.data_f32(), ldb, beta,
                    C.data_f32(), ldc, batch, sa, sb, sc);
          cuda::gemm(ta, tb, c.M, c.N, c.K, 0.75f, Ad.data_f32(), lda, Bd.data_f32(), ldb, beta,
                     Cd.data_f32(), ldc, batch, sa, sb, sc);
          // Padding entries must be untouched on both sides, so the whole buffer compares.
          close(Cd, C, 1e-4, 1e-4,
                "gemm M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
                    " K=" + std::to_string(c.K) + " ta=" + std::to_string(ta) +
                    " tb=" + std::to_string(tb) + " beta=" + std::to_string(beta));
        }
      }
    }
  }
}

// ---- softmax, cross-entropy, gathers ---------------------------------------------------------

TEST_CASE("cuda softmax and log-softmax forward/backward match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (int64_t R : {1, 7, 129}) {
    for (int64_t K : {1, 6, 31, 309, 1500}) {  // 1500: one block per row
      for (bool log : {false, true}) {
        const std::string what = "R=" + std::to_string(R) + " K=" + std::to_string(K) +
                                 (log ? " log" : "");
        Tensor x = randn({R, K}, 60, 4.0f);
        Tensor y = cpu_empty({R, K});
        cpu::softmax_forward(x, y, log);
        Tensor yd = cuda_empty({R, K});
        cuda::softmax_forward(dev(x), yd, log);
        close(yd, y, 1e-5, 1e-6, what);
        Tensor gy = randn({R, K}, 61);
        Tensor gx = cpu_empty({R, K});
        cpu::softmax_backward(y, gy, gx, log);
        Tensor gxd = cuda_empty({R, K});
        cuda::softmax_backward(dev(y), dev(gy), gxd, log);
        close(gxd, gx, 1e-4, 1e-5, what + " backward");
      }
    }
  }
  // A 3-d input: rows are the last dimension.
  Tensor x = randn({3, 7, 31}, 62);
  Tensor y = cpu_empty({3, 7, 31});
  cpu::softmax_forward(x, y, false);
  Tensor yd = cuda_empty({3, 7, 31});
  cuda::softmax_forward(dev(x), yd, false);
  close(yd, y, 1e-5, 1e-6, "3-d");
}

TEST_CASE("cuda soft-target cross-entropy matches the CPU with targets not summing to 1",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (int64_t B : {1, 7, 129}) {
    for (int64_t K : {6, 31, 309, 1500}) {
      const std::string what = "B=" + std::to_string(B) + " K=" + std::to_string(K);
      Tensor z = randn({B, K}, 70, 3.0f);
      Tensor t = randu({B, K}, 71, 0.0f, 0.3f);  // row sums ~0.15 K: far from 1
      Tensor loss = cpu_empty({B}), probs = cpu_empty({B, K});
      cpu::cross_entropy_soft_forward(z, t, loss, probs);
      Tensor lossd = cuda_empty({B}), probsd = cuda_empty({B, K});
      cuda::cross_entropy_soft_forward(dev(z), dev(t), lossd, probsd);
      close(lossd, loss, 1e-5, 1e-5, what + " loss");
      close(probsd, probs, 1e-5, 1e-7, what + " probs");
      // The incoming gradient 0.3 of the batch mean, read on the device by the CUDA kernel.
      Tensor g = cpu_empty({B, K});
      cpu::cross_entropy_soft_backward(probs, t, Tensor::scalar(0.3f), g);
      Tensor gd = cuda_empty({B, K});
      cuda::cross_entropy_soft_backward(dev(probs), dev(t), dev(Tensor::scalar(0.3f)), gd);
      close(gd, g, 1e-5, 1e-6, what + " grad");
    }
  }
}

TEST_CASE("cuda gather_rows, its backward and one_hot match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (int64_t B : {1, 7, 129}) {
    for (int64_t K : {6, 31, 309}) {
      const std::string what = "B=" + std::to_string(B) + " K=" + std::to_string(K);
      Tensor x = randn({B, K}, 80);
      Tensor y = labels_for(B, K, 81);
      Tensor yd = dev(y);
      Tensor out = cpu_empty({B});
      cpu::gather_rows(x, y, out);
      Tensor outd = cuda_empty({B});
      cuda::gather_rows(dev(x), yd, outd);
      require_same_bits(outd, out, what + " gather");
      Tensor g = randn({B}, 82);
      Tensor gx = cpu_empty({B, K});
      cpu::gather_rows_backward(g, y, gx);
      Tensor gxd = cuda_empty({B, K});
      cuda::gather_rows_backward(dev(g), yd, gxd);
      require_same_bits(gxd, gx, what + " gather backward");
      Tensor oh = cpu_empty({B, K});
      cpu::one_hot(y, oh);
      Tensor ohd = cuda_empty({B, K});
      cuda::one_hot(yd, ohd);
      require_same_bits(ohd, oh, what + " one_hot");
    }
  }
}

// ---- convolution -----------------------------------------------------------------------------

TEST_CASE("cuda conv2d forward/backward (cuDNN) match the CPU and are deterministic", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t B, C, H, W, O, k;
    int stride, padding;
    bool bias;
  };
  const Case cases[] = {{1, 1, 5, 5, 1, 1, 1, 0, false},  {2, 3, 7, 9, 4, 3, 1, 1, true},
                        {3, 4, 13, 11, 5, 3, 2, 1, true}, {2, 5, 9, 9, 3, 7, 2, 3, false},
                        {1, 6, 1, 129, 7, 1, 1, 0, true}, {4, 8, 16, 16, 16, 3, 2, 1, true}};
  for (const Case& c : cases) {
    const std::string what = "conv B=" + std::to_string(c.B) + " C=" + std::to_string(c.C) +
                             " " + std::to_string(c.H) + "x" + std::to_string(c.W) +
                             " O=" + std::to_string(c.O) + " k=" + std::to_string(c.k) +
                             " s=" + std::to_string(c.stride) + " p=" + std::to_string(c.padding);
    const int64_t Ho = (c.H + 2 * c.padding - c.k) / c.stride + 1;
    const int64_t Wo = (c.W + 2 * c.padding - c.k) / c.stride + 1;
    Tensor x = randn({c.B, c.C, c.H, c.W}, 90);
    Tensor w = randn({c.O, c.C, c.k, c.k}, 91, 0.3f);
    Tensor b = c.bias ? randn({c.O}, 92) : Tensor();
    Tensor xd = dev(x), wd = dev(w), bd = c.bias ? dev(b) : Tensor();
    Tensor y = cpu_empty({c.B, c.O, Ho, Wo});
    cpu::conv2d_forward(x, w, b, c.stride, c.padding, y);
    Tensor yd = cuda_empty({c.B, c.O, Ho, Wo});
    cuda::conv2d_forward(xd, wd, bd, c.stride, c.padding, yd);
    close(yd, y, 1e-4, 1e-4, what + " forward");

    Tensor gy = randn({c.B, c.O, Ho, Wo}, 93);
    Tensor gyd = dev(gy);
    Tensor gx = cpu_empty(x.shape()), gw = cpu_empty(w.shape()), gb = cpu_empty({c.O});
    cpu::conv2d_backward(x, w, gy, c.stride, c.padding, &gx, &gw, &gb);
    Tensor gxd = cuda_empty(x.shape()), gwd = cuda_empty(w.shape()), gbd = cuda_empty({c.O});
    cuda::conv2d_backward(xd, wd, gyd, c.stride, c.padding, &gxd, &gwd, &gbd);
    close(gxd, gx, 1e-4, 1e-4, what + " gx");
    close(gwd, gw, 1e-4, 2e-4, what + " gw");
    close(gbd, gb, 1e-5, 1e-5, what + " gb");

    Tensor gxd2 = cuda_empty(x.shape()), gwd2 = cuda_empty(w.shape()), gbd2 = cuda_empty({c.O});
    cuda::conv2d_backward(xd, wd, gyd, c.stride, c.padding, &gxd2, &gwd2, &gbd2);
    require_same_bits(gxd2, gxd, what + " gx twice");
    require_same_bits(gwd2, gwd, what + " gw twice");
    require_same_bits(gbd2, gbd, what + " gb twice");

    // Only the weight gradient.
    Tensor gwd3 = cuda_empty(w.shape());
    cuda::conv2d_backward(xd, wd, gyd, c.stride, c.padding, nullptr, &gwd3, nullptr);
    require_same_bits(gwd3, gwd, what + " gw alone");
  }
}

// ---- batch norm ------------------------------------------------------------------------------

namespace {

// Double-precision batch norm, independent of both backends: returns y, and updates rm/rv in
// training; gradients for the given gy.
struct BnRef {
  std::vector<double> y, mean, invstd, rm, rv, gx, ggamma, gbeta;
};

BnRef bn_reference(const Tensor& x_t, const Tensor& gamma_t, const Tensor& beta_t,
                   const Tensor& rm_t, const Tensor& rv_t, bool training, double momentum,
                   double eps, const Tensor& gy_t) {
  const int64_t B = x_t.size(0), C = x_t.size(1), HW = x_t.size(2) * x_t.size(3);
  const double n = static_cast<double>(B * HW);
  std::vector<float> x = x_t.to_vector(), gy = gy_t.to_vector(), gamma = gamma_t.to_vector(),
                     beta = beta_t.to_vector(), rm = rm_t.to_vector(), rv = rv_t.to_vector();
  BnRef r;
  r.y.resize(x.size());
  r.gx.resize(x.size());
  r.mean.resize(C);
  r.invstd.resize(C);
  r.rm.assign(rm.begin(), rm.end());
  r.rv.assign(rv.begin(), rv.end());
  r.ggamma.resize(C);
  r.gbeta.resize(C);
  auto at = [&](int64_t b, int64_t c, int64_t p) { return (b * C + c) * HW + p; };
  for (int64_t c = 0; c < C; ++c) {
    double mean, var;
    if (training) {
      double s = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < HW; ++p) s += x[at(b, c, p)];
      mean = s / n;
      double ss = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < HW; ++p) ss += (x[at(b, c, p)] - mean) * (x[at(b, c, p)] - mean);
      var = ss / n;
      r.rm[c] = (1 - momentum) * rm[c] + momentum * mean;
      r.rv[c] = (1 - momentum) * rv[c] + momentum * ss / (n - 1);
    } else {
      mean = rm[c];
      var = rv[c];
    }
    const double is = 1.0 / std::sqrt(var + eps);
    r.mean[c] = mean;
    r.invstd[c] = is;
    double sg = 0, sgx = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < HW; ++p) {
        const int64_t i = at(b, c, p);
        const double xh = (x[i] - mean) * is;
        r.y[i] = xh * gamma[c] + beta[c];
        sg += gy[i];
        sgx += gy[i] * xh;
      }
    r.ggamma[c] = sgx;
    r.gbeta[c] = sg;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < HW; ++p) {
        const int64_t i = at(b, c, p);
        const double xh = (x[i] - mean) * is;
        r.gx[i] = training ? gamma[c] * is * (gy[i] - sg / n - xh * sgx / n)
                           : gamma[c] * is * gy[i];
      }
  }
  return r;
}

}  // namespace

TEST_CASE("cuda batch_norm2d forward/backward match a double reference and the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t B, C, H, W;
  };
  // The last case has 2*129*129 = 33282 values per channel: several chunks per channel.
  const Case cases[] = {{2, 3, 5, 7}, {4, 16, 9, 9}, {1, 5, 1, 129}, {7, 1, 3, 3}, {2, 2, 129, 129}};
  for (const Case& c : cases) {
    for (bool training : {true, false}) {
      const std::string what = "bn B=" + std::to_string(c.B) + " C=" + std::to_string(c.C) +
                               " " + std::to_string(c.H) + "x" + std::to_string(c.W) +
                               (training ? " train" : " eval");
      Tensor x = randn({c.B, c.C, c.H, c.W}, 100, 2.0f);
      x = add_scalar(x, 0.5f);  // a non-zero mean
      Tensor gamma = randu({c.C}, 101, 0.5f, 1.5f), beta = randn({c.C}, 102);
      Tensor rm = randn({c.C}, 103, 0.1f), rv = randu({c.C}, 104, 0.5f, 2.0f);
      Tensor gy = randn(x.shape(), 105);
      const float momentum = 0.1f, eps = 1e-5f;
      BnRef ref = bn_reference(x, gamma, beta, rm, rv, training, momentum, eps, gy);

      Tensor rm_cpu = rm.clone(), rv_cpu = rv.clone();
      Tensor y = cpu_empty(x.shape()), sm = cpu_empty({c.C}), si = cpu_empty({c.C});
      cpu::batch_norm2d_forward(x, gamma, beta, rm_cpu, rv_cpu, training, momentum, eps, Tensor(),
                                false, y, sm, si);
      Tensor rmd = dev(rm), rvd = dev(rv);
      Tensor xd = dev(x), gammad = dev(gamma);
      Tensor yd = cuda_empty(x.shape()), smd = cuda_empty({c.C}), sid = cuda_empty({c.C});
      cuda::batch_norm2d_forward(xd, gammad, dev(beta), rmd, rvd, training, momentum, eps,
                                 Tensor(), false, yd, smd, sid);
      mmtest::require_close(yd.to_vector(), ref.y, 1e-4, 1e-4, what + " y vs reference");
      mmtest::require_close(smd.to_vector(), ref.mean, 1e-5, 1e-6, what + " mean vs reference");
      mmtest::require_close(sid.to_vector(), ref.invstd, 1e-5, 1e-6,
                            what + " invstd vs reference");
      mmtest::require_close(rmd.to_vector(), ref.rm, 1e-5, 1e-6,
                            what + " running_mean vs reference");
      mmtest::require_close(rvd.to_vector(), ref.rv, 1e-5, 1e-6,
                            what + " running_var (unbiased) vs reference");
      close(yd, y, 1e-4, 1e-4, what + " y vs cpu");
      close(rmd, rm_cpu, 1e-5, 1e-6, what + " running_mean vs cpu");
      close(rvd, rv_cpu, 1e-5, 1e-6, what + " running_var vs cpu");

      Tensor gx = cpu_empty(x.shape()), gg = cpu_empty({c.C}), gb = cpu_empty({c.C});
      cpu::batch_norm2d_backward(x, gamma, sm, si, gy, Tensor(), training, &gx, &gg, &gb,
                                 nullptr);
      Tensor gxd = cuda_empty(x.shape()), ggd = cuda_empty({c.C}), gbd = cuda_empty({c.C});
      cuda::batch_norm2d_backward(xd, gammad, smd, sid, dev(gy), Tensor(), training, &gxd, &ggd,
                                  &gbd, nullptr);
      mmtest::require_close(gxd.to_vector(), ref.gx, 1e-3, 1e-4, what + " gx vs reference");
      mmtest::require_close(ggd.to_vector(), ref.ggamma, 1e-4, 1e-3,
                            what + " ggamma vs reference");
      mmtest::require_close(gbd.to_vector(), ref.gbeta, 1e-5, 1e-4, what + " gbeta vs reference");
      close(gxd, gx, 1e-3, 1e-4, what + " gx vs cpu");
      close(ggd, gg, 1e-4, 1e-3, what + " ggamma vs cpu");
      close(gbd, gb, 1e-5, 1e-4, what + " gbeta vs cpu");

      Tensor gxd2 = cuda_empty(x.shape());
      cuda::batch_norm2d_backward(xd, gammad, smd, sid, dev(gy), Tensor(), training, &gxd2,
                                  nullptr, nullptr, nullptr);
      require_same_bits(gxd2, gxd, what + " gx alone, twice");
    }
  }
}

TEST_CASE("cuda batch_norm2d without affine parameters or running buffers", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  Tensor x = randn({3, 4, 5, 6}, 110);
  Tensor none;
  Tensor y = cpu_empty(x.shape()), sm = cpu_empty({4}), si = cpu_empty({4});
  cpu::batch_norm2d_forward(x, none, none, none, none, true, 0.1f, 1e-5f, none, false, y, sm, si);
  Tensor yd = cuda_empty(x.shape()), smd = cuda_empty({4}), sid = cuda_empty({4});
  Tensor none_d;
  cuda::batch_norm2d_forward(dev(x), none_d, none_d, none_d, none_d, true, 0.1f, 1e-5f, none_d,
                             false, yd, smd, sid);
  close(yd, y, 1e-4, 1e-4, "bn plain y");
  close(sid, si, 1e-5, 1e-6, "bn plain invstd");
}

TEST_CASE("cuda batch_norm2d with ReLU and residual has the bits of bn, add and relu on the device",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  mmtest::require_bn_act_matches_ops(Device::CUDA);
}

// ---- pooling ---------------------------------------------------------------------------------

TEST_CASE("cuda max_pool2d forward/backward match the CPU, overlapping windows included",
          "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t B, C, H, W;
    int k, s, p;
  };
  const Case cases[] = {{2, 3, 9, 9, 3, 2, 1},  {1, 1, 7, 7, 2, 2, 0}, {2, 4, 12, 10, 3, 1, 1},
                        {1, 2, 1, 129, 1, 1, 0}, {3, 5, 56, 56, 3, 2, 1}};
  for (const Case& c : cases) {
    const std::string what = "maxpool " + std::to_string(c.H) + "x" + std::to_string(c.W) +
                             " k=" + std::to_string(c.k) + " s=" + std::to_string(c.s) +
                             " p=" + std::to_string(c.p);
    const int64_t Ho = (c.H + 2 * c.p - c.k) / c.s + 1, Wo = (c.W + 2 * c.p - c.k) / c.s + 1;
    // Rounded values make ties likely: the first maximum must win on both devices.
    Tensor x = randn({c.B, c.C, c.H, c.W}, 120);
    std::vector<float> xv = x.to_vector();
    for (float& v : xv) v = std::round(v * 2.0f) / 2.0f;
    x = Tensor::from_vector(xv, x.shape());
    Tensor y = cpu_empty({c.B, c.C, Ho, Wo}), idx = cpu_empty({c.B, c.C, Ho, Wo}, DType::I64);
    cpu::max_pool2d_forward(x, c.k, c.s, c.p, y, idx);
    Tensor yd = cuda_empty(y.shape()), idxd = cuda_empty(y.shape(), DType::I64);
    cuda::max_pool2d_forward(dev(x), c.k, c.s, c.p, yd, idxd);
    require_same_bits(yd, y, what + " y");
    same_ints(idxd, idx, what + " indices");

    Tensor gy = randn(y.shape(), 121);
    Tensor gx = cpu_empty(x.shape());
    cpu::max_pool2d_backward(gy, idx, gx);
    Tensor gxd = cuda_empty(x.shape());
    cuda::max_pool2d_backward(dev(gy), idxd, gxd);
    close(gxd, gx, 1e-6, 1e-6, what + " backward");
    Tensor gxd2 = cuda_empty(x.shape());
    cuda::max_pool2d_backward(dev(gy), idxd, gxd2);
    require_same_bits(gxd2, gxd, what + " backward twice");
  }
}

TEST_CASE("cuda adaptive_avg_pool2d forward/backward match the CPU (PyTorch bins)", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t B, C, H, W, oh, ow;
  };
  const Case cases[] = {{2, 3, 7, 9, 3, 4}, {1, 2, 5, 5, 1, 1},     {2, 2, 4, 4, 4, 4},
                        {1, 1, 10, 7, 3, 5}, {2, 512, 7, 7, 1, 1}, {1, 3, 3, 5, 7, 9}};
  for (const Case& c : cases) {
    const std::string what = "avgpool " + std::to_string(c.H) + "x" + std::to_string(c.W) +
                             " -> " + std::to_string(c.oh) + "x" + std::to_string(c.ow);
    Tensor x = randn({c.B, c.C, c.H, c.W}, 130);
    Tensor y = cpu_empty({c.B, c.C, c.oh, c.ow});
    cpu::adaptive_avg_pool2d_forward(x, y);
    Tensor yd = cuda_empty(y.shape());
    cuda::adaptive_avg_pool2d_forward(dev(x), yd);
    close(yd, y, 1e-6, 1e-7, what);
    Tensor gy = randn(y.shape(), 131);
    Tensor gx = cpu_empty(x.shape());
    cpu::adaptive_avg_pool2d_backward(gy, gx);
    Tensor gxd = cuda_empty(x.shape());
    cuda::adaptive_avg_pool2d_backward(dev(gy), gxd);
    close(gxd, gx, 1e-6, 1e-7, what + " backward");
  }
}

// ---- random numbers --------------------------------------------------------------------------

TEST_CASE("cuda random_fill draws the CPU's numbers from the same counters", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  const int64_t n = 100003;
  const uint64_t seed = 1234, counter = 987654321;
  {
    Tensor c = cpu_empty({n}), d = cuda_empty({n});
    cpu::random_fill(c, RandomDist::Uniform, 0.0f, 1.0f, seed, counter);
    cuda::random_fill(d, RandomDist::Uniform, 0.0f, 1.0f, seed, counter);
    require_same_bits(d, c, "uniform [0,1): exact");
  }
  {
    Tensor c = cpu_empty({n}), d = cuda_empty({n});
    cpu::random_fill(c, RandomDist::Bernoulli, 0.3f, 0.0f, seed, counter);
    cuda::random_fill(d, RandomDist::Bernoulli, 0.3f, 0.0f, seed, counter);
    require_same_bits(d, c, "bernoulli: exact");
  }
  {
    Tensor c = cpu_empty({n}), d = cuda_empty({n});
    cpu::random_fill(c, RandomDist::Uniform, -2.0f, 3.0f, seed, counter);
    cuda::random_fill(d, RandomDist::Uniform, -2.0f, 3.0f, seed, counter);
    close(d, c, 1e-6, 1e-6, "uniform [-2,3)");
  }
  {
    Tensor c = cpu_empty({n}), d = cuda_empty({n});
    cpu::random_fill(c, RandomDist::Normal, 0.5f, 2.0f, seed, counter);
    cuda::random_fill(d, RandomDist::Normal, 0.5f, 2.0f, seed, counter);
    close(d, c, 1e-5, 1e-5, "normal");
  }
  // Through the public API: the generator advances the same way on both devices.
  Generator g1(7), g2(7);
  Tensor a = cpu_empty({129}), b = cuda_empty({129});
  uniform_(a, 0.0f, 1.0f, g1);
  uniform_(b, 0.0f, 1.0f, g2);
  require_same_bits(b, a, "uniform_ through Generator");
  REQUIRE(g1.counter() == g2.counter());
}
