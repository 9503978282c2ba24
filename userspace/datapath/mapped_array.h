#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include <bpf/bpf.h>

namespace portcullis {

/// The values of a BPF array map created with BPF_F_MMAPABLE, mapped into this process: read
/// (and, when writable, written) in place without a syscall, unmapped when it goes. The size
/// comes from the map itself, so a pinned map of another size is seen as it is.
class MappedArray {
 public:
  MappedArray() = default;
  explicit MappedArray(int fd, bool writable = false) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return;
    const size_t bytes = size_t(info.max_entries) * info.value_size;
    const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    void* p = bytes ? mmap(nullptr, bytes, prot, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (p == MAP_FAILED) return;
    data_ = p;
    bytes_ = bytes;
    entries_ = info.max_entries;
    valueSize_ = info.value_size;
  }
  ~MappedArray() {
    if (data_) munmap(data_, bytes_);
  }
  MappedArray(MappedArray&& o) noexcept { swap(o); }
  MappedArray& operator=(MappedArray&& o) noexcept {
    MappedArray gone(std::move(o));
    swap(gone);
    return *this;
  }
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;

  /// The values as T (empty unless mapped with T's size: BPF arrays lay values out 8-byte
  /// aligned, which T's size must then be a multiple of).
  template <typename T>
  std::span<T> values() const {
    static_assert(sizeof(T) % 8 == 0, "a BPF array's values are 8-byte aligned");
    if (!data_ || valueSize_ != sizeof(T)) return {};
    return {static_cast<T*>(data_), entries_};
  }

 private:
  void swap(MappedArray& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    std::swap(entries_, o.entries_);
    std::swap(valueSize_, o.valueSize_);
  }

  void* data_ = nullptr;
  size_t bytes_ = 0;
  uint32_t entries_ = 0, valueSize_ = 0;
};

}  // namespace portcullis
