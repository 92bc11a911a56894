// A value that equal copies share: one heap object for the certificate of
// a server that thousands of probes check, instead of a copy per probe.
// Reads like std::optional<T>; a write through -> or * first copies the
// object when others share it (copy on write), so no holder ever sees
// another's change; == compares values. One pointer wide (the count lives
// in the shared object, not in a second pointer as with std::shared_ptr):
// every probe holds a score of these, in its conditions and its lastRun.
#pragma once

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imapprobe::controller {

template <typename T>
class SharedValue {
 public:
  SharedValue() = default;
  SharedValue(std::nullopt_t) {}
  SharedValue(const T& value) : p_(new Node(value)) {}
  SharedValue(T&& value) : p_(new Node(std::move(value))) {}
  SharedValue& operator=(std::nullopt_t) noexcept {
    p_.reset();
    return *this;
  }

  void reset() noexcept { p_.reset(); }
  bool has_value() const noexcept { return p_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  const T& operator*() const { return p_->value; }
  const T* operator->() const { return &p_->value; }
  T& operator*() {
    detach();
    return p_->value;
  }
  T* operator->() {
    detach();
    return &p_->value;
  }
  // Whether this and `other` hold the very same object.
  bool shares_with(const SharedValue& other) const { return p_ && p_ == other.p_; }

  friend bool operator==(const SharedValue& a, const SharedValue& b) {
    if (a.p_ == b.p_) return true;
    return a.p_ && b.p_ && a.p_->value == b.p_->value;
  }

 private:
  template <typename>
  friend class SharingPool;
  // The count is atomic: statuses are handed to the writer's thread and
  // facts to the telemetry thread while the probe's copy lives on.
  struct Node : boost::intrusive_ref_counter<Node, boost::thread_safe_counter> {
    explicit Node(const T& v) : value(v) {}
    explicit Node(T&& v) : value(std::move(v)) {}
    T value;
  };
  void detach() {
    if (p_ && p_->use_count() > 1) p_ = new Node(p_->value);
  }
  boost::intrusive_ptr<Node> p_;
};

// The last few distinct values seen: a value equal to one of them is made
// to share its object. Bounded, so values that stop appearing (a renewed
// certificate) are let go once the probes holding them move on.
template <typename T>
class SharingPool {
 public:
  explicit SharingPool(std::size_t capacity = 64) : capacity_(capacity) {}

  void share(SharedValue<T>& value) {
    if (!value) return;
    for (auto it = recent_.begin(); it != recent_.end(); ++it) {
      if (*it == value) {
        value.p_ = it->p_;
        return;
      }
    }
    if (recent_.size() >= capacity_) recent_.erase(recent_.begin());
    recent_.push_back(value);
  }
  std::size_t size() const { return recent_.size(); }

 private:
  std::size_t capacity_;
  std::vector<SharedValue<T>> recent_;
};

// Text that equal copies share, read as a std::string ("" when none): a
// condition's message is the same sentence for most probes ("every step
// within its thresholds"), and a copy per probe and condition was about 80
// bytes. Shared through a SharingPool<std::string> via value().
class SharedText {
 public:
  SharedText() = default;
  // Empty text holds nothing (no heap object for a field that is unset).
  SharedText(std::string text) {
    if (!text.empty()) value_ = std::move(text);
  }
  SharedText(const char* text) : SharedText(std::string(text)) {}
  SharedText(std::string_view text) : SharedText(std::string(text)) {}

  const std::string& str() const { return value_ ? *value_ : none(); }
  operator const std::string&() const { return str(); }
  bool empty() const { return str().empty(); }
  SharedValue<std::string>& value() { return value_; }

  friend bool operator==(const SharedText& a, const SharedText& b) { return a.str() == b.str(); }
  friend bool operator==(const SharedText& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const SharedText& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SharedText& a, const char* b) { return a.str() == b; }

 private:
  static const std::string& none() {
    static const std::string text;
    return text;
  }
  SharedValue<std::string> value_;
};

}  // namespace imapprobe::controller
