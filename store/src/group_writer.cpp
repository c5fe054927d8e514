#include "detail/group_writer.hpp"

#include <soci/soci.h>

#include <algorithm>
#include <optional>
#include <string>

#include <hearth/store/error_codes.hpp>

#include "detail/db_error.hpp"
#include "detail/sql.hpp"

namespace hearth::store::detail {
namespace {

hearth::error stopped_error() {
  return hearth::error{std::string(error_codes::exception), "the store is stopped: the write was not made", {},
                       hearth::error::npos};
}

/// Runs a job, turning an escaping exception into its error.
hearth::result<void> run_job(const group_writer::job& fn, soci::session& sql) {
  try {
    return fn(sql);
  } catch (const std::exception& e) {
    return hearth::unexpected(database_error("write", e));
  } catch (...) {
    return hearth::unexpected(
        hearth::error{std::string(error_codes::exception), "write: unknown exception", {}, hearth::error::npos});
  }
}

}  // namespace

group_writer::group_writer(soci::session& session, engine kind, std::size_t max_group, std::size_t max_queue,
                           idle_task after_group)
    : session_(session),
      after_group_(std::move(after_group)),
      kind_(kind),
      max_group_(std::max<std::size_t>(max_group, 1)),
      max_queue_(std::max<std::size_t>(max_queue, 1)),
      thread_([this] { run(); }) {}

group_writer::~group_writer() { stop(); }

std::future<hearth::result<void>> group_writer::submit(job j) {
  item it{std::move(j), {}};
  auto fut = it.done.get_future();
  std::unique_lock lock(mu_);
  has_room_.wait(lock, [this] { return stopping_ || queue_.size() < max_queue_; });
  if (stopping_) {
    it.done.set_value(hearth::unexpected(stopped_error()));
    return fut;
  }
  queue_.push_back(std::move(it));
  lock.unlock();
  has_work_.notify_one();
  return fut;
}

void group_writer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  has_work_.notify_all();
  has_room_.notify_all();
  std::call_once(joined_, [this] {
    if (thread_.joinable()) thread_.join();
  });
}

commit_stats group_writer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void group_writer::run() {
  std::vector<item> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      has_work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping with an empty queue: everything submitted has been answered.
      if (queue_.empty()) return;
      const std::size_t n = std::min(queue_.size(), max_group_);
      for (std::size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    has_room_.notify_all();
    commit_group(group);
    group.clear();
    if (after_group_) after_group_(session_);
  }
}

void group_writer::commit_group(std::vector<item>& group) {
  const statements& sql_text = statements_for(kind_);
  std::vector<std::optional<hearth::result<void>>> results(group.size());
  std::optional<hearth::error> group_error;  // the transaction itself failed
  std::size_t failed = 0;
  try {
    session_ << sql_text.begin;
    if (!sql_text.lock_order.empty()) session_ << sql_text.lock_order;
    // A job alone in its group needs no savepoint: when it fails, the whole
    // transaction is rolled back instead. (A savepoint is not free: SQLite
    // copies every page the job changes into its statement journal first.)
    const bool alone = group.size() == 1;
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (!alone) session_ << "SAVEPOINT hearth_write";
      hearth::result<void> r = run_job(group[i].fn, session_);
      if (r) {
        if (!alone) session_ << "RELEASE SAVEPOINT hearth_write";
      } else if (!alone) {
        // Undo this job alone; on PostgreSQL this also clears the aborted
        // state an error leaves the transaction in.
        session_ << "ROLLBACK TO SAVEPOINT hearth_write";
        session_ << "RELEASE SAVEPOINT hearth_write";
        ++failed;
      } else {
        ++failed;
      }
      results[i].emplace(std::move(r));
    }
    if (alone && failed == 1) {
      session_ << "ROLLBACK";
    } else {
      session_ << "COMMIT";
    }
  } catch (const std::exception& e) {
    group_error = database_error("group commit", e);
    try {
      session_ << "ROLLBACK";
    } catch (...) {
      // No transaction left to roll back, or the connection is gone.
    }
    reconnect_if_lost(session_);  // for the next group
    ++generation_;
  }

  {
    std::lock_guard lock(mu_);
    if (!group_error) {
      ++stats_.transactions;
      stats_.writes += group.size() - failed;
      stats_.failed_writes += failed;
      stats_.largest_group = std::max<std::uint64_t>(stats_.largest_group, group.size());
    } else {
      stats_.failed_writes += group.size();
    }
  }
  // Answer only now: after COMMIT returned, or after the rollback.
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (group_error) {
      group[i].done.set_value(hearth::unexpected(*group_error));
    } else {
      group[i].done.set_value(std::move(*results[i]));
    }
  }
}

}  // namespace hearth::store::detail
