// Tensor storage, views and copies.
#include "engine/backend.h"
#include "tests/testing.h"

using namespace mm;

TEST_CASE("tensor factories and host round trip", "[cpu][tensor]") {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(t.shape() == Shape{2, 3});
  REQUIRE(t.strides() == Shape{3, 1});
  REQUIRE(t.is_contiguous());
  REQUIRE(t.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(Tensor::zeros({3}).to_vector() == std::vector<float>{0, 0, 0});
  REQUIRE(Tensor::full({2}, 2.5f).to_vector() == std::vector<float>{2.5f, 2.5f});
  REQUIRE(Tensor::scalar(4.0f).item() == 4.0f);
  Tensor l = Tensor::from_ints({3, 1, 4}, {3});
  REQUIRE(l.dtype() == DType::I64);
  REQUIRE(l.to_int_vector() == std::vector<int64_t>{3, 1, 4});
  REQUIRE_THROWS_WITH(Tensor::from_vector({1, 2}, {3}),
                      Catch::Contains("2 values do not fill shape [3]"));
}

TEST_CASE("empty_pinned gives a host tensor, page-locked only where the CUDA backend has a device",
          "[cpu][tensor]") {
  Tensor t = Tensor::empty_pinned({3, 5});
  CHECK(t.device() == Device::CPU);
  CHECK(t.is_pinned() == cuda::available());
  CHECK_FALSE(Tensor::empty({3, 5}).is_pinned());
  for (int64_t i = 0; i < 15; ++i) t.data_f32()[i] = static_cast<float>(i);
  CHECK(t.reshape({15}).to_vector()[14] == 14.0f);
  CHECK(t.slice(0, 1, 2).is_pinned() == t.is_pinned());  // a view shares its storage
  Tensor e = Tensor::empty_pinned({0}, DType::I64);
  CHECK(e.numel() == 0);
}

TEST_CASE("reshape, slice, transpose and permute are views with the right values",
          "[cpu][tensor]") {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 3, 2});
  Tensor r = t.reshape({3, -1});
  REQUIRE(r.shape() == Shape{3, 4});
  REQUIRE(r.impl()->storage == t.impl()->storage);

  Tensor s = t.slice(1, 1, 3);  // (2,2,2)
  REQUIRE(s.shape() == Shape{2, 2, 2});
  REQUIRE_FALSE(s.is_contiguous());
  REQUIRE(s.to_vector() == std::vector<float>{2, 3, 4, 5, 8, 9, 10, 11});

  Tensor tr = t.transpose(0, 2);  // (2,3,2) -> (2,3,2) with dims 0 and 2 swapped
  REQUIRE(tr.shape() == Shape{2, 3, 2});
  REQUIRE(tr.to_vector() == std::vector<float>{0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11});

  Tensor p = t.permute({2, 0, 1});  // (2,2,3)
  REQUIRE(p.shape() == Shape{2, 2, 3});
  REQUIRE(p.to_vector() == std::vector<float>{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11});
  Tensor pc = p.contiguous();
  REQUIRE(pc.is_contiguous());
  REQUIRE(pc.to_vector() == p.to_vector());

  REQUIRE(t.flatten(1).shape() == Shape{2, 6});
  REQUIRE(t.unsqueeze(0).shape() == Shape{1, 2, 3, 2});
  REQUIRE(t.unsqueeze(0).squeeze(0).shape() == Shape{2, 3, 2});
  REQUIRE_THROWS_WITH(t.reshape({5, -1}), Catch::Contains("cannot infer"));
  REQUIRE_THROWS_WITH(t.slice(1, 2, 4), Catch::Contains("outside dimension"));
  REQUIRE_THROWS_WITH(t.transpose(0, 3), Catch::Contains("out of range"));
}

TEST_CASE("copy_ into a strided view writes only the view", "[cpu][tensor]") {
  Tensor t = Tensor::zeros({3, 4});
  Tensor col = t.slice(1, 1, 2);  // (3,1)
  col.copy_(Tensor::from_vector({1, 2, 3}, {3, 1}));
  REQUIRE(t.to_vector() == std::vector<float>{0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0});
  Tensor a = Tensor::ones({4});
  a.add_(Tensor::from_vector({1, 2, 3, 4}, {4}), 0.5f);
  REQUIRE(a.to_vector() == std::vector<float>{1.5f, 2, 2.5f, 3});
  a.mul_(2.0f);
  REQUIRE(a.to_vector() == std::vector<float>{3, 4, 5, 6});
}

TEST_CASE("seeded random fills repeat exactly and have the right moments", "[cpu][rng]") {
  Tensor a = mmtest::randn({10000}, 7);
  Tensor b = mmtest::randn({10000}, 7);
  REQUIRE(a.to_vector() == b.to_vector());
  Tensor c = mmtest::randn({10000}, 8);
  REQUIRE(a.to_vector() != c.to_vector());
  double m = 0, v = 0;
  for (float x : a.to_vector()) m += x;
  m /= 10000;
  for (float x : a.to_vector()) v += (x - m) * (x - m);
  v /= 10000;
  REQUIRE(std::fabs(m) < 0.05);
  REQUIRE(std::fabs(v - 1.0) < 0.05);
  Tensor u = mmtest::randu({10000}, 3, -1.0f, 2.0f);
  for (float x : u.to_vector()) REQUIRE((x >= -1.0f && x < 2.0f));
  Generator g(5);
  Tensor bern = Tensor::empty({10000});
  bernoulli_(bern, 0.3f, g);
  double ones = 0;
  for (float x : bern.to_vector()) ones += x;
  REQUIRE(std::fabs(ones / 10000 - 0.3) < 0.02);
  // The generator state is (seed, counter): restoring it replays the same numbers.
  Generator h(11);
  h.normal();
  uint64_t ctr = h.counter();
  float next = h.uniform();
  h.set_state(11, ctr);
  REQUIRE(h.uniform() == next);
}
