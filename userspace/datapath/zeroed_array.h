#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

namespace portcullis {

/// A fixed-size array of all-zero T from anonymous memory: the kernel hands out zero pages as
/// they are first touched, so a 16 MiB source table whose replay touches a few hundred slots
/// costs those pages, not a 16 MiB memset and its page faults up front (a short capture's replay
/// spent an eighth of its time there). T must be valid as all-zero bytes.
template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t n) { assign(n); }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;
  ZeroedArray(ZeroedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroedArray& operator=(ZeroedArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~ZeroedArray() { clear(); }

  /// n zeroed elements (the old contents are dropped). Throws std::bad_alloc when the memory is
  /// not there, as a vector would.
  void assign(size_t n) {
    clear();
    if (n == 0) return;
    void* p =
        mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
    size_ = n;
  }
  void clear() {
    if (data_) munmap(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  operator std::span<const T>() const { return {data_, size_}; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace portcullis
