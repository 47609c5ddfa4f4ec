//! Group commit: every write of the request paths (a webhook's receipt and events, a checkout,
//! a refund, an idempotency key) goes through one bounded queue to a few writer threads. A
//! writer takes whatever is queued, runs it in one write transaction and commits it together:
//! one fsync for the group, and on SQLite no connection ever waits on another's lock. Work
//! rarely fails, so a group first runs without savepoints (two statements fewer per piece);
//! when a piece fails, the group is rolled back and run again with each piece in its own
//! savepoint, so that the failing one rolls back alone. Each caller hears of its work only
//! after the group's commit, so nothing is acknowledged before it is durable; a full queue is
//! refused at once ([`StoreError::Busy`]), never waited on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use paymux_schema::db::{DatabaseUrl, DbConnection, Pool, PooledConnection, write_transaction};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;

/// How the writers are set up.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Writer threads, each with its own connection. SQLite takes one writer at a time, so it
    /// gets one; PostgreSQL commits groups side by side.
    pub writers: usize,
    /// Pieces of work waiting at most; one more is refused.
    pub queue_bound: usize,
    /// Pieces of work one commit takes at most, so one group's latency stays bounded.
    pub max_group: usize,
}

impl WriterOptions {
    /// One writer for SQLite. For PostgreSQL one per core, at most four and at most half the
    /// pool (the rest is for readers): more writers than cores only split the same work into
    /// smaller groups and more commits (docs/benchmarks.md: on two cores, two writers took at
    /// least as many webhooks as four, and eight fewer).
    pub fn for_store(url: &DatabaseUrl, max_connections: u32) -> WriterOptions {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let writers = match url {
            DatabaseUrl::Postgres(_) => usize::try_from(max_connections / 2)
                .unwrap_or(1)
                .clamp(1, cores.min(4)),
            DatabaseUrl::Sqlite(_) => 1,
        };
        WriterOptions {
            writers,
            queue_bound: 4096,
            max_group: 256,
        }
    }
}

/// The handle the request paths write through; cheap to clone. The writer threads stop once
/// every handle is gone.
#[derive(Clone)]
pub struct Writer {
    queue: Sender<Box<dyn Unit>>,
    /// One permit per piece of work the queue may hold; a piece holds its permit until a
    /// writer starts it.
    room: Arc<Semaphore>,
    metrics: WriterMetrics,
}

/// A piece of work in the queue: run inside its group's transaction, perhaps twice (a run
/// whose group was rolled back left nothing), then answered once the group's fate is known.
trait Unit: Send {
    /// Runs the work, in a savepoint of its own when `guard` says so; whether it failed.
    fn run(&mut self, conn: &mut DbConnection, guard: Guard) -> bool;
    /// Answers the caller with the last run's result, or, when the group was not committed
    /// (`group_failed`), why not.
    fn answer(self: Box<Self>, group_failed: Option<&str>);
}

/// How a group's units run: side by side in its transaction, or each in its own savepoint.
#[derive(Clone, Copy, PartialEq)]
enum Guard {
    Unguarded,
    Guarded,
}

/// A caller's work, the room it holds in the queue until it first runs, its last run's result
/// and where the answer goes.
struct Queued<F, T, E> {
    work: F,
    room: Option<OwnedSemaphorePermit>,
    done: Option<Result<T, UnitError<E>>>,
    answer: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Unit for Queued<F, T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, conn: &mut DbConnection, guard: Guard) -> bool {
        self.room.take();
        let work = &mut self.work;
        let done = match guard {
            Guard::Unguarded => work(conn).map_err(UnitError::Work),
            Guard::Guarded => write_transaction(conn, |conn| work(conn).map_err(UnitError::Work)),
        };
        let failed = done.is_err();
        self.done = Some(done);
        failed
    }

    fn answer(self: Box<Self>, group_failed: Option<&str>) {
        let result = match (self.done, group_failed) {
            // A panic in its group stopped it before it finished.
            (None, _) => Err(E::from(StoreError::Commit("the write was not run".into()))),
            (Some(Err(UnitError::Work(error))), _) => Err(error),
            (Some(Err(UnitError::Store(error))), _) => Err(E::from(StoreError::Query(error))),
            (Some(Ok(_)), Some(reason)) => Err(E::from(StoreError::Commit(reason.to_owned()))),
            (Some(Ok(value)), None) => Ok(value),
        };
        let _ = self.answer.send(result);
    }
}

#[derive(Clone)]
struct WriterMetrics {
    queued: IntGauge,
    group_size: Histogram,
    commit_seconds: Histogram,
    guarded_reruns: IntCounter,
}

impl WriterMetrics {
    fn new(registry: &Registry) -> Result<WriterMetrics, prometheus::Error> {
        let queued = IntGauge::new("write_queue_depth", "Writes waiting for a writer")?;
        let group_size = Histogram::with_opts(
            HistogramOpts::new("write_group_size", "Writes committed together in one group")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "write_group_seconds",
                "Time from a group's first statement to its commit",
            )
            .buckets(vec![
                0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )?;
        let guarded_reruns = IntCounter::new(
            "write_group_reruns_total",
            "Groups run again with a savepoint for each write, after one of their writes failed",
        )?;
        registry.register(Box::new(queued.clone()))?;
        registry.register(Box::new(group_size.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        registry.register(Box::new(guarded_reruns.clone()))?;
        Ok(WriterMetrics {
            queued,
            group_size,
            commit_seconds,
            guarded_reruns,
        })
    }
}

/// Why a unit's work failed: its own error, or the store's.
enum UnitError<E> {
    Work(E),
    Store(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for UnitError<E> {
    fn from(error: diesel::result::Error) -> UnitError<E> {
        UnitError::Store(error)
    }
}

impl Writer {
    /// Starts the writer threads on `pool`; their metrics go into `registry`.
    pub fn start(
        pool: Pool,
        options: WriterOptions,
        registry: &Registry,
    ) -> Result<Writer, WriterStartError> {
        let metrics = WriterMetrics::new(registry)?;
        let (queue, receiver) = channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let room = Arc::new(Semaphore::new(options.queue_bound));
        for index in 0..options.writers.max(1) {
            let (pool, receiver, metrics) = (pool.clone(), receiver.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(format!("paymux-writer-{index}"))
                .spawn(move || run(&pool, &receiver, &metrics, options.max_group))?;
        }
        Ok(Writer {
            queue,
            room,
            metrics,
        })
    }

    /// Runs `work` in the next group commit and answers once that group committed. When
    /// `work` fails, its writes are undone and the group commits without them; for that,
    /// `work` may be run a second time (its first run rolled back), so it must do nothing
    /// but its database work. When the queue is full it is refused at once
    /// ([`StoreError::Busy`]): what its caller has not acted on yet can be asked for again.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Ok(room) = self.room.clone().try_acquire_owned() else {
            return Err(E::from(StoreError::Busy));
        };
        self.enqueue(room, work).await
    }

    /// [`Writer::write`] for what records a provider's action (a checkout it created, a
    /// refund it made): refusing it would lose what happened, so it waits for room instead.
    pub async fn write_waiting<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let room = self
            .room
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| stopped())?;
        self.enqueue(room, work).await
    }

    /// Queues `work`, holding `room` in the queue until a writer starts it.
    async fn enqueue<T, E, F>(&self, room: OwnedSemaphorePermit, work: F) -> Result<T, E>
    where
        F: FnMut(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let unit = Box::new(Queued {
            work,
            room: Some(room),
            done: None,
            answer,
        });
        self.metrics.queued.inc();
        if self.queue.send(unit).is_err() {
            self.metrics.queued.dec();
            return Err(E::from(stopped()));
        }
        // A unit dropped unanswered (no connection) committed nothing.
        answered
            .await
            .unwrap_or_else(|_| Err(E::from(StoreError::Commit("the write was not run".into()))))
    }
}

fn stopped() -> StoreError {
    StoreError::Task("the writers stopped".into())
}

#[derive(Debug, thiserror::Error)]
pub enum WriterStartError {
    #[error("could not register the writer's metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("could not start a writer thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// One writer thread: takes the queued work in groups until every handle is gone.
fn run(
    pool: &Pool,
    receiver: &Mutex<Receiver<Box<dyn Unit>>>,
    metrics: &WriterMetrics,
    max_group: usize,
) {
    let mut conn = None;
    while let Some(group) = next_group(receiver, max_group) {
        metrics
            .queued
            .sub(i64::try_from(group.len()).unwrap_or(i64::MAX));
        metrics.group_size.observe(group.len() as f64);
        let started = Instant::now();
        commit(pool, &mut conn, group, metrics);
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Waits for work, then takes whatever else is queued, up to `max_group`. `None` once every
/// handle is gone.
fn next_group(
    receiver: &Mutex<Receiver<Box<dyn Unit>>>,
    max_group: usize,
) -> Option<Vec<Box<dyn Unit>>> {
    let receiver = receiver.lock().ok()?;
    let first = receiver.recv().ok()?;
    let mut group = vec![first];
    while group.len() < max_group {
        match receiver.try_recv() {
            Ok(unit) => group.push(unit),
            Err(_) => break,
        }
    }
    Some(group)
}

/// Runs `group` in one write transaction and answers each unit after the commit: first
/// unguarded, and when a unit failed, rolled back and run again guarded (a unit alone in its
/// group needs no second run: the transaction is its savepoint). The connection is kept for
/// the next group unless this one failed as a whole.
fn commit(
    pool: &Pool,
    slot: &mut Option<PooledConnection>,
    mut group: Vec<Box<dyn Unit>>,
    metrics: &WriterMetrics,
) {
    let conn = match slot {
        Some(conn) => conn,
        None => match pool.get() {
            Ok(conn) => slot.insert(conn),
            Err(error) => {
                // Dropped unrun, each unit tells its caller that nothing was committed.
                tracing::error!(%error, "the database is unavailable: a write group was refused");
                drop(group);
                return;
            }
        },
    };
    let mut ran = run_group(conn, &mut group, Guard::Unguarded);
    if let Ok(Err(Failed::Unit)) = ran
        && group.len() > 1
    {
        metrics.guarded_reruns.inc();
        ran = run_group(conn, &mut group, Guard::Guarded);
    }
    let failure = match ran {
        // Only a unit alone is left failed after its run: its error is its answer.
        Ok(Ok(())) | Ok(Err(Failed::Unit)) => None,
        Ok(Err(Failed::Commit(error))) => Some(format!("the group's commit failed: {error}")),
        Err(_) => Some("a write panicked; its group was rolled back".to_owned()),
    };
    if let Some(reason) = &failure {
        tracing::error!(%reason, "a write group was not committed");
        // A connection left inside a transaction is discarded by the pool.
        *slot = None;
    }
    for unit in group {
        unit.answer(failure.as_deref());
    }
}

/// Why a group's run did not commit.
enum Failed {
    /// An unguarded unit failed, and the transaction was rolled back.
    Unit,
    /// The transaction itself failed.
    Commit(diesel::result::Error),
}

/// Runs every unit of `group` in one transaction as `guard` says, and commits unless an
/// unguarded unit failed. A panic unwinds out of it with the transaction rolled back.
fn run_group(
    conn: &mut DbConnection,
    group: &mut [Box<dyn Unit>],
    guard: Guard,
) -> std::thread::Result<Result<(), Failed>> {
    catch_unwind(AssertUnwindSafe(|| {
        let ran = write_transaction(conn, |conn| {
            for unit in group.iter_mut() {
                if unit.run(conn, guard) && guard == Guard::Unguarded {
                    return Err(diesel::result::Error::RollbackTransaction);
                }
            }
            Ok(())
        });
        match ran {
            Ok(()) => Ok(()),
            Err(diesel::result::Error::RollbackTransaction) => Err(Failed::Unit),
            Err(error) => Err(Failed::Commit(error)),
        }
    }))
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::mpsc;

    use super::*;

    /// Holds the writer with a piece of work that waits until released, so that what is
    /// written meanwhile queues up and goes into the next group together.
    pub struct Held {
        release: mpsc::Sender<()>,
        done: tokio::task::JoinHandle<Result<(), StoreError>>,
    }

    impl Held {
        pub async fn new(writer: &Writer) -> Held {
            let (started, running) = tokio::sync::oneshot::channel();
            let (release, released) = mpsc::channel::<()>();
            let writer = writer.clone();
            let mut started = Some(started);
            let done = tokio::spawn(async move {
                writer
                    .write(move |_| {
                        if let Some(started) = started.take() {
                            let _ = started.send(());
                        }
                        let _ = released.recv();
                        Ok(())
                    })
                    .await
            });
            running.await.unwrap();
            Held { release, done }
        }

        pub async fn release(self) {
            self.release.send(()).unwrap();
            self.done.await.unwrap().unwrap();
        }
    }

    /// Waits (yielding, not sleeping) until `count` writes are queued behind a held writer;
    /// fails the test when they never are.
    pub async fn queued(writer: &Writer, count: i64) {
        let queued = async {
            while writer.metrics.queued.get() < count {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), queued)
            .await
            .unwrap_or_else(|_| panic!("{count} writes were never queued"));
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use paymux_schema::db::schema::idempotency_keys;

    use super::test_support::{Held, queued};
    use super::*;
    use crate::domain::test_support::TestState;

    /// Stores idempotency key `key` (a table without foreign keys), then fails if asked to.
    fn insert_key(
        key: &'static str,
        fail: bool,
    ) -> impl FnMut(&mut DbConnection) -> Result<(), StoreError> + use<> {
        move |conn| {
            conn.batch_execute(&format!(
                "INSERT INTO idempotency_keys (merchant, idempotency_key, request_method, \
                 request_path, request_hash, resource_id, created_at) VALUES ('m', '{key}', \
                 'POST', '/', 'h', 'chk_1', '2026-01-01 00:00:00')"
            ))?;
            match fail {
                true => Err(StoreError::Task("this write fails".into())),
                false => Ok(()),
            }
        }
    }

    fn stored_keys(test: &TestState) -> Vec<String> {
        idempotency_keys::table
            .select(idempotency_keys::idempotency_key)
            .order(idempotency_keys::idempotency_key)
            .load(&mut test.conn())
            .unwrap()
    }

    fn spawn_write<F>(writer: &Writer, work: F) -> tokio::task::JoinHandle<Result<(), StoreError>>
    where
        F: FnMut(&mut DbConnection) -> Result<(), StoreError> + Send + 'static,
    {
        let writer = writer.clone();
        tokio::spawn(async move { writer.write(work).await })
    }

    #[tokio::test]
    async fn one_failing_write_rolls_back_alone_and_its_group_commits_the_others() {
        let test = TestState::new();
        let writer = &test.state.writer;
        let held = Held::new(writer).await;
        let first = spawn_write(writer, insert_key("a", false));
        queued(writer, 1).await;
        let failing = spawn_write(writer, insert_key("b", true));
        queued(writer, 2).await;
        let last = spawn_write(writer, insert_key("c", false));
        queued(writer, 3).await;
        held.release().await;

        first.await.unwrap().unwrap();
        assert!(matches!(failing.await.unwrap(), Err(StoreError::Task(_))));
        last.await.unwrap().unwrap();
        assert_eq!(stored_keys(&test), ["a", "c"]);
        let groups = &writer.metrics.group_size;
        assert_eq!(
            (groups.get_sample_count(), groups.get_sample_sum()),
            (2, 4.0),
            "the held write alone, then the three together"
        );
        assert_eq!(
            writer.metrics.guarded_reruns.get(),
            1,
            "the three ran again, each in a savepoint"
        );
    }

    #[tokio::test]
    async fn a_group_that_fails_nowhere_commits_in_one_run() {
        let test = TestState::new();
        let writer = &test.state.writer;
        let held = Held::new(writer).await;
        let first = spawn_write(writer, insert_key("a", false));
        queued(writer, 1).await;
        let second = spawn_write(writer, insert_key("b", false));
        queued(writer, 2).await;
        held.release().await;

        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(stored_keys(&test), ["a", "b"]);
        assert_eq!(writer.metrics.guarded_reruns.get(), 0);
    }

    #[tokio::test]
    async fn a_failing_write_alone_in_its_group_stores_nothing_and_the_next_commits() {
        let test = TestState::new();
        let writer = &test.state.writer;
        let failed = writer.write(insert_key("a", true)).await;
        assert!(matches!(failed, Err(StoreError::Task(_))), "{failed:?}");
        assert!(stored_keys(&test).is_empty());
        writer.write(insert_key("b", false)).await.unwrap();
        assert_eq!(stored_keys(&test), ["b"]);
    }

    #[tokio::test]
    async fn a_write_that_panics_takes_its_whole_group_back_and_the_writer_goes_on() {
        let test = TestState::new();
        let writer = &test.state.writer;
        let held = Held::new(writer).await;
        let before = spawn_write(writer, insert_key("a", false));
        queued(writer, 1).await;
        let panicking = spawn_write(writer, |_| panic!("the writer dies mid-group"));
        queued(writer, 2).await;
        held.release().await;

        assert!(matches!(before.await.unwrap(), Err(StoreError::Commit(_))));
        assert!(matches!(
            panicking.await.unwrap(),
            Err(StoreError::Commit(_))
        ));
        assert!(stored_keys(&test).is_empty(), "nothing of the group");
        writer.write(insert_key("b", false)).await.unwrap();
        assert_eq!(stored_keys(&test), ["b"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_makes_what_records_a_provider_s_action_wait() {
        let test = TestState::new();
        let options = WriterOptions {
            writers: 1,
            queue_bound: 1,
            max_group: 8,
        };
        let writer = Writer::start(test.state.db.clone(), options, &Registry::new()).unwrap();
        let held = Held::new(&writer).await;
        let waiting = spawn_write(&writer, insert_key("a", false));
        queued(&writer, 1).await;
        let refused = writer.write(insert_key("b", false)).await;
        assert!(matches!(refused, Err(StoreError::Busy)), "{refused:?}");
        assert_eq!(
            writer.metrics.queued.get(),
            1,
            "the refused write is not counted"
        );

        // What records a provider's action waits for room instead.
        let recording = writer.clone();
        let settled =
            tokio::spawn(async move { recording.write_waiting(insert_key("c", false)).await });
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!settled.is_finished(), "it waits while the queue is full");
        held.release().await;
        waiting.await.unwrap().unwrap();
        settled.await.unwrap().unwrap();
        assert_eq!(stored_keys(&test), ["a", "c"]);
    }
}
