#pragma once
// The group-commit writer: one thread, one connection, every write of the
// process (issue 4: "many concurrent small writes share one fsync, without
// ever answering before the data is durable").
//
// Design
//   Submitters append a job to a queue and wait on a future. The writer thread
//   takes everything queued (up to max_group jobs), opens one transaction,
//   runs each job inside its own savepoint, commits once, and only then
//   fulfils the futures. While it commits (the fsync), new jobs queue up and
//   form the next group, so the group size follows the load by itself: one
//   lone write commits at once, with no added delay; N concurrent writers
//   share about one fsync per round. A job that fails (returns an error or
//   throws) is rolled back to its savepoint alone; the rest of its group
//   commits. When the transaction itself fails (BEGIN, a savepoint command,
//   COMMIT), every job of the group gets that error: none of it is durable.
//
//   One writer per process also means SQLite never sees two writers of ours
//   contend for its lock (BEGIN IMMEDIATE takes it up front, busy_timeout
//   covers other processes), and PostgreSQL gets one writing connection per
//   process (rows are locked FOR UPDATE for other processes).
//
// Thread-safety: submit(), stop() and stats() may be called from any thread;
// jobs run on the writer thread only, one at a time.
// Lifetime (Seastar-like stop, httpd.cc): stop() closes the queue to new jobs,
// lets the writer drain and commit what is queued, and joins it; the
// destructor stops. The session must outlive the writer. A job's captures
// must stay valid until its future is ready.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/store/database.hpp>

namespace soci {
class session;
}

namespace hearth::store::detail {

class group_writer {
 public:
  /// Runs inside the group transaction, within its own savepoint.
  using job = std::function<hearth::result<void>(soci::session&)>;

  /// Runs on the writer thread, outside any transaction, after each group
  /// has committed and been answered (e.g. a checkpoint the writer must do
  /// itself). Exceptions are its own to handle.
  using idle_task = std::function<void(soci::session&)>;

  group_writer(soci::session& session, engine kind, std::size_t max_group, std::size_t max_queue,
               idle_task after_group = {});
  group_writer(const group_writer&) = delete;
  group_writer& operator=(const group_writer&) = delete;
  ~group_writer();

  /// Queues `j`; blocks while max_queue jobs wait. The future is ready once
  /// the transaction holding the job committed (the job's own result) or
  /// failed (the error). After stop(): ready at once with "exception".
  std::future<hearth::result<void>> submit(job j);

  /// Drains and stops (see above). Idempotent.
  void stop();

  commit_stats stats() const;

  /// Counts the times a failed group may have left the session reconnected
  /// (statements prepared on it before are then gone). Writer thread only:
  /// jobs compare it with the value their cached statements were built at.
  std::uint64_t session_generation() const noexcept { return generation_; }

 private:
  struct item {
    job fn;
    std::promise<hearth::result<void>> done;
  };

  void run();
  void commit_group(std::vector<item>& group);

  soci::session& session_;
  idle_task after_group_;
  std::uint64_t generation_ = 0;  // writer thread only
  engine kind_;
  const std::size_t max_group_;
  const std::size_t max_queue_;

  mutable std::mutex mu_;
  std::condition_variable has_work_;  ///< the writer waits for jobs or stop
  std::condition_variable has_room_;  ///< submitters wait for queue space
  std::deque<item> queue_;            ///< guarded by mu_
  bool stopping_ = false;             ///< guarded by mu_
  commit_stats stats_;                ///< guarded by mu_
  std::once_flag joined_;
  std::thread thread_;  ///< last member: starts once everything above exists
};

}  // namespace hearth::store::detail
