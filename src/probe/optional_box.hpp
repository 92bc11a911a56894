// An optional value kept on the heap: one pointer where std::optional<T>
// holds all of T inline. For the large parts of per-probe state that most
// probes do not have: at 10,000 probes every inline byte is 10 KB of the
// operator's memory. Reads like std::optional; copies are deep, == compares
// the values, so a struct holding one keeps its value semantics.
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace imapprobe::probe {

namespace box_detail {
// A deep copy of `from` into `to`: into the object `to` already holds, when
// both hold one. Per-probe state is assigned after every run, and a fresh
// allocation each time would leave long-lived objects scattered among a
// run's freed memory (fragmentation).
template <typename T>
void assign_deep(std::unique_ptr<T>& to, const std::unique_ptr<T>& from) {
  if (to && from) {
    *to = *from;
  } else {
    to = from ? std::make_unique<T>(*from) : nullptr;
  }
}
}  // namespace box_detail

template <typename T>
class OptionalBox {
 public:
  OptionalBox() = default;
  OptionalBox(std::nullopt_t) {}
  OptionalBox(const T& value) : p_(std::make_unique<T>(value)) {}
  OptionalBox(T&& value) : p_(std::make_unique<T>(std::move(value))) {}
  OptionalBox(const std::optional<T>& value) {
    if (value) p_ = std::make_unique<T>(*value);
  }
  OptionalBox(const OptionalBox& other) : p_(other.p_ ? std::make_unique<T>(*other.p_) : nullptr) {}
  OptionalBox(OptionalBox&&) noexcept = default;
  OptionalBox& operator=(const OptionalBox& other) {
    if (this != &other) box_detail::assign_deep(p_, other.p_);
    return *this;
  }
  OptionalBox& operator=(OptionalBox&&) noexcept = default;
  OptionalBox& operator=(std::nullopt_t) noexcept {
    p_.reset();
    return *this;
  }
  ~OptionalBox() = default;

  template <typename... Args>
  T& emplace(Args&&... args) {
    p_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *p_;
  }
  void reset() noexcept { p_.reset(); }

  bool has_value() const noexcept { return p_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }
  const T& value() const {
    if (!p_) throw std::bad_optional_access();
    return *p_;
  }

  friend bool operator==(const OptionalBox& a, const OptionalBox& b) {
    return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
  }
  friend bool operator==(const OptionalBox& a, std::nullopt_t) { return !a.has_value(); }

 private:
  std::unique_ptr<T> p_;
};

// A part of a spec that most probes leave at its default (content checks,
// thresholds): one pointer until something is set. Reads give the default
// when nothing was set; edit() makes the value to change. Copies are deep.
template <typename T>
class DefaultedBox {
 public:
  DefaultedBox() = default;
  DefaultedBox(const DefaultedBox& other)
      : p_(other.p_ ? std::make_unique<T>(*other.p_) : nullptr) {}
  DefaultedBox(DefaultedBox&&) noexcept = default;
  DefaultedBox& operator=(const DefaultedBox& other) {
    if (this != &other) box_detail::assign_deep(p_, other.p_);
    return *this;
  }
  DefaultedBox& operator=(DefaultedBox&&) noexcept = default;
  ~DefaultedBox() = default;

  const T& operator*() const { return p_ ? *p_ : default_value(); }
  const T* operator->() const { return &**this; }
  T& edit() {
    if (!p_) p_ = std::make_unique<T>();
    return *p_;
  }
  // Whether edit() was called: a value equal to the default may be set.
  bool is_set() const noexcept { return p_ != nullptr; }

 private:
  static const T& default_value() {
    static const T value{};
    return value;
  }
  std::unique_ptr<T> p_;
};

}  // namespace imapprobe::probe
